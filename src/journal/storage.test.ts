import fc from "fast-check";
import { existsSync, mkdirSync, readFileSync, readdirSync, unlinkSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { DiskStorage, blobFileName, destroyPartition, indexName, nameIndex, openListed } from "./storage";
import { tempDir } from "../../test/helpers/tmp";

// The same core module object `storage.ts` calls into, so spies on it see the blob's syscalls.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const nodeFs = require("node:fs") as typeof import("node:fs");
const openFds = (): number => readdirSync("/proc/self/fd").length;

let root: string;
beforeEach(() => {
  root = tempDir("storage-");
});

test("blob names are the lowercase hex of their bytes", () => {
  expect(blobFileName(indexName(1))).toBe("0000000000000001");
  expect(blobFileName(indexName(2 ** 40 + 0xab))).toBe("00000100000000ab");
  expect(blobFileName(new TextEncoder().encode("left"))).toBe("6c656674");
  expect(blobFileName(new TextEncoder().encode("right"))).toBe("7269676874");
});

test("indexName and nameIndex round-trip every safe integer", () => {
  fc.assert(fc.property(fc.maxSafeNat(), (n) => nameIndex(indexName(n)) === n));
  expect(nameIndex(new Uint8Array(8).fill(0xff))).toBeUndefined();
  expect(nameIndex(new Uint8Array(7))).toBeUndefined();
});

test("open creates partition and blob; scan lists names; remove tolerates missing blobs", async () => {
  const storage = new DiskStorage(root);
  expect(await storage.scan("part")).toEqual([]);
  const { blob, size } = await storage.open("part", indexName(3));
  expect(size).toBe(0);
  blob.writeAt(Uint8Array.of(1, 2, 3, 4), 2);
  const out = new Uint8Array(6);
  blob.readAt(out, 0);
  expect(out).toEqual(Uint8Array.of(0, 0, 1, 2, 3, 4));
  expect(() => blob.readAt(new Uint8Array(2), 5)).toThrow(expect.objectContaining({ kind: "Io", file: blob.path }));
  blob.resize(3);
  await blob.sync();
  blob.close();
  const reopened = await storage.open("part", indexName(3));
  expect(reopened.size).toBe(3);
  reopened.blob.close();
  expect((await storage.scan("part")).map((n) => nameIndex(n))).toEqual([3]);
  await storage.remove("part", indexName(3));
  await storage.remove("part", indexName(3));
  expect(readdirSync(path.join(root, "part"))).toEqual([]);
});

test("open with sizeOnly reads the size without holding the file, and never creates one", async () => {
  const storage = new DiskStorage(root);
  const made = await storage.open("part", indexName(1));
  made.blob.writeAt(Uint8Array.of(7, 8, 9), 0);
  await made.blob.sync();
  made.blob.close();
  const fds = openFds();
  const { blob, size } = await storage.open("part", indexName(1), { sizeOnly: true });
  expect(size).toBe(3);
  expect(openFds()).toBe(fds);
  // It opens the file on first use (for reading, then for writing) like a released blob.
  const out = new Uint8Array(3);
  blob.readAt(out, 0);
  expect(out).toEqual(Uint8Array.of(7, 8, 9));
  blob.writeAt(Uint8Array.of(1), 3);
  await blob.sync();
  blob.close();
  expect(readFileSync(storage.locate("part", indexName(1)))).toEqual(Buffer.from([7, 8, 9, 1]));
  await expect(storage.open("part", indexName(2), { sizeOnly: true })).rejects.toMatchObject({ kind: "Io", message: expect.stringContaining("ENOENT") });
  expect(existsSync(storage.locate("part", indexName(2)))).toBe(false);
});

test("openListed opens only the blob appended to, returns every size in order, and closes what it opened on failure", async () => {
  const storage = new DiskStorage(root);
  const names = Array.from({ length: 70 }, (_, i) => indexName(i)); // more than one window of concurrent opens
  mkdirSync(path.join(root, "part"));
  for (const [i, name] of names.entries()) writeFileSync(storage.locate("part", name), Buffer.alloc(i));
  const fds = openFds();
  const opened = await openListed(storage, "part", names, 69);
  expect(opened.map((b) => b.size)).toEqual(names.map((_, i) => i));
  expect(openFds()).toBe(fds + 1);
  // Unlinked files: the blob holding its descriptor still reads, the others had none to keep.
  for (const name of names) unlinkSync(storage.locate("part", name));
  opened[69]!.blob.readAt(new Uint8Array(69), 0);
  expect(() => opened[68]!.blob.readAt(new Uint8Array(1), 0)).toThrow(expect.objectContaining({ kind: "Io" }));
  for (const { blob } of opened) blob.close();
  expect(openFds()).toBe(fds);

  // A blob that vanished between scan and open: an Io error, and nothing is left open.
  const again = names.slice(0, 40);
  for (const name of again) writeFileSync(storage.locate("part", name), Buffer.alloc(1));
  unlinkSync(storage.locate("part", again[35]!));
  await expect(openListed(storage, "part", again, 39)).rejects.toMatchObject({ kind: "Io", message: expect.stringContaining("ENOENT") });
  expect(openFds()).toBe(fds);
});

test("scan rejects files that are not hex names", async () => {
  const storage = new DiskStorage(root);
  (await storage.open("part", indexName(0))).blob.close();
  writeFileSync(path.join(root, "part", "README"), "");
  await expect(storage.scan("part")).rejects.toMatchObject({ kind: "InvalidBlobName" });
});

test("partition names are restricted to [A-Za-z0-9_-]", async () => {
  const storage = new DiskStorage(root);
  for (const bad of ["", "..", "a/b", "a.b", "é"]) {
    await expect(storage.open(bad, indexName(0))).rejects.toMatchObject({ kind: "InvalidConfig" });
  }
});

test("destroyPartition removes the directory and tolerates a missing one", async () => {
  const storage = new DiskStorage(root);
  (await storage.open("part", indexName(0))).blob.close();
  await destroyPartition(root, "part");
  expect(existsSync(path.join(root, "part"))).toBe(false);
  await destroyPartition(root, "part");
});

describe("released disk blobs", () => {
  test("release waits for an fsync of every write, then frees the descriptor", async () => {
    const storage = new DiskStorage(root);
    const baseline = openFds();
    const { blob } = await storage.open("part", indexName(0));
    expect(openFds()).toBe(baseline + 1);
    blob.writeAt(Uint8Array.of(1, 2, 3), 0);
    expect(blob.release!()).toBe(false);
    const syncing = blob.sync();
    expect(blob.release!()).toBe(false); // an fsync is in flight on the descriptor
    await syncing;
    expect(blob.release!()).toBe(true);
    expect(openFds()).toBe(baseline);
    expect(blob.release!()).toBe(true);
    await blob.sync(); // nothing left to sync: no descriptor needed
    expect(openFds()).toBe(baseline);
    blob.close();
  });

  test("a released blob reopens read-only to read and writable to write", async () => {
    const storage = new DiskStorage(root);
    const baseline = openFds();
    const { blob } = await storage.open("part", indexName(0));
    blob.writeAt(Uint8Array.of(1, 2, 3, 4), 0);
    await blob.sync();
    expect(blob.release!()).toBe(true);
    const opens = jest.spyOn(nodeFs, "openSync");
    try {
      const out = new Uint8Array(4);
      blob.readAt(out, 0);
      blob.readAt(out, 0);
      expect(out).toEqual(Uint8Array.of(1, 2, 3, 4));
      expect(opens.mock.calls.map(([, flags]) => flags)).toEqual([nodeFs.constants.O_RDONLY]);
      blob.writeAt(Uint8Array.of(9), 4);
      blob.resize(6);
      expect(opens.mock.calls.map(([, flags]) => flags)).toEqual([nodeFs.constants.O_RDONLY, nodeFs.constants.O_RDWR]);
    } finally {
      opens.mockRestore();
    }
    expect(openFds()).toBe(baseline + 1); // the read-only descriptor was closed on the upgrade
    await blob.sync();
    blob.close();
    expect(openFds()).toBe(baseline);
    expect(readFileSync(blob.path)).toEqual(Buffer.from([1, 2, 3, 4, 9, 0]));
  });

  test("upgrading to writable while an fsync is in flight closes the old descriptor after it", async () => {
    const storage = new DiskStorage(root);
    const baseline = openFds();
    const { blob } = await storage.open("part", indexName(0));
    blob.writeAt(Uint8Array.of(1), 0);
    await blob.sync();
    blob.release!();
    blob.readAt(new Uint8Array(1), 0); // read-only descriptor
    const syncing = blob.sync(); // in flight on the read-only descriptor
    blob.writeAt(Uint8Array.of(2), 1); // needs a writable one
    expect(openFds()).toBe(baseline + 2);
    await syncing;
    expect(openFds()).toBe(baseline + 1);
    expect(blob.release!()).toBe(false); // the write after that fsync began is not durable yet
    await blob.sync();
    expect(blob.release!()).toBe(true);
    expect(openFds()).toBe(baseline);
    blob.close();
    expect(readFileSync(blob.path)).toEqual(Buffer.from([1, 2]));
  });

  test("a released blob never recreates a vanished file, and a closed one stays closed", async () => {
    const storage = new DiskStorage(root);
    const { blob } = await storage.open("part", indexName(0));
    blob.release!();
    unlinkSync(blob.path);
    expect(() => blob.readAt(new Uint8Array(1), 0)).toThrow(expect.objectContaining({ kind: "Io", file: blob.path }));
    expect(() => blob.writeAt(Uint8Array.of(1), 0)).toThrow(expect.objectContaining({ kind: "Io" }));
    expect(existsSync(blob.path)).toBe(false);
    blob.close();
    expect(() => blob.readAt(new Uint8Array(1), 0)).toThrow(expect.objectContaining({ kind: "Io" }));
    await expect(blob.sync()).rejects.toMatchObject({ kind: "Io" });
  });
});
