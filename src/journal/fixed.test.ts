import { createHash } from "node:crypto";
import { existsSync, readFileSync, readdirSync, statSync, truncateSync, unlinkSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { crc32 } from "node:zlib";
import { JournalError } from "./errors";
import { FixedJournal } from "./fixed";
import { type Storage } from "./storage";
import { VariableJournal } from "./variable";
import { tempDir } from "../../test/helpers/tmp";
import { FaultyStorage, caught } from "../../test/helpers/journal";

const sha256 = (data: Uint8Array): Uint8Array => createHash("sha256").update(data).digest();
const hashHex = (data: Uint8Array): string => createHash("sha256").update(data).digest("hex");
function u64be(i: number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(i));
  return out;
}
/** The items of the Rust tests: SHA-256 of the position as u64 BE. */
const digest = (i: number): Uint8Array => sha256(u64be(i));
const CHUNK = 36;

let root: string;
beforeEach(() => {
  root = tempDir("fixed-journal-");
});

const blobPath = (index: number, partition = "p") => path.join(root, partition, index.toString(16).padStart(16, "0"));
const open = (itemsPerBlob = 10, storage: string | Storage = root) => FixedJournal.open(storage, "p", { itemSize: 32, itemsPerBlob });

async function filled(count: number, itemsPerBlob = 10): Promise<void> {
  const j = await open(itemsPerBlob);
  for (let i = 0; i < count; i++) j.append(digest(i));
  await j.close();
}

describe("disk format", () => {
  test("matches the Rust conformance vector (60 items per blob, 100 SHA-256 items)", async () => {
    await filled(100, 60);
    const blob0 = readFileSync(blobPath(0));
    const blob1 = readFileSync(blobPath(1));
    expect(blob0.length).toBe(60 * CHUNK);
    expect(blob1.length).toBe(40 * CHUNK);
    expect(hashHex(blob0)).toBe("ed2ea67208cde2ee8c16cca5aa4f369f55b1402258c6b7760e5baf134e38944a");
    expect(hashHex(blob1)).toBe("cc7efd4fc999aff36b9fd4213ba8da5810dc1849f92ae2ddf7c6dc40545f9aff");
  });

  test("a new journal creates empty blob 0; filling a blob creates the next one", async () => {
    const j = await open();
    expect(readdirSync(path.join(root, "p"))).toEqual(["0000000000000000"]);
    for (let i = 0; i < 10; i++) j.append(digest(i));
    await j.sync();
    expect(readdirSync(path.join(root, "p")).sort()).toEqual(["0000000000000000", "0000000000000001"]);
    expect(statSync(blobPath(0)).size).toBe(10 * CHUNK);
    expect(statSync(blobPath(1)).size).toBe(0);
    await j.close();
  });

  test("appendMany writes exactly the bytes of appending one by one, across blob and buffer boundaries", async () => {
    const items = Array.from({ length: 257 }, (_, i) => digest(i));
    for (const [itemsPerBlob, writeBufferBytes] of [
      [60, 64 * 1024],
      [10, 100], // a buffer smaller than three items: each reservation is cut to what fits
      [7, 36],
    ] as const) {
      const one = await FixedJournal.open(root, "one", { itemSize: 32, itemsPerBlob, writeBufferBytes });
      for (const item of items) one.append(item);
      await one.close();
      const many = await FixedJournal.open(root, "many", { itemSize: 32, itemsPerBlob, writeBufferBytes });
      let firstOfGroup = 0;
      for (const [k, size] of [1, 7, 23, 60, 0, 101, 65].entries()) {
        const group = items.slice(firstOfGroup, firstOfGroup + size);
        expect(many.appendMany(Buffer.concat(group))).toBe(firstOfGroup);
        firstOfGroup += size;
        if (k === 3) await many.sync();
      }
      expect(many.size).toBe(items.length);
      await many.close();
      const files = readdirSync(path.join(root, "one")).sort();
      expect(readdirSync(path.join(root, "many")).sort()).toEqual(files);
      for (const f of files) expect(readFileSync(path.join(root, "many", f)).equals(readFileSync(path.join(root, "one", f)))).toBe(true);
      for (const partition of ["one", "many"]) await FixedJournal.open(root, partition, { itemSize: 32, itemsPerBlob }).then((j) => j.destroy());
    }
    const j = await open();
    expect(() => j.appendMany(new Uint8Array(33))).toThrow(expect.objectContaining({ kind: "InvalidArgument" }));
    await j.close();
  });

  test("item bytes are followed by their CRC-32 in big-endian order", async () => {
    await filled(1);
    const bytes = readFileSync(blobPath(0));
    expect(bytes.subarray(0, 32)).toEqual(Buffer.from(digest(0)));
    expect(bytes.readUInt32BE(32)).toBe(crc32(digest(0)));
  });
});

