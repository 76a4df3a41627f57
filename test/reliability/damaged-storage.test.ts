/**
 * Issue 11, item 8 (open-time checks): deleted leading log or MMR files are reported as damage,
 * never taken as pruning; real pruning, including one interrupted between the MMR and the log,
 * still opens. In process (the library) and with a real `sync-server`.
 */
import { readdirSync, rmSync } from "node:fs";
import path from "node:path";
import { ANY_KIND, AnyDb, IMMUTABLE_KIND, ImmutableDb, QmdbError, createTestOperations } from "../../src/qmdb";
import { JournaledMmr } from "../../src/qmdb/journaled-mmr";
import { SERVER_BIN, cleanup, run, startServer, tempDir } from "../production/helpers";

jest.setTimeout(60_000);
afterAll(cleanup);

const OPTIONS = { logItemsPerBlob: 16, mmrItemsPerBlob: 32 };

async function filledAny(dir: string): Promise<AnyDb> {
  const db = await AnyDb.open(dir, OPTIONS);
  const ops = createTestOperations("any", 300, 5n);
  for (const [i, op] of ops.entries()) {
    await db.apply(op);
    if (i % 40 === 39) await db.commit();
  }
  await db.commit();
  return db;
}

async function filledImmutable(dir: string): Promise<ImmutableDb> {
  const db = await ImmutableDb.open(dir, OPTIONS);
  for (const [i, op] of createTestOperations("immutable", 200, 5n).entries()) {
    await db.apply(op);
    if (i % 40 === 39) await db.commit();
  }
  await db.commit();
  return db;
}

const blobs = (dir: string, partition: string): string[] => readdirSync(path.join(dir, partition)).sort();
const remove = (dir: string, partition: string, n: number): void => {
  for (const f of blobs(dir, partition).slice(0, n)) rmSync(path.join(dir, partition, f));
};

async function openError(open: () => Promise<{ close(): Promise<void> }>): Promise<Error> {
  try {
    await (await open()).close();
  } catch (err) {
    return err as Error;
  }
  throw new Error("the damaged directory opened");
}

test("any: deleted leading log blobs are Corruption, not pruning", async () => {
  const dir = tempDir();
  await (await filledAny(dir)).close();
  remove(dir, "log_journal", 2);
  const err = await openError(() => AnyDb.open(dir, OPTIONS));
  expect(err).toBeInstanceOf(QmdbError);
  expect(err.message).toBe("Corruption: the operation log starts at 32 but the MMR is pruned only to 0: operations [0, 32) are missing (deleted log files?)");
});

test("any: a log whose files are all gone is Corruption, not a new database", async () => {
  const dir = tempDir();
  await (await filledAny(dir)).close();
  rmSync(path.join(dir, "log_journal"), { recursive: true });
  const err = await openError(() => AnyDb.open(dir, OPTIONS));
  expect(err.message).toMatch(/^Corruption: the operation log is empty but the MMR holds \d+ operations: the log files are missing$/);
});

test("immutable: deleted leading sections are Corruption", async () => {
  const dir = tempDir();
  await (await filledImmutable(dir)).close();
  remove(dir, "log_data", 1);
  remove(dir, "log_offsets", 1);
  const err = await openError(() => ImmutableDb.open(dir, OPTIONS));
  expect(err).toBeInstanceOf(QmdbError);
  expect(err.message).toMatch(/^Corruption: the operation log starts at 16 but the MMR is pruned only to 0/);
});

test("deleted leading MMR node files are reported", async () => {
  const dir = tempDir();
  await (await filledAny(dir)).close();
  remove(dir, "mmr_journal", 1);
  const err = await openError(() => AnyDb.open(dir, OPTIONS));
  expect(err.message).toBe("MissingDigest: the MMR node journal starts at position 32 but is pruned only to 0: its leading files are missing");
});

test.each(["any", "immutable"] as const)("%s: real pruning reopens, also when it was interrupted after the MMR moved and before the log did", async (kind) => {
  const dir = tempDir();
  const db = kind === "any" ? await filledAny(dir) : await filledImmutable(dir);
  const loc = kind === "any" ? (db as AnyDb).inactivityFloorLoc : 100n;
  await db.prune(loc);
  const pruned = db.oldestRetainedLoc;
  expect(pruned).toBeGreaterThan(0n);
  const root = db.root();
  await db.close();
  const again = kind === "any" ? await AnyDb.open(dir, OPTIONS) : await ImmutableDb.open(dir, OPTIONS);
  expect(again.oldestRetainedLoc).toBe(pruned);
  expect(again.root()).toEqual(root);
  await again.close();

  // The interrupted prune: the MMR's boundary is raised (as prune does first), the log keeps its files.
  const dir2 = tempDir();
  const db2 = kind === "any" ? await filledAny(dir2) : await filledImmutable(dir2);
  const root2 = db2.root();
  await db2.close();
  // Through the MMR's own API, on the closed database's files.
  const mmr = await JournaledMmr.open(dir2, (kind === "any" ? ANY_KIND : IMMUTABLE_KIND).mmrConfig(OPTIONS));
  await mmr.pruneToPos(Number(2n * pruned - BigInt(popcount(pruned))));
  await mmr.close();
  const reopened = kind === "any" ? await AnyDb.open(dir2, OPTIONS) : await ImmutableDb.open(dir2, OPTIONS);
  expect(reopened.root()).toEqual(root2);
  expect(reopened.oldestRetainedLoc).toBe(pruned);
  await reopened.close();
});

function popcount(n: bigint): number {
  return n
    .toString(2)
    .split("")
    .filter((c) => c === "1").length;
}

test("a server refuses a directory whose leading log files were deleted, and advertises nothing", async () => {
  const dir = tempDir();
  const server = await startServer({ dir, initialOps: 4000, opInterval: "10ms", opsPerInterval: 50 });
  await server.waitForLog((l) => l.msg === "added operations" && BigInt(l.op_count as string) > 8300n, "8300 operations", 30_000);
  expect(await server.stop()).toEqual({ code: 0, signal: null });
  expect(blobs(dir, "log_journal").length).toBeGreaterThanOrEqual(3);
  remove(dir, "log_journal", 1);
  const again = await run(SERVER_BIN, ["-p", "0", "-m", "0", "-d", dir, "--log-format", "json"]);
  expect(again.code).toBe(1);
  expect(again.stderr).toMatch(
    /^sync-server: Corruption: the operation log starts at 4096 but the MMR is pruned only to 0: operations \[0, 4096\) are missing \(deleted log files\?\)\n$/,
  );
  expect(again.stdout).not.toContain("server listening");
});
