/**
 * Issue 11, item 8: `verifyStorage` and `--verify` re-hash a directory offline. A sound server or
 * client directory passes (exit 0); a flipped byte in the MMR node journal (which nothing else
 * reads until a proof needs it), in the operation log, or deleted files are reported (exit 1).
 */
import { closeSync, existsSync, openSync, readSync, readdirSync, rmSync, writeFileSync, writeSync } from "node:fs";
import path from "node:path";
import { AnyDb, ImmutableDb, createTestOperations, verifyStorage } from "../../src/qmdb";
import { DirectoryLock } from "../../src/journal";
import { crc32 } from "../../src/journal/crc32";
import { CLIENT_BIN, SERVER_BIN, SYNCED, cleanup, run, spawnClient, startServer, tempDir } from "../production/helpers";
import { flipByte } from "../helpers/files";

jest.setTimeout(60_000);
afterAll(cleanup);

/** Replaces MMR node `pos` (in the first node blob) by a different digest with a valid checksum: only re-hashing can tell. */
function forgeNode(dir: string, pos: number): void {
  const file = firstFile(dir, "mmr_journal");
  const fd = openSync(file, "r+");
  const record = Buffer.alloc(36);
  readSync(fd, record, 0, 36, pos * 36);
  record[3]! ^= 0x01;
  record.writeUInt32BE(crc32(record.subarray(0, 32)), 32);
  writeSync(fd, record, 0, 36, pos * 36);
  closeSync(fd);
}

const firstFile = (dir: string, partition: string): string => path.join(dir, partition, readdirSync(path.join(dir, partition)).sort()[0]!);

async function anyDir(): Promise<{ dir: string; root: string; opCount: bigint }> {
  const dir = tempDir();
  const db = await AnyDb.open(dir);
  for (const op of createTestOperations("any", 500, 3n)) await db.apply(op);
  await db.commit();
  const out = { dir, root: Buffer.from(db.root()).toString("hex"), opCount: db.opCount };
  await db.close();
  return out;
}

test("a sound database passes, with its op count and root", async () => {
  const { dir, root, opCount } = await anyDir();
  const report = await verifyStorage(dir);
  expect(report).toMatchObject({ kind: "any", sound: true, problems: [], opCount, root });
  const imm = tempDir();
  const db = await ImmutableDb.open(imm);
  for (const op of createTestOperations("immutable", 300, 3n)) await db.apply(op);
  await db.commit();
  const immRoot = Buffer.from(db.root()).toString("hex");
  await db.close();
  expect(await verifyStorage(imm)).toMatchObject({ kind: "immutable", sound: true, root: immRoot });
});

test("a wrong MMR node with a valid checksum is found by re-hashing (the database still opens: nothing else would notice)", async () => {
  const { dir } = await anyDir();
  forgeNode(dir, 10); // an inner node, not a peak
  const report = await verifyStorage(dir);
  expect(report.sound).toBe(false);
  expect(report.problems).toEqual([expect.stringMatching(/^MMR node 10 \(covering operation \d+\) differs from the one recomputed from the log$/)]);
  await (await AnyDb.open(dir)).close();
});

test("a flipped byte in the MMR node journal is a checksum mismatch", async () => {
  const { dir } = await anyDir();
  flipByte(firstFile(dir, "mmr_journal"), 36 * 10 + 3, 0x01);
  const report = await verifyStorage(dir);
  expect(report.sound).toBe(false);
  expect(report.problems.join("\n")).toMatch(/ChecksumMismatch: item 10 in .*mmr_journal/);
});

test("a flipped byte in the operation log, and deleted leading log files, are found", async () => {
  const a = await anyDir();
  flipByte(firstFile(a.dir, "log_journal"), 69 * 100 + 5, 0x01);
  const r1 = await verifyStorage(a.dir);
  expect(r1.sound).toBe(false);
  expect(r1.problems.join("\n")).toMatch(/ChecksumMismatch: item 100 /);
  const b = await anyDir();
  rmSync(path.join(b.dir, "log_journal"), { recursive: true });
  expect((await verifyStorage(b.dir)).problems).toEqual(["holds no database (no operation log)"]);
});

test("within one process the lock is shared (another process is refused: see the CLI test)", async () => {
  const { dir } = await anyDir();
  const lock = DirectoryLock.acquire(dir);
  try {
    // Same process: shared. Another process is refused (see the CLI test below).
    expect((await verifyStorage(dir)).sound).toBe(true);
  } finally {
    lock.release();
  }
});

test("sync-server --verify and sync-client --verify: exit 0 when sound, 1 with the problems when damaged, 1 on a live directory", async () => {
  const dir = tempDir();
  const server = await startServer({ dir, initialOps: 2000, opInterval: "1h" });
  const busy = await run(SERVER_BIN, ["--verify", "-d", dir]);
  expect(busy.code).toBe(1);
  expect(busy.stderr).toBe(`sync-server: storage directory ${dir} is in use by another process (pid ${server.child.pid})\n`);
  const client = spawnClient(server.addr, ["-i", "60s"]);
  await client.waitForMsg(SYNCED, 30_000);
  expect(await client.stop()).toEqual({ code: 0, signal: null });
  expect(await server.stop()).toEqual({ code: 0, signal: null });

  for (const [bin, d] of [
    [SERVER_BIN, dir],
    [CLIENT_BIN, client.dir],
  ] as const) {
    const ok = await run(bin, ["--verify", "-d", d]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(new RegExp(`^storage directory ${d} is sound: any database, \\d+ operations, retained from \\d+, root [0-9a-f]{64}\\n$`));
  }
  forgeNode(client.dir, 1500);
  const bad = await run(CLIENT_BIN, ["--verify", "-d", client.dir]);
  expect(bad.code).toBe(1);
  expect(bad.stdout).toMatch(new RegExp(`^storage directory ${client.dir} is damaged \\(any database\\):\\n  - MMR node 1500 `));
});

test("--verify of a missing path or a file: exit 1 naming the path, and nothing is created", async () => {
  const missing = path.join(tempDir(), "no-such-dir");
  for (const bin of [SERVER_BIN, CLIENT_BIN]) {
    const r = await run(bin, ["--verify", "-d", missing]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`${path.basename(bin, ".js")}: storage directory ${missing}: does not exist\n`);
    expect(existsSync(missing)).toBe(false);
  }
  const file = path.join(tempDir(), "a-file");
  writeFileSync(file, "x");
  await expect(verifyStorage(file)).rejects.toThrow(`storage directory ${file}: is not a directory`);
  expect(readdirSync(path.dirname(file))).toEqual(["a-file"]);
});