describe("reads", () => {
  test("readRange packs items across blobs, including ones still buffered", async () => {
    const j = await FixedJournal.open(root, "p", { itemSize: 32, itemsPerBlob: 7, writeBufferBytes: 1 << 20 });
    for (let i = 0; i < 53; i++) j.append(digest(i));
    const all = j.readRange(0, 53);
    for (let i = 0; i < 53; i++) expect(all.subarray(i * 32, i * 32 + 32)).toEqual(digest(i));
    const out = new Uint8Array(5 * 32 + 3);
    j.readRangeInto(18, 5, out);
    for (let i = 0; i < 5; i++) expect(out.subarray(i * 32, i * 32 + 32)).toEqual(digest(18 + i));
    expect(j.readRange(53, 0).length).toBe(0);
    expect(caught(() => j.readRange(50, 4)).kind).toBe("ItemOutOfRange");
    expect(caught(() => j.readRangeInto(0, 2, new Uint8Array(63))).kind).toBe("InvalidArgument");
    await j.prune(10);
    expect(caught(() => j.readRange(6, 2)).kind).toBe("ItemPruned");
    await j.close();
  });

  test("read returns a copy the caller may keep", async () => {
    const j = await open();
    j.append(digest(0));
    j.append(digest(1));
    const a = j.read(0);
    const b = j.read(1);
    expect(a).toEqual(digest(0));
    expect(b).toEqual(digest(1));
    expect(a.buffer).not.toBe(b.buffer);
    await j.close();
  });

  test("an item of the wrong size is rejected without poisoning the journal", async () => {
    const j = await open();
    expect(caught(() => j.append(new Uint8Array(31))).kind).toBe("InvalidArgument");
    expect(j.append(digest(0))).toBe(0);
    await j.close();
  });

  test("replays a million items quickly", async () => {
    const items = 1_000_000;
    const j = await FixedJournal.open(root, "big", { itemSize: 32, itemsPerBlob: 4096 });
    const item = new Uint8Array(32);
    const view = new DataView(item.buffer);
    for (let i = 0; i < items; i++) {
      view.setUint32(0, i);
      j.append(item);
    }
    await j.close();
    const started = performance.now();
    const again = await FixedJournal.open(root, "big", { itemSize: 32, itemsPerBlob: 4096 });
    let count = 0;
    again.replay(0, (pos, bytes) => {
      if (new DataView(bytes.buffer, bytes.byteOffset, 32).getUint32(0) !== pos) throw new Error(`bad item ${pos}`);
      count++;
    });
    const ms = performance.now() - started;
    expect(count).toBe(items);
    expect(ms).toBeLessThan(5000); // typically ~300 ms
    await again.destroy();
  });
});

