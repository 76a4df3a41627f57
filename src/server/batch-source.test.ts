/**
 * BatchSource against the straightforward path (prove, then encode): the same bytes for every
 * batch (behind a correct gRPC frame header), cached or not, at odd batch sizes, odd starts,
 * historical op counts and from a pruned database's lower bound; the cache serves repeats without building them again and never serves
 * a message built for another target. The slicer lets other work run during a long stream.
 */
import { AnyDb, ImmutableDb, createTestOperations } from "../qmdb";
import { encodeOperationsResponse } from "../wire";
import { BatchSource, Slicer } from "./batch-source";
import { ServedDatabase } from "./database";
import { FRAME_HEADER_BYTES, FramedMessage } from "./framed-message";
import { SyncService } from "./service";
import { tempDir } from "../../test/helpers/tmp";

const LIMITS = { defaultBatchSize: 100, maxBatchSize: 10_000, maxOpsPerStream: 1_000_000 };

/** A served database of `keys` generated keys (any: each written twice), pruned to its floor (any) or last commit (immutable). */
async function prunedDatabase(kind: "any" | "immutable", keys: number): Promise<ServedDatabase> {
  const dir = tempDir();
  const db = kind === "any" ? await AnyDb.open(dir) : await ImmutableDb.open(dir);
  // any: every key written twice, so commits raise the floor well past the first blob.
  for (let pass = 0; pass < (kind === "any" ? 2 : 1); pass++) for (const op of createTestOperations(kind, keys, 5n)) await (db as AnyDb).apply(op as never);
  await (db instanceof AnyDb ? db.prune(db.inactivityFloorLoc) : db.prune(db.opCount - 1n));
  expect(db.oldestRetainedLoc).toBeGreaterThan(0n);
  await db.close();
  return ServedDatabase.open(kind, dir);
}

/** Every message of a request, the straightforward way. */
function expected(service: SyncService, opCount: bigint, startLoc: bigint, maxOps: bigint, batchSize: number): Buffer[] {
  const plan = service.plan({ opCount, startLoc, maxOps, batchSize });
  const out: Buffer[] = [];
  for (let loc = plan.startLoc; loc < plan.endLoc;) {
    const n = plan.endLoc - loc < BigInt(plan.batchSize) ? plan.endLoc - loc : BigInt(plan.batchSize);
    const { proof, operations } = service.prove(opCount, loc, n);
    out.push(encodeOperationsResponse(service.kind, loc, proof, operations));
    loc += BigInt(operations.length);
  }
  return out;
}

/** Every message of a request from `source`, in its gRPC frame. */
async function collect(source: BatchSource, opCount: bigint, startLoc: bigint, maxOps: bigint, batchSize: number): Promise<FramedMessage[]> {
  const out: FramedMessage[] = [];
  for await (const b of source.batches({ opCount, startLoc, maxOps, batchSize })) out.push(b.framed);
  return out;
}

/** Whether `framed` holds exactly `message` behind a correct gRPC header. */
const framesExactly = (framed: FramedMessage, message: Buffer): boolean =>
  framed.frame[0] === 0 && framed.frame.readUInt32BE(1) === message.length && framed.frame.subarray(FRAME_HEADER_BYTES).equals(message);

describe.each(["any", "immutable"] as const)("%s", (kind) => {
  test("cached, uncached and tiny-cache batches are byte for byte the straightforward ones", async () => {
    const db = await prunedDatabase(kind, 6_000);
    const service = new SyncService(db, LIMITS);
    const sources = [new BatchSource(service), new BatchSource(service, { cacheBytes: 0 }), new BatchSource(service, { cacheBytes: 5_000 })];
    const upper = db.target.upperBound;
    const lower = db.oldestRetainedLoc;
    const historical = lower + (upper - lower) / 2n;
    const requests: Array<[bigint, bigint, bigint, number]> = [
      [upper, lower, upper, 1000],
      [upper, lower, upper, 7],
      [upper, lower + 13n, 777n, 1],
      [upper, upper - 3n, 1000n, 13],
      [historical, lower + 1n, upper, 999],
      [upper, lower, upper, 0], // the default batch size
    ];
    for (const [opCount, startLoc, maxOps, batchSize] of requests) {
      const want = expected(service, opCount, startLoc, maxOps, batchSize);
      expect(want.length).toBeGreaterThan(0);
      for (const source of sources) {
        for (let round = 0; round < 2; round++) {
          const got = await collect(source, opCount, startLoc, maxOps, batchSize);
          expect(got.length).toBe(want.length);
          expect(got.findIndex((m, i) => !framesExactly(m, want[i]!))).toBe(-1);
        }
      }
    }
    await db.close();
  });

  test("repeats of the current target come from the cache; a new target is built afresh and the old one's messages are dropped", async () => {
    const db = await prunedDatabase(kind, 3_000);
    const service = new SyncService(db, LIMITS);
    const source = new BatchSource(service);
    const t = db.target;
    const first = await collect(source, t.upperBound, t.lowerBound, t.upperBound, 100);
    const again = await collect(source, t.upperBound, t.lowerBound, t.upperBound, 100);
    expect(again.every((m, i) => m.frame === first[i]!.frame)).toBe(true); // the very same buffers: nothing rebuilt

    // A new commit: the new target's batches are new messages, and correct.
    for (const op of createTestOperations(kind, 3, 99n)) await db.apply(op);
    const t2 = db.target;
    expect(t2.upperBound).toBeGreaterThan(t.upperBound);
    const fresh = await collect(source, t2.upperBound, t.lowerBound, t2.upperBound, 100);
    expect(fresh[0]!.frame).not.toBe(first[0]!.frame);
    const want = expected(service, t2.upperBound, t.lowerBound, t2.upperBound, 100);
    expect(fresh.findIndex((m, i) => !framesExactly(m, want[i]!))).toBe(-1);
    // The first target's messages can never be looked up again: only the new target's are kept.
    const bytes = (messages: FramedMessage[]): number => messages.reduce((sum, m) => sum + m.length, 0);
    expect(source.cachedBytes).toBe(bytes(fresh));
    expect(source.cachedBytes).toBeLessThan(bytes(first) + bytes(fresh));
    // A historical request (not the served target) is built, not cached.
    await collect(source, t.upperBound, t.lowerBound, t.upperBound, 100);
    expect(source.cachedBytes).toBe(bytes(fresh));
    await db.close();
  });
});

test("the slicer lets a timer run during a long stream of busy work", async () => {
  const slicer = new Slicer(4);
  let batches = 0;
  let timerFiredAt: number | undefined;
  setTimeout(() => (timerFiredAt = batches), 0);
  for (let i = 0; i < 100; i++) {
    await slicer.turn();
    const until = performance.now() + 1; // 1 ms of work per batch
    while (performance.now() < until);
    batches++;
  }
  expect(timerFiredAt).toBeDefined();
  expect(timerFiredAt!).toBeLessThan(100);
});

test("slicer waiters resume one per event-loop turn, in arrival order", async () => {
  const slicer = new Slicer(0); // every turn waits
  const order: number[] = [];
  await Promise.all(
    [0, 1, 2].map(async (i) => {
      await slicer.turn();
      order.push(i);
    }),
  );
  expect(order).toEqual([0, 1, 2]);
});
