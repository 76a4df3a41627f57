/**
 * The key index a sync log builds while it is filled (so `finish` skips replaying the log) against
 * the index a plain reopen replays: the same live keys, values and order, for both kinds, from
 * lower bound 0 and from a raised floor, across blob boundaries, with deletes and overwrites, and
 * after the start moved up mid-sync (the built index is then dropped and the log replayed).
 */
import { AnyDb, ANY_KIND } from "./any";
import { ImmutableDb, IMMUTABLE_KIND } from "./immutable";
import { SyncLog } from "./sync-log";
import { createAnyTestOperations, createImmutableTestOperations } from "./generator";
import { extractPinnedNodes, verifyRangeAndCollect } from "../mmr";
import type { BuiltIndex, DbKind } from "./kind";
import { tempDir } from "../../test/helpers/tmp";
import { hex } from "../../test/helpers/vectors";

const OPTIONS = { logItemsPerBlob: 16, mmrItemsPerBlob: 16 };

type Source = AnyDb | ImmutableDb;

/** Fetches, verifies and appends up to `until` in batches of `batch`, as a sync engine would. */
async function fill<Op, D>(log: SyncLog<Op, D>, source: Source, until: bigint, batch = 7n): Promise<void> {
  while (log.size < until) {
    const start = log.needsPins ? log.start : log.size;
    const { proof, operations } = source.historicalProofEncoded(log.upper, start, batch);
    const verified = verifyRangeAndCollect(proof, operations, start, source.root());
    const pins = log.needsPins ? extractPinnedNodes(proof, start, start + BigInt(operations.length)) : undefined;
    await log.appendVerified(start, operations, verified.nodes, pins);
  }
}

/** `kind` whose `open` records whether it was handed a built index. */
function recording<Op, D>(kind: DbKind<Op, D>, seen: Array<BuiltIndex | undefined>): DbKind<Op, D> {
  return { ...kind, open: (root, options, built) => (seen.push(built), kind.open(root, options, built)) };
}

async function anySource(): Promise<AnyDb> {
  const db = await AnyDb.open(tempDir(), OPTIONS);
  for (let pass = 0; pass < 2; pass++) for (const op of createAnyTestOperations(97, 1n)) await db.apply(op);
  for (const op of createAnyTestOperations(40, 1n)) if (op.type === "update") db.delete(op.key);
  await db.commit();
  for (const op of createAnyTestOperations(13, 2n)) await db.apply(op);
  return db;
}

async function immutableSource(): Promise<ImmutableDb> {
  const db = await ImmutableDb.open(tempDir(), OPTIONS);
  for (const op of createImmutableTestOperations(203, 1n)) await db.apply(op);
  return db;
}

/** Live entries of `db` as hex pairs, and the reopened database's. */
async function entriesAndReopened(kind: "any" | "immutable", dir: string, db: Source): Promise<[string[][], string[][]]> {
  const built = [...db.entries()].map(([k, v]) => [hex(k), hex(v)]);
  expect(built.length).toBe(db.activeKeys);
  await db.close();
  const again = kind === "any" ? await AnyDb.open(dir, OPTIONS) : await ImmutableDb.open(dir, OPTIONS);
  const replayed = [...again.entries()].map(([k, v]) => [hex(k), hex(v)]);
  await again.close();
  return [built, replayed];
}

describe.each([
  ["any", ANY_KIND as DbKind<unknown, Source>, anySource] as const,
  ["immutable", IMMUTABLE_KIND as DbKind<unknown, Source>, immutableSource] as const,
])("%s", (name, kind, makeSource) => {
  test.each(["zero", "floor"] as const)("index built during the sync from lower bound %s equals the replayed one", async (from) => {
    const source = await makeSource();
    const lower = from === "zero" ? 0n : source instanceof AnyDb ? source.inactivityFloorLoc : source.oldestRetainedLoc + 40n;
    const seen: Array<BuiltIndex | undefined> = [];
    const dir = tempDir();
    const log = await SyncLog.open(recording(kind, seen), dir, lower, source.opCount, OPTIONS);
    await fill(log, source, source.opCount);
    const db = await log.finish();
    expect(seen[0]).toBeDefined(); // the built index was handed over
    expect(hex(db.root())).toBe(hex(source.root()));
    const [built, replayed] = await entriesAndReopened(name, dir, db);
    expect(built).toEqual(replayed);
    // Everything live at the source is here (immutable keys set below a raised start are not).
    if (name === "any" || from === "zero") expect(built).toEqual([...source.entries()].map(([k, v]) => [hex(k), hex(v)]));
    await source.close();
  });

  test("after the start moves up mid-sync the log is replayed instead, with the same result", async () => {
    const source = await makeSource();
    const seen: Array<BuiltIndex | undefined> = [];
    const dir = tempDir();
    const log = await SyncLog.open(recording(kind, seen), dir, 0n, source.opCount, OPTIONS);
    await fill(log, source, source.opCount / 2n);
    // A start inside what is held: the log is pruned and kept (not restarted empty).
    const raised = 32n;
    expect(log.size).toBeGreaterThan(raised);
    await log.retarget(raised, source.opCount);
    await fill(log, source, source.opCount);
    const db = await log.finish();
    expect(seen).toEqual([undefined]);
    const [built, replayed] = await entriesAndReopened(name, dir, db);
    expect(built).toEqual(replayed);
    await source.close();
  });
});