describe("recovery", () => {
  test("a tail cut at every byte of its last item recovers the items before it", async () => {
    await filled(13);
    const original = readFileSync(blobPath(1));
    expect(original.length).toBe(3 * CHUNK);
    for (let cut = 2 * CHUNK; cut <= 3 * CHUNK; cut++) {
      writeFileSync(blobPath(1), original.subarray(0, cut));
      const j = await open();
      expect(j.size).toBe(cut === 3 * CHUNK ? 13 : 12);
      for (let i = 0; i < j.size; i++) expect(j.read(i)).toEqual(digest(i));
      await j.close();
      expect(statSync(blobPath(1)).size).toBe(j.size === 13 ? 3 * CHUNK : 2 * CHUNK);
    }
  });

  test("a corrupt byte anywhere in the last item drops only that item", async () => {
    await filled(13);
    const original = readFileSync(blobPath(1));
    for (let at = 2 * CHUNK; at < 3 * CHUNK; at++) {
      const bytes = Buffer.from(original);
      bytes[at] ^= 0x5a;
      writeFileSync(blobPath(1), bytes);
      const j = await open();
      expect(j.size).toBe(12);
      for (let i = 0; i < 12; i++) expect(j.read(i)).toEqual(digest(i));
      await j.close();
    }
  });

  test("a corrupt byte in an earlier tail item is reported on read, never returned", async () => {
    await filled(14);
    const original = readFileSync(blobPath(1));
    for (let at = CHUNK; at < 2 * CHUNK; at++) {
      const bytes = Buffer.from(original);
      bytes[at] ^= 0x01;
      writeFileSync(blobPath(1), bytes);
      const j = await open();
      expect(j.size).toBe(14);
      const err = caught(() => j.read(11));
      expect(err.kind).toBe("ChecksumMismatch");
      expect(err.file).toBe(blobPath(1));
      expect(err.offset).toBe(CHUNK);
      expect(err.position).toBe(11);
      expect(j.read(12)).toEqual(digest(12));
      await j.close();
    }
  });

  test("a corrupt CRC in a middle blob fails reads, ranges and replays with the file named", async () => {
    await filled(35);
    const bytes = readFileSync(blobPath(1));
    bytes[4 * CHUNK + 33] ^= 0xff; // the CRC of item 14
    writeFileSync(blobPath(1), bytes);
    const j = await open();
    expect(j.size).toBe(35);
    const err = caught(() => j.read(14));
    expect(err.kind).toBe("ChecksumMismatch");
    expect(err.message).toContain(blobPath(1));
    expect(err.message).toContain(`offset ${4 * CHUNK}`);
    expect(caught(() => j.readRange(10, 10)).position).toBe(14);
    const seen: number[] = [];
    expect(caught(() => j.replay(0, (pos) => void seen.push(pos))).kind).toBe("ChecksumMismatch");
    expect(seen).toEqual([...Array(14).keys()]);
    expect(j.read(13)).toEqual(digest(13));
    expect(j.read(15)).toEqual(digest(15));
    await j.close();
  });

  test("a deleted tail blob leaves the earlier full blobs", async () => {
    await filled(27);
    unlinkSync(blobPath(2));
    const j = await open();
    expect(j.size).toBe(20);
    for (let i = 0; i < 20; i++) expect(j.read(i)).toEqual(digest(i));
    expect(j.append(digest(20))).toBe(20);
    await j.close();
    expect(existsSync(blobPath(2))).toBe(true);
  });

  test("a full tail (crash before the next blob was created) gets a new empty tail", async () => {
    await filled(25);
    unlinkSync(blobPath(2));
    // Blob 1 is now the newest and full.
    const j = await open();
    expect(j.size).toBe(20);
    expect(statSync(blobPath(2)).size).toBe(0);
    await j.close();
  });

  test("empty blobs created ahead of a blob cut short by a power cut are removed, and that blob repaired as the tail", async () => {
    // Blob 2 lost its unsynced items while blobs 3 and 4 had already been created for what followed.
    await filled(25);
    truncateSync(blobPath(2), 3 * CHUNK + 5);
    writeFileSync(blobPath(3), "");
    writeFileSync(blobPath(4), "");
    const j = await open();
    expect(j.size).toBe(23);
    for (let i = 0; i < 23; i++) expect(j.read(i)).toEqual(digest(i));
    expect(existsSync(blobPath(3))).toBe(false);
    expect(existsSync(blobPath(4))).toBe(false);
    expect(j.append(digest(23))).toBe(23);
    await j.close();
    expect(statSync(blobPath(2)).size).toBe(4 * CHUNK);
  });

  test("a full-size blob torn at its end before empty blobs is trimmed as a tail; an intact one keeps the first empty blob as its tail", async () => {
    await filled(20);
    writeFileSync(blobPath(3), "");
    // Intact: blob 2 (created by the last roll) is the tail, blob 3 goes.
    let j = await open();
    expect(j.size).toBe(20);
    await j.close();
    expect(statSync(blobPath(2)).size).toBe(0);
    expect(existsSync(blobPath(3))).toBe(false);
    // Torn: the last item of blob 1 was never written (zeros), though the file had reached its full size.
    const bytes = readFileSync(blobPath(1));
    bytes.fill(0, 9 * CHUNK);
    writeFileSync(blobPath(1), bytes);
    j = await open();
    expect(j.size).toBe(19);
    expect(existsSync(blobPath(2))).toBe(false);
    expect(j.append(digest(19))).toBe(19);
    expect(j.append(digest(20))).toBe(20);
    await j.close();
    j = await open();
    for (let i = 0; i < 21; i++) expect(j.read(i)).toEqual(digest(i));
    await j.destroy();
  });

  test("empty blobs followed by one holding data are not blobs created ahead: InvalidBlobSize, and nothing is removed", async () => {
    await filled(7 * 5 + 3, 7);
    truncateSync(blobPath(2), 7 * CHUNK - 1);
    truncateSync(blobPath(3), 0);
    truncateSync(blobPath(4), 0);
    await expect(open(7)).rejects.toMatchObject({ kind: "InvalidBlobSize", file: blobPath(4) });
    for (let index = 0; index <= 5; index++) expect(existsSync(blobPath(index))).toBe(true);
  });

  test("empty blobs after an empty first blob leave an empty journal", async () => {
    await filled(0);
    writeFileSync(blobPath(1), "");
    const j = await open();
    expect(j.size).toBe(0);
    expect(existsSync(blobPath(1))).toBe(false);
    await j.destroy();
  });

  test("zero bytes past the last item (extended but never written) are trimmed", async () => {
    await filled(1);
    const bytes = readFileSync(blobPath(0));
    writeFileSync(blobPath(0), Buffer.concat([bytes, Buffer.alloc(32 * 3 - 1)]));
    const j = await open();
    expect(j.size).toBe(1);
    expect(j.append(digest(1))).toBe(1);
    expect(j.read(0)).toEqual(digest(0));
    expect(j.read(1)).toEqual(digest(1));
    await j.close();
  });

  test("a bad CRC before a torn item trims both (Rust test_trim_blob)", async () => {
    await filled(10, 7);
    const bytes = readFileSync(blobPath(1));
    const torn = Buffer.from(bytes.subarray(0, bytes.length - 1));
    torn.writeUInt32BE(123456789, CHUNK + 32);
    writeFileSync(blobPath(1), torn);
    let j = await open(7);
    expect(j.size).toBe(8);
    await j.close();
    truncateSync(blobPath(1), CHUNK - 1);
    j = await open(7);
    expect(j.size).toBe(7);
    await j.destroy();
  });

  test("a single torn item in blob 0 recovers to an empty journal", async () => {
    await filled(1);
    truncateSync(blobPath(0), CHUNK - 1);
    const j = await open();
    expect(j.size).toBe(0);
    expect(j.oldestRetainedPos).toBeUndefined();
    expect(j.append(digest(0))).toBe(0);
    await j.destroy();
  });

  test("a short non-tail blob is InvalidBlobSize, a missing one MissingBlob", async () => {
    await filled(7 * 100 + 3, 7);
    truncateSync(blobPath(40), 7 * CHUNK - 1);
    await expect(open(7)).rejects.toMatchObject({ kind: "InvalidBlobSize", file: blobPath(40) });
    unlinkSync(blobPath(40));
    const err = await open(7).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: "MissingBlob", file: blobPath(40) });
    expect((err as Error).message).toContain("blob 40");
  });

  test("a tail blob larger than a full blob is InvalidBlobSize", async () => {
    await filled(3);
    writeFileSync(blobPath(0), Buffer.alloc(11 * CHUNK));
    await expect(open()).rejects.toMatchObject({ kind: "InvalidBlobSize" });
  });

  test("a file that is not a blob index is InvalidBlobName", async () => {
    await filled(3);
    writeFileSync(path.join(root, "p", "notes.txt"), "x");
    await expect(open()).rejects.toMatchObject({ kind: "InvalidBlobName" });
  });
});

