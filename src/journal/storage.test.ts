import fc from 'fast-check';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { DiskStorage, blobFileName, destroyPartition, indexName, nameIndex } from './storage';

let root: string;
beforeEach(() => {
  root = mkdtempSync(path.join(tmpdir(), 'storage-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

test('blob names are the lowercase hex of their bytes', () => {
  expect(blobFileName(indexName(1))).toBe('0000000000000001');
  expect(blobFileName(indexName(2 ** 40 + 0xab))).toBe('00000100000000ab');
  expect(blobFileName(new TextEncoder().encode('left'))).toBe('6c656674');
  expect(blobFileName(new TextEncoder().encode('right'))).toBe('7269676874');
});

test('indexName and nameIndex round-trip every safe integer', () => {
  fc.assert(fc.property(fc.maxSafeNat(), (n) => nameIndex(indexName(n)) === n));
  expect(nameIndex(new Uint8Array(8).fill(0xff))).toBeUndefined();
  expect(nameIndex(new Uint8Array(7))).toBeUndefined();
});

test('open creates partition and blob; scan lists names; remove tolerates missing blobs', async () => {
  const storage = new DiskStorage(root);
  expect(await storage.scan('part')).toEqual([]);
  const { blob, size } = await storage.open('part', indexName(3));
  expect(size).toBe(0);
  blob.writeAt(Uint8Array.of(1, 2, 3, 4), 2);
  const out = new Uint8Array(6);
  blob.readAt(out, 0);
  expect(out).toEqual(Uint8Array.of(0, 0, 1, 2, 3, 4));
  expect(() => blob.readAt(new Uint8Array(2), 5)).toThrow(expect.objectContaining({ kind: 'Io', file: blob.path }));
  blob.resize(3);
  await blob.sync();
  blob.close();
  const reopened = await storage.open('part', indexName(3));
  expect(reopened.size).toBe(3);
  reopened.blob.close();
  expect((await storage.scan('part')).map((n) => nameIndex(n))).toEqual([3]);
  await storage.remove('part', indexName(3));
  await storage.remove('part', indexName(3));
  expect(readdirSync(path.join(root, 'part'))).toEqual([]);
});

test('scan rejects files that are not hex names', async () => {
  const storage = new DiskStorage(root);
  (await storage.open('part', indexName(0))).blob.close();
  writeFileSync(path.join(root, 'part', 'README'), '');
  await expect(storage.scan('part')).rejects.toMatchObject({ kind: 'InvalidBlobName' });
});

test('partition names are restricted to [A-Za-z0-9_-]', async () => {
  const storage = new DiskStorage(root);
  for (const bad of ['', '..', 'a/b', 'a.b', 'é']) {
    await expect(storage.open(bad, indexName(0))).rejects.toMatchObject({ kind: 'InvalidConfig' });
  }
});

test('destroyPartition removes the directory and tolerates a missing one', async () => {
  const storage = new DiskStorage(root);
  (await storage.open('part', indexName(0))).blob.close();
  await destroyPartition(root, 'part');
  expect(existsSync(path.join(root, 'part'))).toBe(false);
  await destroyPartition(root, 'part');
});
