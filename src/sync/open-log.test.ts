/**
 * `syncOpenLog`, the engine mode relays run: it fills a log the caller keeps open, towards one
 * target after another, never pruning. What a relay serves relies on two properties tested here:
 * while the engine appends towards a newer target, every state reached before stays provable
 * against its own root (historical proofs over the append-only log), and a peer's invalid data is
 * never appended.
 */
import { toHex } from "../codec";
import { verifyRangeInclusion } from "../mmr";
import { ANY_KIND, AnyDb, type AnyOperation, SyncLog } from "../qmdb";
import { closeAfterTest } from "../../test/helpers/tmp";
import { DbResolver } from "../../test/helpers/db-resolver";
import { ANY_OPTS, FAST_RETRY, anyTarget, anyWorkload, applyAll, scratchDir } from "../../test/helpers/sync-harness";
import { type SyncTarget, syncOpenLog } from ".";

/** Whether `log` proves operations [lower, upper) of `t` against `t.root`. */
function provable(log: SyncLog<AnyOperation, AnyDb>, t: SyncTarget): boolean {
  const { proof, operations } = log.historicalProofEncoded(t.upperBound, t.lowerBound, t.upperBound - t.lowerBound);
  return verifyRangeInclusion(proof, operations, t.lowerBound, t.root);
}

async function source(): Promise<{ db: AnyDb; targets: SyncTarget[] }> {
  const db = closeAfterTest(await AnyDb.open(scratchDir(), ANY_OPTS));
  const targets: SyncTarget[] = [];
  for (const seed of [1n, 2n, 3n]) {
    await applyAll(db, anyWorkload(120, seed, `s${seed}`).ops);
    targets.push(anyTarget(db));
  }
  return { db, targets };
}

test("each reached state stays provable while the log is filled towards the next target, and after", async () => {
  const { db, targets } = await source();
  const [t1, t2, t3] = targets as [SyncTarget, SyncTarget, SyncTarget];
  const log = closeAfterTest(await SyncLog.open(ANY_KIND, scratchDir(), t1.lowerBound, t1.upperBound, ANY_OPTS));
  const resolver = new DbResolver(ANY_KIND, db);
  const kind = ANY_KIND;

  expect(await syncOpenLog(log, { kind, target: t1, resolver, fetchBatchSize: 7, retry: FAST_RETRY })).toBe(t1.upperBound - t1.lowerBound);
  expect(toHex(log.mmrRoot())).toBe(toHex(t1.root));

  // Half-way to t3, the t1 state is still exactly provable; the log is never pruned.
  let checkedMidway = 0;
  const observer = {
    applied: (_n: number, size: bigint) => {
      if (size > t1.upperBound && size < t3.upperBound) {
        expect(provable(log, t1)).toBe(true);
        checkedMidway++;
      }
    },
  };
  const fetched = await syncOpenLog(log, { kind, target: t3, resolver, fetchBatchSize: 7, retry: FAST_RETRY, observer });
  expect(fetched).toBe(t3.upperBound - t1.upperBound);
  expect(checkedMidway).toBeGreaterThan(3);
  expect(toHex(log.mmrRoot())).toBe(toHex(t3.root));
  for (const t of [t1, t2, t3]) expect(provable(log, t)).toBe(true);
  expect(log.oldestRetainedLoc).toBeLessThanOrEqual(t1.lowerBound);
});

test("invalid data is never appended: the log stays at the reached state", async () => {
  const { db, targets } = await source();
  const [t1, , t3] = targets as [SyncTarget, SyncTarget, SyncTarget];
  const log = closeAfterTest(await SyncLog.open(ANY_KIND, scratchDir(), t1.lowerBound, t1.upperBound, ANY_OPTS));
  const kind = ANY_KIND;
  await syncOpenLog(log, { kind, target: t1, resolver: new DbResolver(ANY_KIND, db), retry: FAST_RETRY });
  const liar = new DbResolver(ANY_KIND, db, (batch) => {
    const operations = batch.operations.map((op) => Uint8Array.from(op));
    operations[0]![operations[0]!.length - 1]! ^= 1;
    return { ...batch, operations };
  });
  await expect(syncOpenLog(log, { kind, target: t3, resolver: liar, retry: FAST_RETRY })).rejects.toMatchObject({ kind: "InvalidResponse" });
  expect(log.size).toBe(t1.upperBound);
  expect(toHex(log.mmrRoot())).toBe(toHex(t1.root));
  expect(provable(log, t1)).toBe(true);
});