describe("initAtSize", () => {
  const cfg = { itemSize: 32, itemsPerBlob: 10 };

  test("mid-blob: zero-filled slots before the size, boundary at the blob start (as Rust)", async () => {
    const j = await FixedJournal.initAtSize(root, "p", cfg, 25);
    expect(readdirSync(path.join(root, "p"))).toEqual(["0000000000000002"]);
    expect(readFileSync(blobPath(2))).toEqual(Buffer.alloc(5 * CHUNK));
    expect(j.size).toBe(25);
    expect(j.pruningBoundary).toBe(20);
    expect(j.oldestRetainedPos).toBe(20);
    expect(caught(() => j.read(19)).kind).toBe("ItemPruned");
    expect(caught(() => j.read(20)).kind).toBe("ChecksumMismatch");
    expect(j.append(digest(25))).toBe(25);
    expect(j.read(25)).toEqual(digest(25));
    await j.sync();
    await j.close();
    const again = await open();
    expect(again.size).toBe(26);
    expect(again.read(25)).toEqual(digest(25));
    expect(again.oldestRetainedPos).toBe(20);
    await again.destroy();
  });

  test("mid-blob without a synced append: reopen trims the zero slots (conservative)", async () => {
    const j = await FixedJournal.initAtSize(root, "p", cfg, 25);
    await j.close();
    const again = await open();
    expect(again.size).toBe(20);
    expect(again.oldestRetainedPos).toBeUndefined();
    await again.destroy();
  });

  test("at zero it is an ordinary new journal", async () => {
    const j = await FixedJournal.initAtSize(root, "p", cfg, 0);
    expect(j.size).toBe(0);
    expect(j.append(digest(0))).toBe(0);
    await j.close();
    expect(readdirSync(path.join(root, "p"))).toEqual(["0000000000000000"]);
  });

  test("rejects a size that is not a safe integer", async () => {
    await expect(FixedJournal.initAtSize(root, "p", cfg, 2 ** 53)).rejects.toMatchObject({ kind: "InvalidArgument" });
  });
});

