import { createHash } from "node:crypto";
import { existsSync, readFileSync, readdirSync, statSync, truncateSync, unlinkSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { crc32 } from "node:zlib";
import { SegmentedJournal } from "./segmented";
import { DiskStorage } from "./storage";
import { VariableJournal } from "./variable";
import { tempDir } from "../../test/helpers/tmp";
import { caught } from "../../test/helpers/journal";

const hashHex = (data: Uint8Array): string => createHash("sha256").update(data).digest("hex");
/** Item i: i bytes long modulo 50 (so entries take 1–4 alignment slots), content derived from i. */
const item = (i: number): Uint8Array => Uint8Array.from({ length: (i * 7) % 50 }, (_, k) => (i + k * 13) & 0xff);

let root: string;
beforeEach(() => {
  root = tempDir("variable-journal-");
});

const file = (partition: string, index: number) => path.join(root, partition, index.toString(16).padStart(16, "0"));
const open = (itemsPerSection = 10) => VariableJournal.open(root, "log", { itemsPerSection });

async function filled(count: number, itemsPerSection = 10): Promise<void> {
  const j = await open(itemsPerSection);
  for (let i = 0; i < count; i++) j.append(item(i));
  await j.close();
}

/** Appends item `n` to `j` (which holds n items), closes it, and checks that a reopen has it. */
async function appendsAndKeeps(j: VariableJournal, n: number): Promise<void> {
  expect(j.append(item(n))).toBe(n);
  await j.close();
  const again = await open();
  expect(again.size).toBe(n + 1);
  expect(again.read(n)).toEqual(item(n));
  await again.destroy();
}

/** Byte offsets of the entries in a data section, found by walking the format independently. */
function entryStarts(bytes: Uint8Array): number[] {
  const starts: number[] = [];
  let at = 0;
  while (at < bytes.length) {
    starts.push(at);
    let len = 0;
    let shift = 0;
    let n = 0;
    for (;;) {
      const b = bytes[at + n++];
      len += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if (!(b & 0x80)) break;
    }
    at = Math.ceil((at + n + len + 4) / 16) * 16;
  }
  return starts;
}

describe("segmented journal", () => {
  test("matches the Rust conformance vector (section 1, i32 items 0..99)", async () => {
    const seg = await SegmentedJournal.open(new DiskStorage(root), "seg", 1024);
    for (let i = 0; i < 100; i++) {
      const data = new Uint8Array(4);
      new DataView(data.buffer).setInt32(0, i);
      expect(seg.append(1, data)).toBe(i);
    }
    await seg.close();
    const bytes = readFileSync(file("seg", 1));
    expect(bytes.length).toBe(1593);
    expect(hashHex(bytes)).toBe("f55bf27a59118603466fcf6a507ab012eea4cb2d6bdd06ce8f515513729af847");
  });

  test("entries are varint ‖ data ‖ crc at 16-byte offsets with zero padding between", async () => {
    const seg = await SegmentedJournal.open(new DiskStorage(root), "seg", 1024);
    expect(seg.append(0, Uint8Array.of(1, 2, 3))).toBe(0);
    expect(seg.append(0, new Uint8Array(200).fill(7))).toBe(1);
    // 16 + 2 + 200 + 4 = 222 bytes, so the next entry starts at 224 = 14 × 16.
    expect(seg.append(0, new Uint8Array(0))).toBe(14);
    await seg.close();
    const bytes = readFileSync(file("seg", 0));
    expect([...bytes.subarray(0, 4)]).toEqual([3, 1, 2, 3]);
    expect(bytes.readUInt32BE(4)).toBe(crc32(Uint8Array.of(3, 1, 2, 3)));
    expect(bytes.subarray(8, 16)).toEqual(Buffer.alloc(8));
    expect([...bytes.subarray(16, 18)]).toEqual([0xc8, 0x01]);
    expect(bytes.length).toBe(14 * 16 + 5);
    const again = await SegmentedJournal.open(new DiskStorage(root), "seg", 1024);
    expect(again.get(0, 0)).toEqual(Uint8Array.of(1, 2, 3));
    expect(again.get(0, 1)).toEqual(new Uint8Array(200).fill(7));
    expect(again.get(0, 14)).toEqual(new Uint8Array(0));
    expect(caught(() => again.get(0, 2)).kind).toBe("ChecksumMismatch");
    await again.close();
  });

  test("entries larger than the write buffer and the read window round-trip", async () => {
    const big = new Uint8Array(1_500_000);
    for (let k = 0; k < big.length; k++) big[k] = k & 0xff;
    const same = (a: Uint8Array) => expect(Buffer.compare(a, big)).toBe(0);
    const j = await VariableJournal.open(root, "log", { itemsPerSection: 4, writeBufferBytes: 1024 });
    j.append(item(1));
    j.append(big);
    j.append(item(2));
    same(j.read(1));
    await j.close();
    const again = await VariableJournal.open(root, "log", { itemsPerSection: 4, writeBufferBytes: 1024 });
    expect(again.size).toBe(3);
    const [a, b, c] = again.readRange(0, 3);
    expect([a, c]).toEqual([item(1), item(2)]);
    same(b);
    await again.destroy();
  });

  test("a sealed section lets its write buffer go, whether its sync runs before or after the next section starts", async () => {
    const j = await SegmentedJournal.open(new DiskStorage(root), "seg", 1024);
    const bufferSizes = () => [...(j as unknown as { sections: Map<number, { buf: Uint8Array }> }).sections.values()].map((b) => b.buf.length);
    j.append(0, item(10));
    await j.sync(0); // synced while still the newest
    j.append(1, item(11));
    const synced = j.sync(1);
    j.append(2, item(12)); // the next section starts before the sync runs
    await synced;
    expect(bufferSizes()).toEqual([0, 0, 1024]);
    expect([j.get(0, 0), j.get(1, 0), j.get(2, 0)]).toEqual([item(10), item(11), item(12)]);
    await j.close();
  });
});

describe("variable journal", () => {
  test("stores data and offsets in <partition>_data and <partition>_offsets", async () => {
    await filled(13);
    expect(readdirSync(root).sort()).toEqual(["log_data", "log_offsets"]);
    expect(readdirSync(path.join(root, "log_data")).sort()).toEqual(["0000000000000000", "0000000000000001"]);
    const offsets = readFileSync(file("log_offsets", 1));
    expect(offsets.length).toBe(3 * 8);
    const starts = entryStarts(readFileSync(file("log_data", 1)));
    expect(starts.length).toBe(3);
    for (let k = 0; k < 3; k++) {
      expect(offsets.readUInt32BE(k * 8) * 16).toBe(starts[k]);
      expect(offsets.readUInt32BE(k * 8 + 4)).toBe(crc32(offsets.subarray(k * 8, k * 8 + 4)));
    }
  });

  test("readRange returns copies of consecutive items", async () => {
    const j = await open();
    for (let i = 0; i < 37; i++) j.append(item(i));
    expect(j.readRange(8, 15)).toEqual([...Array(15).keys()].map((k) => item(8 + k)));
    expect(j.readRange(37, 0)).toEqual([]);
    expect(caught(() => j.readRange(30, 8)).kind).toBe("ItemOutOfRange");
    await j.close();
  });

  test("readRange copies items of any size into one buffer: large items grow it, and later writes do not reach the copies", async () => {
    const big = (i: number): Uint8Array => Uint8Array.from({ length: 100 + ((i * 389) % 3000) }, (_, k) => (i * 31 + k) & 0xff);
    const j = await open();
    for (let i = 0; i < 45; i++) j.append(i % 3 === 0 ? big(i) : item(i));
    const expected = (i: number): Uint8Array => (i % 3 === 0 ? big(i) : item(i));
    const range = j.readRange(3, 40);
    expect(range).toEqual([...Array(40).keys()].map((k) => expected(3 + k)));
    await j.rewind(10);
    for (let i = 0; i < 20; i++) j.append(item(1000 + i));
    expect(range).toEqual([...Array(40).keys()].map((k) => expected(3 + k)));
    await j.close();
  });

  test("initAtSize refuses a position inside a section (its size could not be recovered)", async () => {
    await expect(VariableJournal.initAtSize(root, "log", { itemsPerSection: 10 }, 15)).rejects.toMatchObject({
      kind: "InvalidConfig",
    });
  });

  test("commit makes data durable even when the offsets never reached the file", async () => {
    const j = await open();
    for (let i = 0; i < 7; i++) j.append(item(i));
    await j.commit();
    // A second open sees what a crash would leave: data synced, offsets still in j's write buffer.
    expect(statSync(file("log_offsets", 0)).size).toBe(0);
    const again = await open();
    expect(again.size).toBe(7);
    for (let i = 0; i < 7; i++) expect(again.read(i)).toEqual(item(i));
    expect(statSync(file("log_offsets", 0)).size).toBe(7 * 8);
    await again.close();
    await j.close();
  });
});

describe("variable journal recovery", () => {
  test("a data section cut at every byte of its last entry recovers the items before it", async () => {
    await filled(14);
    const original = readFileSync(file("log_data", 1));
    const starts = entryStarts(original);
    const last = starts[starts.length - 1];
    for (let cut = last; cut <= original.length; cut++) {
      writeFileSync(file("log_data", 1), original.subarray(0, cut));
      const j = await open();
      const expected = cut === original.length ? 14 : 13;
      expect(j.size).toBe(expected);
      for (let i = 0; i < expected; i++) expect(j.read(i)).toEqual(item(i));
      j.append(item(99));
      expect(j.read(expected)).toEqual(item(99));
      await j.rewind(expected);
      await j.close();
      writeFileSync(file("log_data", 1), original);
    }
  });

  test("a corrupt byte anywhere in the last entry drops only that entry", async () => {
    await filled(14);
    const original = readFileSync(file("log_data", 1));
    const starts = entryStarts(original);
    const last = starts[starts.length - 1];
    for (let at = last; at < original.length; at++) {
      for (const flip of [0x01, 0x80, 0xff]) {
        const bytes = Buffer.from(original);
        bytes[at] ^= flip;
        writeFileSync(file("log_data", 1), bytes);
        const j = await open();
        expect(j.size).toBe(13);
        for (let i = 0; i < 13; i++) expect(j.read(i)).toEqual(item(i));
        await j.close();
        writeFileSync(file("log_data", 1), original);
        // Reopening repaired the offsets too; put them back for the next round.
        const k = await open();
        expect(k.size).toBe(14);
        await k.close();
      }
    }
  });

  test("a corrupt entry in a full section is reported on read and replay, naming the file", async () => {
    await filled(25);
    const bytes = readFileSync(file("log_data", 0));
    const starts = entryStarts(bytes);
    bytes[starts[4] + 1] ^= 0x01;
    writeFileSync(file("log_data", 0), bytes);
    const j = await open();
    expect(j.size).toBe(25);
    const err = caught(() => j.read(4));
    expect(err.kind).toBe("ChecksumMismatch");
    expect(err.file).toBe(file("log_data", 0));
    expect(err.offset).toBe(starts[4]);
    expect(j.read(5)).toEqual(item(5));
    const seen: number[] = [];
    expect(caught(() => j.replay(0, (pos) => void seen.push(pos))).kind).toBe("ChecksumMismatch");
    expect(seen).toEqual([0, 1, 2, 3]);
    await j.close();
  });

  test("lost offsets are rebuilt from the data", async () => {
    await filled(27);
    unlinkSync(file("log_offsets", 2));
    let j = await open();
    expect(j.size).toBe(27);
    for (let i = 0; i < 27; i++) expect(j.read(i)).toEqual(item(i));
    await j.close();
    truncateSync(file("log_offsets", 2), 8 * 3 + 5);
    j = await open();
    expect(j.size).toBe(27);
    j.replay(0, (pos, bytes) => void expect(bytes).toEqual(item(pos)));
    await j.destroy();
  });

  test("offsets ahead of the data are rewound to it", async () => {
    await filled(27);
    const bytes = readFileSync(file("log_data", 2));
    const starts = entryStarts(bytes);
    truncateSync(file("log_data", 2), starts[4]);
    const j = await open();
    expect(j.size).toBe(24);
    expect(statSync(file("log_offsets", 2)).size).toBe(4 * 8);
    expect(j.append(item(50))).toBe(24);
    expect(j.read(24)).toEqual(item(50));
    await j.destroy();
  });

  test("data pruned but offsets not (crash mid-prune): offsets are pruned to match", async () => {
    await filled(35);
    unlinkSync(file("log_data", 0));
    unlinkSync(file("log_data", 1));
    const j = await open();
    expect(j.oldestRetainedPos).toBe(20);
    expect(j.size).toBe(35);
    expect(existsSync(file("log_offsets", 0))).toBe(false);
    expect(caught(() => j.read(19)).kind).toBe("ItemPruned");
    expect(j.read(20)).toEqual(item(20));
    await j.destroy();
  });

  test("every data section pruned but offsets not: the journal is empty at its size", async () => {
    await filled(30);
    for (const s of [0, 1, 2]) unlinkSync(file("log_data", s));
    const j = await open();
    expect(j.size).toBe(30);
    expect(j.oldestRetainedPos).toBeUndefined();
    expect(j.append(item(30))).toBe(30);
    await j.destroy();
  });

  test("offsets pruned further than the data are Corruption", async () => {
    await filled(35);
    unlinkSync(file("log_offsets", 0));
    await expect(open()).rejects.toMatchObject({ kind: "Corruption" });
  });

  test("a missing middle data section is MissingBlob", async () => {
    await filled(35);
    unlinkSync(file("log_data", 1));
    await expect(open()).rejects.toMatchObject({ kind: "MissingBlob" });
  });

  test("empty sections created ahead of a section cut short by a power cut are removed; that section is repaired as the tail", async () => {
    await filled(25);
    // Section 1 lost its last entries, which were never synced, while sections 2 and 3 had been created.
    const starts = entryStarts(readFileSync(file("log_data", 1)));
    truncateSync(file("log_data", 1), starts[7]! + 1);
    writeFileSync(file("log_data", 3), Buffer.alloc(0));
    truncateSync(file("log_data", 2), 0);
    const j = await open();
    expect(j.size).toBe(17);
    expect(existsSync(file("log_data", 2))).toBe(false);
    expect(existsSync(file("log_data", 3))).toBe(false);
    for (let i = 0; i < 17; i++) expect(j.read(i)).toEqual(item(i));
    await appendsAndKeeps(j, 17);
  });

  test("sealing a section creates the next one's file ahead: a close leaves it empty, a rewind removes it", async () => {
    await filled(20);
    expect(statSync(file("log_data", 2)).size).toBe(0); // created beside the seal of section 1
    let j = await open();
    expect(j.size).toBe(20);
    expect(existsSync(file("log_data", 2))).toBe(false);
    for (let i = 20; i < 30; i++) j.append(item(i));
    await j.sync();
    expect(existsSync(file("log_data", 3))).toBe(true);
    await j.rewind(25);
    await j.close();
    expect(existsSync(file("log_data", 3))).toBe(false);
    j = await open();
    expect(j.size).toBe(25);
    for (let i = 0; i < 25; i++) expect(j.read(i)).toEqual(item(i));
    await j.destroy();
  });

  test("an empty new section (crash right after creating it) is harmless", async () => {
    await filled(20);
    writeFileSync(file("log_data", 2), Buffer.alloc(0));
    const j = await open();
    expect(j.size).toBe(20);
    await appendsAndKeeps(j, 20);
  });
});
