import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { crc32 } from "node:zlib";
import { Metadata } from "./metadata";
import { tempDir } from "../../test/helpers/tmp";

let root: string;
beforeEach(() => {
  root = tempDir("metadata-");
});

const LEFT = () => path.join(root, "meta", "6c656674");
const RIGHT = () => path.join(root, "meta", "7269676874");
const open = () => Metadata.open(root, "meta");
/** An MMR-style key: prefix byte ‖ u64 BE. */
function key(prefix: number, value: number): Uint8Array {
  const out = new Uint8Array(9);
  out[0] = prefix;
  new DataView(out.buffer).setBigUint64(1, BigInt(value));
  return out;
}
const version = (bytes: Buffer) => Number(bytes.readBigUInt64BE(0));

test("put, get, remove and prefix listing work in memory", async () => {
  const m = await open();
  expect(m.get(key(0, 1))).toBeUndefined();
  m.put(key(0, 7), Uint8Array.of(7));
  m.put(key(1, 0), Uint8Array.of(1, 2));
  m.put(key(0, 300), Uint8Array.of(3));
  expect(m.get(key(0, 7))).toEqual(Uint8Array.of(7));
  expect(m.keys()).toEqual([key(0, 7), key(0, 300), key(1, 0)]);
  expect(m.keys(Uint8Array.of(1))).toEqual([key(1, 0)]);
  expect(m.remove(key(0, 7))).toBe(true);
  expect(m.remove(key(0, 7))).toBe(false);
  expect(() => m.put(new Uint8Array(8), Uint8Array.of(1))).toThrow(expect.objectContaining({ kind: "InvalidArgument" }));
  await m.close();
});

test("the blob layout is version ‖ sorted (key ‖ varint len ‖ value) ‖ crc32 of all before", async () => {
  const m = await open();
  m.put(key(1, 0), new Uint8Array(200).fill(9));
  m.put(key(0, 5), Uint8Array.of(0xaa));
  await m.sync();
  await m.close();
  // First sync → right (version 1); close syncs again → left (version 2).
  const left = readFileSync(LEFT());
  const right = readFileSync(RIGHT());
  expect(version(right)).toBe(1);
  expect(version(left)).toBe(2);
  expect(right.subarray(8, -4)).toEqual(left.subarray(8, -4));
  const expected = Buffer.concat([
    Buffer.from([0, 0, 0, 0, 0, 0, 0, 2]),
    Buffer.from(key(0, 5)),
    Buffer.from([1, 0xaa]),
    Buffer.from(key(1, 0)),
    Buffer.from([0xc8, 0x01]),
    Buffer.alloc(200, 9),
  ]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(expected));
  expect(left).toEqual(Buffer.concat([expected, crc]));
});

test("even an empty store writes a 12-byte blob on close", async () => {
  const m = await open();
  await m.close();
  expect(statSync(RIGHT()).size).toBe(12);
  expect(statSync(LEFT()).size).toBe(0);
});

test("versions alternate between the blobs and the newest wins on open", async () => {
  const m = await open();
  for (let v = 1; v <= 5; v++) {
    m.put(key(0, 0), Uint8Array.of(v));
    await m.sync();
    const newer = v % 2 === 1 ? RIGHT() : LEFT();
    expect(version(readFileSync(newer))).toBe(v);
  }
  await m.close(); // version 6 → left
  const again = await open();
  expect(again.get(key(0, 0))).toEqual(Uint8Array.of(5));
  again.put(key(0, 0), Uint8Array.of(7));
  await again.sync(); // version 7 → right
  expect(version(readFileSync(RIGHT()))).toBe(7);
  await again.close();
});

test("a torn or corrupt newer blob falls back to the older state", async () => {
  const m = await open();
  m.put(key(0, 1), Uint8Array.of(1));
  await m.sync(); // state A, version 1 → right
  const older = readFileSync(RIGHT());
  m.put(key(0, 1), Uint8Array.of(2));
  m.put(key(0, 2), Uint8Array.of(2));
  await m.sync(); // state B, version 2 → left
  const newer = readFileSync(LEFT());
  await m.destroy();
  mkdirSync(path.join(root, "meta"));

  const reopenWith = async (left: Uint8Array) => {
    writeFileSync(LEFT(), left);
    writeFileSync(RIGHT(), older);
    const again = await open();
    const state = { k1: again.get(key(0, 1)), keys: again.keys().length, leftBytes: statSync(LEFT()).size };
    await again.close();
    return state;
  };
  expect(await reopenWith(newer)).toEqual({ k1: Uint8Array.of(2), keys: 2, leftBytes: newer.length });
  for (let cut = 0; cut < newer.length; cut++) {
    expect(await reopenWith(newer.subarray(0, cut))).toEqual({ k1: Uint8Array.of(1), keys: 1, leftBytes: 0 });
  }
  for (let at = 0; at < newer.length; at++) {
    const bytes = Buffer.from(newer);
    bytes[at] ^= 0x10;
    expect(await reopenWith(bytes)).toEqual({ k1: Uint8Array.of(1), keys: 1, leftBytes: 0 });
  }
});

test("removing keys shrinks the blob on the next sync", async () => {
  const m = await open();
  for (let i = 0; i < 20; i++) m.put(key(0, i), new Uint8Array(32).fill(i));
  await m.sync(); // right
  await m.sync(); // left
  m.clear();
  m.put(key(1, 0), Uint8Array.of(1));
  await m.sync(); // right, shorter
  expect(statSync(RIGHT()).size).toBe(8 + 9 + 1 + 1 + 4);
  await m.close();
  const again = await open();
  expect(again.keys()).toEqual([key(1, 0)]);
  await again.destroy();
});

test("a custom key size is honoured", async () => {
  const m = await Metadata.open(root, "meta", { keySize: 2 });
  m.put(Uint8Array.of(1, 2), Uint8Array.of(3));
  await m.close();
  const again = await Metadata.open(root, "meta", { keySize: 2 });
  expect(again.get(Uint8Array.of(1, 2))).toEqual(Uint8Array.of(3));
  await again.close();
});