describe("configuration", () => {
  test("rejects bad sizes and partition names", async () => {
    await expect(FixedJournal.open(root, "p", { itemSize: 0, itemsPerBlob: 1 })).rejects.toMatchObject({ kind: "InvalidConfig" });
    await expect(FixedJournal.open(root, "p", { itemSize: 1, itemsPerBlob: 1.5 })).rejects.toMatchObject({ kind: "InvalidConfig" });
    await expect(FixedJournal.open(root, "../x", { itemSize: 1, itemsPerBlob: 1 })).rejects.toMatchObject({ kind: "InvalidConfig" });
  });

  test("a blob's write buffer is never larger than the blob (small blobs wait for their fsync in little memory)", async () => {
    const tailBuffer = (j: FixedJournal): number => (j as unknown as { tail: { buf: Uint8Array } }).tail.buf.length;
    const small = await FixedJournal.open(root, "small", { itemSize: 4, itemsPerBlob: 512 }); // default 64 KiB buffer
    small.append(new Uint8Array(4));
    expect(tailBuffer(small)).toBe(512 * 8);
    const large = await FixedJournal.open(root, "large", { itemSize: 32, itemsPerBlob: 4096, writeBufferBytes: 1024 });
    large.append(new Uint8Array(32));
    expect(tailBuffer(large)).toBe(1024);
    await Promise.all([small.close(), large.close()]);
  });
});

describe("poisoning", () => {
  test("after a failed sync every call throws Poisoned with the failure as cause", async () => {
    const storage = new FaultyStorage(root);
    const j = await open(10, storage);
    j.append(digest(0));
    storage.failSync = true;
    await expect(j.sync()).rejects.toMatchObject({ kind: "Io" });
    storage.failSync = false;
    const err = caught(() => j.append(digest(1)));
    expect(err.kind).toBe("Poisoned");
    expect((err.cause as JournalError).kind).toBe("Io");
    expect(caught(() => j.read(0)).kind).toBe("Poisoned");
    await expect(j.sync()).rejects.toMatchObject({ kind: "Poisoned" });
    await expect(j.close()).rejects.toMatchObject({ kind: "Poisoned" });
  });

  test("a failed rewind poisons the journal", async () => {
    const storage = new FaultyStorage(root);
    const j = await open(10, storage);
    for (let i = 0; i < 25; i++) j.append(digest(i));
    await j.sync();
    storage.failRemove = true;
    await expect(j.rewind(5)).rejects.toMatchObject({ kind: "Io" });
    expect(caught(() => j.read(0)).kind).toBe("Poisoned");
    storage.failRemove = false;
    await j.destroy();
  });

  test("a variable journal is poisoned when one of its journals fails", async () => {
    const storage = new FaultyStorage(root);
    const j = await VariableJournal.open(storage, "log", { itemsPerSection: 4 });
    j.append(Uint8Array.of(1));
    storage.failSync = true;
    await expect(j.sync()).rejects.toMatchObject({ kind: "Io" });
    storage.failSync = false;
    expect(caught(() => j.append(Uint8Array.of(2))).kind).toBe("Poisoned");
    await j.destroy();
  });

  test("a failure while sealing a full blob in the background poisons the next call", async () => {
    const storage = new FaultyStorage(root);
    const j = await open(10, storage);
    storage.failSync = true;
    for (let i = 0; i < 10; i++) j.append(digest(i));
    await expect(j.sync()).rejects.toMatchObject({ kind: "Poisoned" });
    expect(caught(() => j.append(digest(10))).kind).toBe("Poisoned");
    await j.destroy();
    expect(existsSync(path.join(root, "p"))).toBe(false);
  });
});

describe("backlog", () => {
  test("waitForBacklog waits while more filled blobs than allowed wait for their fsync", async () => {
    const storage = new FaultyStorage(root);
    const j = await open(10, storage);
    let release!: () => void;
    storage.holdSync = new Promise<void>((resolve) => (release = resolve));
    for (let i = 0; i < 35; i++) j.append(digest(i)); // three filled blobs, none synced yet
    await j.waitForBacklog(3); // within the bound: resolves at once
    let waited = false;
    const waiting = j.waitForBacklog(1).then(() => (waited = true));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(waited).toBe(false);
    storage.holdSync = undefined;
    release();
    await waiting;
    await j.waitForBacklog(0); // nothing left behind
    expect(j.size).toBe(35);
    for (let i = 0; i < 35; i++) expect(j.read(i)).toEqual(digest(i));
    await j.close();
  });

  test("waitForBacklog reports a failed background fsync", async () => {
    const storage = new FaultyStorage(root);
    const j = await open(10, storage);
    storage.failSync = true;
    for (let i = 0; i < 25; i++) j.append(digest(i));
    await expect(j.waitForBacklog(0)).rejects.toMatchObject({ kind: "Poisoned" });
    await j.destroy();
  });
});
