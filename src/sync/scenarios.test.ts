/**
 * The sync-engine acceptance scenarios of docs/sync-engine.md (Scenarios) that apply to this design, each named
 * after its id. Sources are real databases in temporary directories served in-process by
 * `DbResolver`; target updates come from a push queue driven by the engine's observer. Where the
 * design departs from the Dec-2025 baseline (non-advancing updates are ignored, not fatal; a local
 * log longer than the target is wiped), the test asserts the design (L05/L06/L10/L15 policy).
 * Adversarial peers and lying targets are in `adversarial.test.ts`.
 */
import { MAX_LOCATION, mmrSize } from "../mmr";
import {
  ANY_KIND,
  AnyDb,
  type AnyOperation,
  createAnyTestOperations,
  createImmutableTestOperations,
  IMMUTABLE_KIND,
  ImmutableDb,
  type ImmutableOperation,
} from "../qmdb";
import {
  checkTarget,
  type FetchRequest,
  ResolverError,
  syncDatabase,
  type SyncLogger,
  type SyncObserver,
  type SyncOptions,
  type SyncResult,
  type SyncTarget,
} from ".";
import { DbResolver } from "../../test/helpers/db-resolver";
import { closeAfterTest } from "../../test/helpers/tmp";
import {
  ANY_OPTS,
  anyTarget,
  anyWorkload,
  applyAll,
  captureLogger,
  digestOf,
  evolvingAnySource,
  failOnUnhandledRejections,
  sourceWithPartialCopy,
  expectSameAfterReopen,
  expectSyncedTo,
  expectSameOperations,
  expectSameValues,
  FAST_RETRY,
  hex,
  IMM_OPTS,
  immutableKeys,
  immutableTarget,
  RecordingResolver,
  scratchDir,
  settle,
  TargetQueue,
} from "../../test/helpers/sync-harness";

type AnyRun = Omit<SyncOptions<AnyOperation, AnyDb>, "kind">;
type ImmRun = Omit<SyncOptions<ImmutableOperation, ImmutableDb>, "kind">;
const syncAny = (o: AnyRun) => syncDatabase<AnyOperation, AnyDb>({ kind: ANY_KIND, dbOptions: ANY_OPTS, retry: FAST_RETRY, ...o });
const syncImm = (o: ImmRun) => syncDatabase<ImmutableOperation, ImmutableDb>({ kind: IMMUTABLE_KIND, dbOptions: IMM_OPTS, retry: FAST_RETRY, ...o });

/** An `any` source holding `n` workload ops (seed 1), pruned to its floor unless told not to. */
async function anySource(n: number, opts: { prune?: boolean; seed?: bigint } = {}): Promise<{ db: AnyDb; keys: Uint8Array[] }> {
  const db = closeAfterTest(await AnyDb.open(scratchDir(), ANY_OPTS));
  const { ops, keys } = anyWorkload(n, opts.seed ?? 1n);
  await applyAll(db, ops);
  if (opts.prune ?? true) await db.prune(db.inactivityFloorLoc);
  return { db, keys };
}

/** An immutable source holding `n` test ops (seed 1), pruned to `pruneTo` (section-aligned down). */
async function immSource(n: number, pruneTo = 0n): Promise<{ db: ImmutableDb; keys: Uint8Array[] }> {
  const db = closeAfterTest(await ImmutableDb.open(scratchDir(), IMM_OPTS));
  const ops = createImmutableTestOperations(n, 1n);
  await applyAll(db, ops);
  if (pruneTo > 0n) await db.prune(pruneTo);
  return { db, keys: immutableKeys(ops) };
}

/** Every retained MMR node of `client` (positions from its lower bound up) equals the server's. */
function expectSameMmrNodes(client: AnyDb | ImmutableDb, server: AnyDb | ImmutableDb, lower: bigint, upper: bigint): void {
  const bad: number[] = [];
  for (let pos = Number(mmrSize(lower)); pos < Number(mmrSize(upper)); pos++) {
    if (hex(client.mmrNode(BigInt(pos))) !== hex(server.mmrNode(BigInt(pos))) || client.mmrNode(BigInt(pos)) === undefined) bad.push(pos);
  }
  expect(bad).toEqual([]);
}

/**
 * Syncs to `first` (through `run`) while `update` is pushed once the log holds more than the lower
 * bound, and checks that the update was ignored: logged, no target change, the sync ended at
 * `first`. Returns the result for further checks (the caller closes the database).
 */
async function syncIgnoring<D extends { root(): Uint8Array }>(
  run: (o: { target: SyncTarget; targetUpdates: TargetQueue; observer: SyncObserver; logger: SyncLogger }) => Promise<SyncResult<D>>,
  first: SyncTarget,
  update: SyncTarget,
): Promise<SyncResult<D>> {
  const queue = new TargetQueue();
  const { seen, observer } = pushAfterFirstApply(queue, first.lowerBound, update);
  const logger = captureLogger();
  const res = await run({ target: first, targetUpdates: queue, observer, logger });
  expect(seen.pushed).toBe(true);
  expect(seen.changed).toEqual([]);
  expect(logger.has("ignoring a target update that does not move forward")).toBe(true);
  expect(res.target).toBe(first);
  expect(hex(res.database.root())).toBe(hex(first.root));
  return res;
}

/**
 * `syncIgnoring` for `any`: a source with 100 workload operations, then `additional` more; the
 * update pushed is `updateOf(first, second)`. The source is closed after the test.
 */
async function anySyncIgnoring(additional: number, updateOf: (first: SyncTarget, second: SyncTarget) => SyncTarget) {
  const { server, first, second } = await evolvingAnySource(100, additional);
  const resolver = new DbResolver(ANY_KIND, server);
  const res = await syncIgnoring((o) => syncAny({ directory: scratchDir(), resolver, fetchBatchSize: 2, ...o }), first, updateOf(first, second));
  return { res, first };
}

/** An observer that pushes `next` into `queue` once the local log holds more than `lower`. */
function pushAfterFirstApply(queue: TargetQueue, lower: bigint, next: SyncTarget) {
  const seen = { pushed: false, changed: [] as SyncTarget[] };
  return {
    seen,
    observer: {
      applied: (_n: number, size: bigint) => {
        if (!seen.pushed && size > lower) {
          seen.pushed = true;
          queue.push(next);
        }
      },
      targetChanged: (t: SyncTarget) => void seen.changed.push(t),
    },
  };
}

const expectSyncError = (kind: string) => expect.objectContaining({ name: "SyncError", kind });

// ------------------------------------------------------------------------------------------------
describe("any: fresh sync", () => {
  const S01: Array<[number, number]> = [
    [1, 1],
    [1, 2],
    [1000, 1],
    [1000, 3],
    [1000, 999],
    [1000, 100],
    [1000, 1000],
    [1000, 1001],
  ];
  test.each(S01)(
    "S01 basic sync (%i ops, batch %i): root, op count, floor, every op and key; identical later updates agree; reopen keeps state",
    async (n, batch) => {
      const { db: server, keys } = await anySource(n);
      const target = anyTarget(server);
      expect(target.lowerBound).toBeGreaterThan(0n);
      const dir = scratchDir();
      const res = await syncAny({ directory: dir, target, resolver: new DbResolver(ANY_KIND, server), fetchBatchSize: batch });
      const client = res.database;
      expect(hex(client.root())).toBe(hex(target.root));
      expect(client.opCount).toBe(target.upperBound);
      expect(client.inactivityFloorLoc).toBe(server.inactivityFloorLoc);
      expect(client.oldestRetainedLoc).toBe(target.lowerBound);
      expect(res).toMatchObject({ operationsFetched: target.upperBound - target.lowerBound, operationsReused: 0n, retriedFromScratch: false });
      expectSameOperations(client, server, target.lowerBound, target.upperBound);
      expect(() => client.operation(target.lowerBound - 1n)).toThrow(/outside the retained range/);
      const deleted = expectSameValues(client, server, keys);
      if (n >= 1000) expect(deleted).toBeGreaterThan(0);
      expect(client.activeKeys).toBe(server.activeKeys);

      const more = anyWorkload(30, 77n).ops;
      await applyAll(client, more);
      await applyAll(server, more);
      expect(hex(client.root())).toBe(hex(server.root()));

      await expectSameAfterReopen(client, dir, server, keys);
      await server.close();
    },
  );

  test("S02 invalid initial bounds (lower 31 > upper 30) → InvalidTarget, no request sent", async () => {
    const { db: server } = await anySource(20);
    const resolver = new DbResolver(ANY_KIND, server);
    await expect(syncAny({ directory: scratchDir(), target: { root: server.root(), lowerBound: 31n, upperBound: 30n }, resolver })).rejects.toEqual(
      expectSyncError("InvalidTarget"),
    );
    expect(resolver.calls).toBe(0);
    await server.close();
  });

  test("S03 sync a prefix of a larger source: exactly [lower, upper), root matches, the later key is absent", async () => {
    const { db: server, keys } = await anySource(200, { prune: false });
    const target = anyTarget(server);
    const extra = digestOf("extra key");
    server.update(extra, digestOf("extra value"));
    await server.commit();
    expect(server.opCount).toBeGreaterThan(target.upperBound);
    const res = await syncAny({ directory: scratchDir(), target, resolver: new DbResolver(ANY_KIND, server), fetchBatchSize: 7 });
    const client = res.database;
    expect(hex(client.root())).toBe(hex(target.root));
    expect(client.opCount).toBe(target.upperBound);
    expect(client.inactivityFloorLoc).toBe(target.lowerBound);
    expectSameOperations(client, server, target.lowerBound, target.upperBound);
    expect(server.get(extra)).toBeDefined();
    expect(client.get(extra)).toBeUndefined();
    // Keys the extra commit did not move still agree with the source.
    for (const k of keys) expect(hex(client.get(k))).toBe(hex(server.get(k)));
    await client.close();
    await server.close();
  });

  test("S12 persistence: close and reopen the synced database → same root, op count, floor, oldest retained", async () => {
    const { db: server, keys } = await anySource(150);
    const target = anyTarget(server);
    const dir = scratchDir();
    const { database } = await syncAny({ directory: dir, target, resolver: new DbResolver(ANY_KIND, server), fetchBatchSize: 5 });
    expect(hex(database.root())).toBe(hex(target.root));
    await expectSameAfterReopen(database, dir, server, keys);
    await server.close();
  });

  test("S13 a resolver that always fails (retryable) → ResolverFailed after retry.maxAttempts requests", async () => {
    const { db: server } = await anySource(40);
    const resolver = new DbResolver(ANY_KIND, server);
    resolver.failWith = new ResolverError("connection refused", true);
    const retrying: string[] = [];
    await expect(
      syncAny({
        directory: scratchDir(),
        target: anyTarget(server),
        resolver,
        retry: { ...FAST_RETRY, maxAttempts: 4 },
        observer: { retrying: (reason) => void retrying.push(reason) },
      }),
    ).rejects.toEqual(expect.objectContaining({ kind: "ResolverFailed", message: expect.stringMatching(/4 consecutive requests failed.*connection refused/) }));
    expect(resolver.calls).toBe(4);
    expect(retrying).toHaveLength(3);
    await server.close();
  });

  test("S13 a resolver that fails with a non-retryable error → ResolverFailed at once", async () => {
    const { db: server } = await anySource(40);
    const resolver = new DbResolver(ANY_KIND, server);
    resolver.failWith = new ResolverError("server says: unknown database", false);
    await expect(syncAny({ directory: scratchDir(), target: anyTarget(server), resolver })).rejects.toEqual(
      expect.objectContaining({ kind: "ResolverFailed", message: expect.stringContaining("unknown database") }),
    );
    expect(resolver.calls).toBe(1);
    await server.close();
  });

  test("S13 retryable failures that clear up are retried and the sync completes", async () => {
    const { db: server } = await anySource(60);
    const resolver = new DbResolver(ANY_KIND, server);
    resolver.failWith = new ResolverError("unavailable", true);
    let retries = 0;
    const res = await syncAny({
      directory: scratchDir(),
      target: anyTarget(server),
      resolver,
      fetchBatchSize: 4,
      observer: { retrying: () => void (++retries === 2 && (resolver.failWith = undefined)) },
    });
    expect(hex(res.database.root())).toBe(hex(server.root()));
    expect(retries).toBe(2);
    await res.database.close();
    await server.close();
  });

  test("S14 empty → empty: a source holding only its initial CommitFloor, range [0, 1) → op count 1, floor 0, usable", async () => {
    const server = await AnyDb.open(scratchDir(), ANY_OPTS);
    expect(server.opCount).toBe(1n);
    const target = anyTarget(server);
    expect(target).toMatchObject({ lowerBound: 0n, upperBound: 1n });
    const { database: client } = await syncAny({ directory: scratchDir(), target, resolver: new DbResolver(ANY_KIND, server) });
    expect(client.opCount).toBe(1n);
    expect(client.inactivityFloorLoc).toBe(0n);
    expect(client.activeKeys).toBe(0);
    expect(hex(client.root())).toBe(hex(target.root));
    for (const db of [client, server]) {
      db.update(digestOf("a"), digestOf("1"));
      await db.commit();
    }
    expect(hex(client.get(digestOf("a")))).toBe(hex(digestOf("1")));
    expect(hex(client.root())).toBe(hex(server.root()));
    await client.close();
    await server.close();
  });

  test("S15 empty → non-empty: lower bound > 0, pins come from the boundary proof; root, MMR and values match", async () => {
    const { db: server, keys } = await anySource(300);
    const target = anyTarget(server);
    expect(target.lowerBound).toBeGreaterThan(16n); // past the first pruned blob
    const { database: client } = await syncAny({ directory: scratchDir(), target, resolver: new DbResolver(ANY_KIND, server), fetchBatchSize: 13 });
    expect(hex(client.root())).toBe(hex(target.root));
    expectSameMmrNodes(client, server, target.lowerBound, target.upperBound);
    expectSameValues(client, server, keys);
    // Proofs served by the synced copy are the source's proofs.
    for (const loc of [target.lowerBound, target.lowerBound + 1n, target.upperBound - 1n]) {
      expect(client.historicalProof(target.upperBound, loc, 3n)).toEqual(server.historicalProof(target.upperBound, loc, 3n));
    }
    await client.close();
    await server.close();
  });

  test("L08 post-sync usability: updates, deletes, commits, pruning and reopen track the source", async () => {
    const { db: server, keys } = await anySource(120);
    const dir = scratchDir();
    const { database: client } = await syncAny({ directory: dir, target: anyTarget(server), resolver: new DbResolver(ANY_KIND, server) });
    for (const db of [client, server]) {
      db.update(keys[0]!, digestOf("changed"));
      db.delete(keys[1]!);
      db.update(digestOf("brand new"), digestOf("x"));
      await db.commit(digestOf("meta"));
      await db.prune(db.inactivityFloorLoc);
    }
    expect(hex(client.root())).toBe(hex(server.root()));
    expect(hex(client.metadata)).toBe(hex(digestOf("meta")));
    expect(client.get(keys[1]!)).toBeUndefined();
    await client.close();
    const reopened = await AnyDb.open(dir, ANY_OPTS);
    expect(hex(reopened.root())).toBe(hex(server.root()));
    expectSameValues(reopened, server, [...keys, digestOf("brand new")]);
    await reopened.close();
    await server.close();
  });

  test("L12 the boundary request and the next data request are issued together at the start, with exact ranges", async () => {
    const { db: server } = await anySource(200);
    const target = anyTarget(server);
    const resolver = new RecordingResolver(new DbResolver(ANY_KIND, server));
    let requestsAtFirstApply = -1;
    const res = await syncAny({
      directory: scratchDir(),
      target,
      resolver,
      fetchBatchSize: 5,
      requestOps: 20,
      maxOutstandingRequests: 2,
      observer: { applied: () => void (requestsAtFirstApply < 0 && (requestsAtFirstApply = resolver.requests.length)) },
    });
    expect(requestsAtFirstApply).toBe(2);
    const lower = target.lowerBound;
    expect(resolver.requests.slice(0, 2)).toEqual([
      { opCount: target.upperBound, startLoc: lower, maxOps: 20n, batchSize: 5 },
      { opCount: target.upperBound, startLoc: lower + 20n, maxOps: 20n, batchSize: 5 },
    ]);
    // No location is requested twice.
    const starts = resolver.served.map((b) => b.startLoc);
    expect(new Set(starts).size).toBe(starts.length);
    expect(BigInt(resolver.opsServed)).toBe(target.upperBound - lower);
    await res.database.close();
    await server.close();
  });
});

// ------------------------------------------------------------------------------------------------
describe("any: resume from local state", () => {
  test("S04 resume, partial local match: only [local size, upper) is fetched; overlapping ops identical; all values equal", async () => {
    const part1 = anyWorkload(200, 1n).ops;
    const { server, dir, heldOps: held } = await sourceWithPartialCopy((d) => AnyDb.open(d, ANY_OPTS), part1, anyWorkload(40, 2n).ops);
    const target = anyTarget(server);
    expect(target.lowerBound).toBeLessThan(held); // the local log reaches into the range

    const resolver = new RecordingResolver(new DbResolver(ANY_KIND, server));
    const logger = captureLogger();
    const res = await syncAny({ directory: dir, target, resolver, fetchBatchSize: 6, logger });
    expect(res.operationsReused).toBe(held - target.lowerBound);
    expect(res.operationsFetched).toBe(target.upperBound - held);
    expect(Math.min(...resolver.served.map((b) => Number(b.startLoc)))).toBe(Number(held));
    expect(BigInt(resolver.opsServed)).toBe(target.upperBound - held);
    expect(logger.lines.find((l) => l.msg === "opened local log")?.obj).toMatchObject({ origin: "reused" });
    const client = res.database;
    expect(hex(client.root())).toBe(hex(target.root));
    expectSameOperations(client, server, target.lowerBound, target.upperBound);
    expectSameValues(client, server, [...anyWorkload(200, 1n).keys, ...anyWorkload(40, 2n).keys]);
    await client.close();
    await server.close();
  });

  test("S05 resume, exact local match (both pruned to the floor) → completes with zero requests to an always-failing resolver", async () => {
    const { ops, keys } = anyWorkload(300, 1n);
    const server = await AnyDb.open(scratchDir(), ANY_OPTS);
    await applyAll(server, ops);
    await server.prune(server.inactivityFloorLoc);
    const dir = scratchDir();
    const local = await AnyDb.open(dir, ANY_OPTS);
    await applyAll(local, ops);
    await local.prune(local.inactivityFloorLoc);
    await local.close();
    const target = anyTarget(server);
    const resolver = new DbResolver(ANY_KIND, server);
    resolver.failWith = new ResolverError("must not be called", false);
    const res = await syncAny({ directory: dir, target, resolver });
    expect(resolver.calls).toBe(0);
    expect(res).toMatchObject({ operationsFetched: 0n, operationsReused: target.upperBound - target.lowerBound, retriedFromScratch: false });
    await expectSyncedTo(res.database, target, server, keys);
    await server.close();
  });

  test("S16 non-empty → non-empty partial: a previous sync result is reused for a later target with a higher lower bound", async () => {
    const server = await AnyDb.open(scratchDir(), ANY_OPTS);
    await applyAll(server, anyWorkload(300, 1n).ops);
    const first = anyTarget(server);
    const dir = scratchDir();
    const r1 = await syncAny({ directory: dir, target: first, resolver: new DbResolver(ANY_KIND, server), fetchBatchSize: 9 });
    await r1.database.close();
    await applyAll(server, anyWorkload(60, 2n).ops);
    const second = anyTarget(server);
    expect(second.lowerBound).toBeGreaterThan(first.lowerBound);
    expect(second.lowerBound).toBeLessThan(first.upperBound);
    const resolver = new RecordingResolver(new DbResolver(ANY_KIND, server));
    const r2 = await syncAny({ directory: dir, target: second, resolver, fetchBatchSize: 9 });
    expect(r2.operationsReused).toBe(first.upperBound - second.lowerBound);
    expect(r2.operationsFetched).toBe(second.upperBound - first.upperBound);
    expect(resolver.served.every((b) => b.startLoc >= first.upperBound)).toBe(true);
    expect(hex(r2.database.root())).toBe(hex(second.root));
    expect(r2.database.oldestRetainedLoc).toBe(second.lowerBound);
    expectSameMmrNodes(r2.database, server, second.lowerBound, second.upperBound);
    expectSameValues(r2.database, server, [...anyWorkload(300, 1n).keys, ...anyWorkload(60, 2n).keys]);
    await r2.database.close();
    await server.close();
  });

  test("S17 non-empty → non-empty exact match: re-syncing a synced copy to the same target makes no request", async () => {
    const { db: server } = await anySource(150);
    const target = anyTarget(server);
    const dir = scratchDir();
    const r1 = await syncAny({ directory: dir, target, resolver: new DbResolver(ANY_KIND, server) });
    await r1.database.close();
    const resolver = new DbResolver(ANY_KIND, server);
    resolver.failWith = new ResolverError("must not be called", true);
    const r2 = await syncAny({ directory: dir, target, resolver });
    expect(resolver.calls).toBe(0);
    expect(r2.operationsFetched).toBe(0n);
    expect(hex(r2.database.root())).toBe(hex(target.root));
    await r2.database.close();
    await server.close();
  });

  test("S04 resume after an interrupted sync (aborted mid-way): the held prefix is kept and only the missing suffix is fetched", async () => {
    const { db: server, keys } = await anySource(400);
    const target = anyTarget(server);
    const dir = scratchDir();
    const ac = new AbortController();
    let heldAtAbort = 0n;
    await expect(
      syncAny({
        directory: dir,
        target,
        resolver: new DbResolver(ANY_KIND, server),
        fetchBatchSize: 10,
        signal: ac.signal,
        observer: {
          applied: (_n, size) => {
            if (heldAtAbort === 0n && size >= target.lowerBound + 100n) {
              heldAtAbort = size;
              ac.abort();
            }
          },
        },
      }),
    ).rejects.toEqual(expectSyncError("Aborted"));
    expect(heldAtAbort).toBeLessThan(target.upperBound);
    const resolver = new RecordingResolver(new DbResolver(ANY_KIND, server));
    const res = await syncAny({ directory: dir, target, resolver, fetchBatchSize: 10 });
    expect(res.operationsReused).toBe(heldAtAbort - target.lowerBound);
    expect(res.operationsFetched).toBe(target.upperBound - heldAtAbort);
    expect(resolver.served[0]!.startLoc).toBe(heldAtAbort);
    expect(BigInt(resolver.opsServed)).toBe(target.upperBound - heldAtAbort);
    expect(hex(res.database.root())).toBe(hex(target.root));
    expectSameValues(res.database, server, keys);
    await res.database.close();
    await server.close();
  });

  test("L02 a full local database is reused for a target with lower > 0: its own nodes are pinned before pruning, reopen works", async () => {
    const { ops, keys } = anyWorkload(250, 1n);
    const server = await AnyDb.open(scratchDir(), ANY_OPTS);
    await applyAll(server, [...ops, ...anyWorkload(30, 2n).ops]);
    const dir = scratchDir();
    const local = await AnyDb.open(dir, ANY_OPTS);
    await applyAll(local, ops);
    await local.close();
    const target = anyTarget(server);
    const res = await syncAny({ directory: dir, target, resolver: new DbResolver(ANY_KIND, server) });
    expect(res.operationsReused).toBeGreaterThan(0n);
    expect(hex(res.database.root())).toBe(hex(target.root));
    await res.database.close();
    const reopened = await AnyDb.open(dir, ANY_OPTS);
    expect(hex(reopened.root())).toBe(hex(target.root));
    expectSameMmrNodes(reopened, server, target.lowerBound, target.upperBound);
    expectSameValues(reopened, server, keys);
    await reopened.close();
    await server.close();
  });

  test("L09 an empty local log left at a higher start (sync interrupted before any op) is cleared to the new lower bound", async () => {
    const { server, first: early, second: late } = await evolvingAnySource(150, 150);
    expect(late.lowerBound).toBeGreaterThan(early.upperBound);
    const dir = scratchDir();
    const failing = new DbResolver(ANY_KIND, server);
    failing.failWith = new ResolverError("down", false);
    await expect(syncAny({ directory: dir, target: late, resolver: failing })).rejects.toEqual(expectSyncError("ResolverFailed"));
    // The directory now holds an empty log positioned at `late.lowerBound`; sync to the earlier target.
    const res = await syncAny({ directory: dir, target: early, resolver: new DbResolver(ANY_KIND, server) });
    expect(res.operationsReused).toBe(0n);
    expect(res.operationsFetched).toBe(early.upperBound - early.lowerBound);
    expect(hex(res.database.root())).toBe(hex(early.root));
    await res.database.close();
    await server.close();
  });

  test("L10 (policy: wipe) a local log longer than the target is wiped and refetched, with a log line saying why", async () => {
    const { server, first: early, second: late } = await evolvingAnySource(120, 80);
    const dir = scratchDir();
    const r1 = await syncAny({ directory: dir, target: late, resolver: new DbResolver(ANY_KIND, server) });
    await r1.database.close();
    const logger = captureLogger();
    const r2 = await syncAny({ directory: dir, target: early, resolver: new DbResolver(ANY_KIND, server), logger });
    expect(r2.operationsReused).toBe(0n);
    expect(r2.operationsFetched).toBe(early.upperBound - early.lowerBound);
    expect(hex(r2.database.root())).toBe(hex(early.root));
    expect(r2.database.opCount).toBe(early.upperBound);
    const opened = logger.lines.find((l) => l.msg === "opened local log")!.obj as { origin: string; reason: string };
    expect(opened.origin).toBe("replaced");
    expect(opened.reason).toMatch(/more than the target/);
    await r2.database.close();
    await server.close();
  });

  test("L17 a local copy of another history (a reset server, another origin) is wiped and refetched, not completed with the target's peaks", async () => {
    const other = await anySource(120, { prune: false, seed: 1n });
    const dir = scratchDir();
    const r1 = await syncAny({ directory: dir, target: { ...anyTarget(other.db), lowerBound: 0n }, resolver: new DbResolver(ANY_KIND, other.db) });
    await r1.database.close();
    const { db: server, keys } = await anySource(300, { prune: false, seed: 2n });
    // From location 0 (the source is unpruned), so that the local log is reused, not replaced.
    const target = { ...anyTarget(server), lowerBound: 0n };

    const logger = captureLogger();
    const r2 = await syncAny({ directory: dir, target, resolver: new DbResolver(ANY_KIND, server), fetchBatchSize: 7, logger });
    const client = r2.database;
    expect(hex(client.root())).toBe(hex(target.root));
    expectSameOperations(client, server, target.lowerBound, target.upperBound);
    expectSameValues(client, server, [...keys, ...anyWorkload(120, 1n).keys]);
    const wiped = logger.lines.find((l) => l.msg.startsWith("final root does not match the target; wiping"));
    expect(String((wiped?.obj as { err?: string } | undefined)?.err)).toMatch(/local operations before location \d+ are not the target's/);
    await client.close();
  });
});

// ------------------------------------------------------------------------------------------------
describe("any: target updates", () => {
  test("S06 (L06 policy) an update that lowers the lower bound is ignored with a log line; sync completes at the original target", async () => {
    const { res, first } = await anySyncIgnoring(50, (first, second) => ({ ...second, lowerBound: first.lowerBound - 1n }));
    expect(res.database.opCount).toBe(first.upperBound);
    await res.database.close();
  });

  test("S07 (L06 policy) an update that lowers the upper bound is ignored; sync completes at the original target", async () => {
    const { res } = await anySyncIgnoring(50, (first) => ({ root: digestOf("smaller"), lowerBound: first.lowerBound, upperBound: first.upperBound - 1n }));
    await res.database.close();
  });

  test("S08 an update queued before the first step (both bounds up, batch 1) → final root, op count and floor are the new target's", async () => {
    const { server, first, second, keys } = await evolvingAnySource(60, 40);
    expect(second.lowerBound).toBeGreaterThan(first.lowerBound);
    const queue = new TargetQueue();
    queue.push(second);
    const changed: SyncTarget[] = [];
    const res = await syncAny({
      directory: scratchDir(),
      target: first,
      resolver: new DbResolver(ANY_KIND, server),
      fetchBatchSize: 1,
      targetUpdates: queue,
      observer: { targetChanged: (t) => void changed.push(t) },
    });
    expect(changed).toEqual([second]);
    expect(res.target).toBe(second);
    const client = res.database;
    expect(hex(client.root())).toBe(hex(second.root));
    expect(client.opCount).toBe(second.upperBound);
    expect(client.inactivityFloorLoc).toBe(second.lowerBound);
    expectSameValues(client, server, keys);
    await client.close();
    await server.close();
  });

  test("S09 an update with lower > upper fails the sync with InvalidTarget", async () => {
    const { server, first, second } = await evolvingAnySource(100, 50);
    const queue = new TargetQueue();
    const { seen, observer } = pushAfterFirstApply(queue, first.lowerBound, {
      root: second.root,
      lowerBound: second.upperBound + 1n,
      upperBound: second.upperBound,
    });
    await expect(
      syncAny({ directory: scratchDir(), target: first, resolver: new DbResolver(ANY_KIND, server), fetchBatchSize: 2, targetUpdates: queue, observer }),
    ).rejects.toEqual(expectSyncError("InvalidTarget"));
    expect(seen.pushed).toBe(true);
    await server.close();
  });

  test("S10 an update arriving after the sync finished does not crash and does not change the result", async () => {
    const { server, first, second } = await evolvingAnySource(50, 20);
    const queue = new TargetQueue();
    let release!: () => void;
    const late = new Promise<void>((r) => (release = r));
    let finalized = false;
    async function* lateUpdates(): AsyncGenerator<SyncTarget> {
      try {
        await late;
        yield second;
      } finally {
        finalized = true;
      }
    }
    const r1 = await syncAny({ directory: scratchDir(), target: first, resolver: new DbResolver(ANY_KIND, server), targetUpdates: queue });
    expect(queue.push(second)).toBe(false); // the engine closed the stream
    const r2 = await syncAny({ directory: scratchDir(), target: first, resolver: new DbResolver(ANY_KIND, server), targetUpdates: lateUpdates() });
    release();
    await settle();
    expect(finalized).toBe(true);
    for (const r of [r1, r2]) {
      expect(r.target).toBe(first);
      expect(hex(r.database.root())).toBe(hex(first.root));
      r.database.update(digestOf("still usable"), digestOf("yes"));
      await r.database.commit();
      await r.database.close();
    }
    await server.close();
  });

  const S11: Array<[number, number]> = [
    [1, 1],
    [1, 2],
    [1, 100],
    [2, 1],
    [2, 2],
    [2, 100],
    [20, 10],
    [100, 1],
    [100, 2],
    [100, 100],
    [100, 1000],
  ];
  test.each(S11)(
    "S11 target update during sync (%i initial ops, %i more): final root is the new one; every op and MMR node equals the source's",
    async (initial, additional) => {
      const { server, first, second, keys } = await evolvingAnySource(initial, additional);
      expect(first.upperBound - first.lowerBound).toBeGreaterThan(1n); // the update lands mid-sync
      const queue = new TargetQueue();
      const { seen, observer } = pushAfterFirstApply(queue, first.lowerBound, second);
      const res = await syncAny({
        directory: scratchDir(),
        target: first,
        resolver: new DbResolver(ANY_KIND, server),
        fetchBatchSize: 1,
        maxOutstandingRequests: 10,
        targetUpdates: queue,
        observer,
      });
      expect(seen.changed).toEqual([second]);
      const client = res.database;
      expect(hex(client.root())).toBe(hex(second.root));
      expect(client.opCount).toBe(server.opCount);
      expect(client.inactivityFloorLoc).toBe(server.inactivityFloorLoc);
      expect(client.oldestRetainedLoc).toBe(server.inactivityFloorLoc);
      expectSameOperations(client, server, second.lowerBound, second.upperBound);
      expectSameMmrNodes(client, server, second.lowerBound, second.upperBound);
      expectSameValues(client, server, keys);
      await client.close();
      await server.close();
    },
  );

  test("S11 target update during sync whose new lower bound is below the local tip: verified ops are kept, nothing is fetched twice", async () => {
    const server = await AnyDb.open(scratchDir(), ANY_OPTS);
    const a = anyWorkload(300, 1n);
    await applyAll(server, a.ops);
    const first = anyTarget(server);
    const b = anyWorkload(12, 2n, "other keys");
    await applyAll(server, b.ops);
    const second = anyTarget(server);
    expect(second.lowerBound).toBeGreaterThan(first.lowerBound);
    expect(second.lowerBound).toBeLessThan(first.upperBound - 10n);
    const queue = new TargetQueue();
    const resolver = new RecordingResolver(new DbResolver(ANY_KIND, server));
    let sizeAtUpdate = 0n;
    const changed: SyncTarget[] = [];
    const res = await syncAny({
      directory: scratchDir(),
      target: first,
      resolver,
      fetchBatchSize: 1,
      targetUpdates: queue,
      observer: {
        applied: (_n, size) => {
          if (sizeAtUpdate === 0n && size >= second.lowerBound + 5n) {
            sizeAtUpdate = size;
            queue.push(second);
          }
        },
        targetChanged: (t) => void changed.push(t),
      },
    });
    expect(changed).toEqual([second]);
    expect(sizeAtUpdate).toBeLessThan(first.upperBound);
    const starts = resolver.served.map((s) => s.startLoc);
    expect(new Set(starts).size).toBe(starts.length);
    expect(BigInt(resolver.opsServed)).toBe(second.upperBound - first.lowerBound);
    expect(hex(res.database.root())).toBe(hex(second.root));
    expect(res.database.oldestRetainedLoc).toBe(second.lowerBound);
    expectSameMmrNodes(res.database, server, second.lowerBound, second.upperBound);
    expectSameValues(res.database, server, [...a.keys, ...b.keys]);
    await res.database.close();
    await server.close();
  });

  const S41 = [
    { name: "a valid (advancing) update is followed", make: (_f: SyncTarget, s: SyncTarget) => s, outcome: "followed" },
    { name: "lower > upper → InvalidTarget", make: (_f: SyncTarget, s: SyncTarget) => ({ ...s, lowerBound: s.upperBound + 5n }), outcome: "InvalidTarget" },
    {
      name: "a backwards move is ignored (L06 policy)",
      make: (f: SyncTarget, s: SyncTarget) => ({ root: s.root, lowerBound: f.lowerBound, upperBound: f.upperBound - 1n }),
      outcome: "ignored",
    },
    {
      name: "an advancing update with the same root → TargetRootUnchanged",
      make: (f: SyncTarget, s: SyncTarget) => ({ ...s, root: f.root }),
      outcome: "TargetRootUnchanged",
    },
  ] as const;
  test.each(S41)("S41 update validation: $name", async ({ make, outcome }) => {
    const { server, first, second } = await evolvingAnySource(80, 30);
    const queue = new TargetQueue();
    const { seen, observer } = pushAfterFirstApply(queue, first.lowerBound, make(first, second));
    const logger = captureLogger();
    const run = syncAny({
      directory: scratchDir(),
      target: first,
      resolver: new DbResolver(ANY_KIND, server),
      fetchBatchSize: 2,
      targetUpdates: queue,
      observer,
      logger,
    });
    if (outcome === "followed" || outcome === "ignored") {
      const res = await run;
      const want = outcome === "followed" ? second : first;
      expect(hex(res.database.root())).toBe(hex(want.root));
      expect(seen.changed).toHaveLength(outcome === "followed" ? 1 : 0);
      expect(logger.has("ignoring a target update")).toBe(outcome === "ignored");
      await res.database.close();
    } else {
      await expect(run).rejects.toEqual(expectSyncError(outcome));
    }
    expect(seen.pushed).toBe(true);
    await server.close();
  });

  test("S41 checkTarget rejects a short root, lower ≥ upper and upper > 2^62", () => {
    const root = digestOf("r");
    expect(() => checkTarget({ root, lowerBound: 0n, upperBound: 1n })).not.toThrow();
    expect(() => checkTarget({ root: root.subarray(0, 31), lowerBound: 0n, upperBound: 1n })).toThrow(expectSyncError("InvalidTarget"));
    expect(() => checkTarget({ root, lowerBound: 5n, upperBound: 5n })).toThrow(expectSyncError("InvalidTarget"));
    expect(() => checkTarget({ root, lowerBound: 0n, upperBound: MAX_LOCATION + 1n })).not.toThrow();
    expect(() => checkTarget({ root, lowerBound: 0n, upperBound: MAX_LOCATION + 2n })).toThrow(expectSyncError("InvalidTarget"));
  });

  test("L05 a prune-only update (same upper, higher lower, same root) is ignored; sync completes at the original target", async () => {
    const { res, first } = await anySyncIgnoring(10, (first) => ({ ...first, lowerBound: first.lowerBound + 3n }));
    expect(res.database.oldestRetainedLoc).toBe(first.lowerBound);
    await res.database.close();
  });

  test("L15 an update with an equal upper bound and a different root is ignored", async () => {
    const { res } = await anySyncIgnoring(10, (first) => ({ ...first, root: digestOf("another root") }));
    await res.database.close();
  });

  test("L04 after an update, a replayed old-size boundary response is rejected and does not advance the log; the fresh one completes it", async () => {
    const { server, first, second } = await evolvingAnySource(100, 2);
    // The update's lower bound is above the local tip, so the log restarts there and needs new pins.
    expect(second.lowerBound).toBeGreaterThan(first.lowerBound + 1n);
    expect(second.lowerBound).toBeLessThan(first.upperBound);
    let replayed = 0;
    const sizes: bigint[] = [];
    const resolver = new DbResolver(ANY_KIND, server, (b, req) => {
      if (req.opCount !== second.upperBound || b.startLoc !== second.lowerBound || replayed > 0) return b;
      replayed++;
      const old = server.historicalProof(first.upperBound, b.startLoc, BigInt(b.operations.length));
      return { startLoc: b.startLoc, proof: old.proof, operations: old.operations.map((op) => ANY_KIND.codec.encode(op)) };
    });
    const queue = new TargetQueue();
    const rejected: string[] = [];
    let pushed = false;
    const res = await syncAny({
      directory: scratchDir(),
      target: first,
      resolver,
      fetchBatchSize: 1,
      targetUpdates: queue,
      observer: {
        applied: (_n, size, t) => {
          sizes.push(size);
          if (!pushed && t === first && size === first.lowerBound + 1n) {
            pushed = true;
            queue.push(second);
          }
        },
        rejected: (r) => void rejected.push(r),
      },
    });
    expect(replayed).toBe(1);
    expect(rejected).toEqual(["wrong size"]);
    // After the update the first append is the fresh boundary batch: one op at the new lower bound.
    expect(sizes).toContain(second.lowerBound + 1n);
    expect(sizes.filter((s) => s > second.lowerBound).every((s, i, a) => i === 0 || s > a[i - 1]!)).toBe(true);
    expect(hex(res.database.root())).toBe(hex(second.root));
    await res.database.close();
    await server.close();
  });

  test("L13 an advancing update queued before start is taken even when the local copy already matches the old target", async () => {
    const { server, first, second } = await evolvingAnySource(100, 40);
    const dir = scratchDir();
    const r1 = await syncAny({ directory: dir, target: first, resolver: new DbResolver(ANY_KIND, server) });
    await r1.database.close();
    const queue = new TargetQueue();
    queue.push(second);
    const res = await syncAny({ directory: dir, target: first, resolver: new DbResolver(ANY_KIND, server), targetUpdates: queue });
    expect(res.target).toBe(second);
    expect(hex(res.database.root())).toBe(hex(second.root));
    await res.database.close();
    await server.close();
  });
});

// ------------------------------------------------------------------------------------------------
describe("immutable", () => {
  const S24: Array<[number, number]> = [
    [1, 1],
    [1, 2],
    [1000, 1],
    [1000, 3],
    [1000, 999],
    [1000, 100],
    [1000, 1000],
    [1000, 1001],
  ];
  test.each(S24)("S24 basic sync (%i ops, batch %i): root, op count, oldest retained, values, metadata; identical later sets agree", async (n, batch) => {
    const { db: server, keys } = await immSource(n, n >= 1000 ? 500n : 0n);
    const target = immutableTarget(server);
    const dir = scratchDir();
    const res = await syncImm({ directory: dir, target, resolver: new DbResolver(IMMUTABLE_KIND, server), fetchBatchSize: batch });
    const client = res.database;
    expect(hex(client.root())).toBe(hex(target.root));
    expect(client.opCount).toBe(target.upperBound);
    expect(client.oldestRetainedLoc).toBe(server.oldestRetainedLoc);
    expect(res.operationsFetched).toBe(target.upperBound - target.lowerBound);
    expect(hex(client.metadata)).toBe(hex(new Uint8Array(32).fill(1)));
    expectSameOperations(client, server, target.lowerBound, target.upperBound);
    expectSameValues(client, server, keys);
    const more = createImmutableTestOperations(12, 555n);
    await applyAll(client, more);
    await applyAll(server, more);
    expect(hex(client.root())).toBe(hex(server.root()));
    await client.close();
    await server.close();
  });

  test("S25 a target holding only a commit with metadata → metadata preserved", async () => {
    const server = await ImmutableDb.open(scratchDir(), IMM_OPTS);
    await server.commit(digestOf("the metadata"));
    const target = immutableTarget(server);
    expect(target).toMatchObject({ lowerBound: 0n, upperBound: 2n });
    const { database } = await syncImm({ directory: scratchDir(), target, resolver: new DbResolver(IMMUTABLE_KIND, server) });
    expect(hex(database.metadata)).toBe(hex(digestOf("the metadata")));
    expect(hex(database.root())).toBe(hex(target.root));
    await database.close();
    await server.close();
  });

  test("S26 persistence: reopen → same root, op count, oldest retained, every value", async () => {
    const { db: server, keys } = await immSource(200, 50n);
    const dir = scratchDir();
    const { database } = await syncImm({
      directory: dir,
      target: immutableTarget(server),
      resolver: new DbResolver(IMMUTABLE_KIND, server),
      fetchBatchSize: 8,
    });
    await expectSameAfterReopen(database, dir, server, keys);
    await server.close();
  });

  test("S27 update during sync, same lower, higher upper (batch 2, 10 outstanding) → new root", async () => {
    const server = await ImmutableDb.open(scratchDir(), IMM_OPTS);
    const a = createImmutableTestOperations(150, 1n);
    await applyAll(server, a);
    await server.prune(10n);
    const first = immutableTarget(server);
    const b = createImmutableTestOperations(60, 2n);
    await applyAll(server, b);
    const second = immutableTarget(server);
    expect(second.lowerBound).toBe(first.lowerBound);
    const queue = new TargetQueue();
    const { seen, observer } = pushAfterFirstApply(queue, first.lowerBound, second);
    const res = await syncImm({
      directory: scratchDir(),
      target: first,
      resolver: new DbResolver(IMMUTABLE_KIND, server),
      fetchBatchSize: 2,
      maxOutstandingRequests: 10,
      targetUpdates: queue,
      observer,
    });
    expect(seen.changed).toEqual([second]);
    expect(hex(res.database.root())).toBe(hex(second.root));
    expect(res.database.opCount).toBe(second.upperBound);
    expectSameOperations(res.database, server, second.lowerBound, second.upperBound);
    expectSameValues(res.database, server, [...immutableKeys(a), ...immutableKeys(b)]);
    await res.database.close();
    await server.close();
  });

  test("S28 empty initial range 31..31 → InvalidTarget", async () => {
    const { db: server } = await immSource(30);
    await expect(
      syncImm({ directory: scratchDir(), target: { root: server.root(), lowerBound: 31n, upperBound: 31n }, resolver: new DbResolver(IMMUTABLE_KIND, server) }),
    ).rejects.toEqual(expectSyncError("InvalidTarget"));
    await server.close();
  });

  test("S29 sync a prefix of a larger source", async () => {
    const { db: server } = await immSource(100);
    const target = immutableTarget(server);
    const extra = digestOf("late key");
    server.set(extra, digestOf("late value"));
    await server.commit();
    const { database } = await syncImm({ directory: scratchDir(), target, resolver: new DbResolver(IMMUTABLE_KIND, server), fetchBatchSize: 9 });
    expect(hex(database.root())).toBe(hex(target.root));
    expect(database.opCount).toBe(target.upperBound);
    expect(database.get(extra)).toBeUndefined();
    expect(server.get(extra)).toBeDefined();
    await database.close();
    await server.close();
  });

  test("S30 resume, partial local match: only the missing suffix is fetched", async () => {
    const a = createImmutableTestOperations(120, 1n);
    const b = createImmutableTestOperations(40, 2n);
    const { server, dir, heldOps: held } = await sourceWithPartialCopy((d) => ImmutableDb.open(d, IMM_OPTS), a, b);
    const target = immutableTarget(server);
    const resolver = new RecordingResolver(new DbResolver(IMMUTABLE_KIND, server));
    const res = await syncImm({ directory: dir, target, resolver, fetchBatchSize: 7 });
    expect(res.operationsReused).toBe(held - target.lowerBound);
    expect(res.operationsFetched).toBe(target.upperBound - held);
    expect(resolver.served.every((s) => s.startLoc >= held)).toBe(true);
    expect(BigInt(resolver.opsServed)).toBe(target.upperBound - held);
    expect(hex(res.database.root())).toBe(hex(target.root));
    expectSameValues(res.database, server, [...immutableKeys(a), ...immutableKeys(b)]);
    await res.database.close();
    await server.close();
  });

  test("S31 resume, exact local match → zero requests to an always-failing resolver", async () => {
    const ops = createImmutableTestOperations(120, 1n);
    const server = await ImmutableDb.open(scratchDir(), IMM_OPTS);
    await applyAll(server, ops);
    await server.prune(40n);
    const dir = scratchDir();
    const local = await ImmutableDb.open(dir, IMM_OPTS);
    await applyAll(local, ops);
    await local.prune(40n);
    await local.close();
    const resolver = new DbResolver(IMMUTABLE_KIND, server);
    resolver.failWith = new ResolverError("must not be called", false);
    const target = immutableTarget(server);
    const res = await syncImm({ directory: dir, target, resolver });
    expect(resolver.calls).toBe(0);
    expect(res.operationsFetched).toBe(0n);
    expect(hex(res.database.root())).toBe(hex(target.root));
    expectSameValues(res.database, server, immutableKeys(ops));
    await res.database.close();
    await server.close();
  });

  async function evolvingImm(): Promise<{ server: ImmutableDb; first: SyncTarget; second: SyncTarget }> {
    const server = await ImmutableDb.open(scratchDir(), IMM_OPTS);
    await applyAll(server, createImmutableTestOperations(100, 1n));
    await server.prune(20n);
    const first = immutableTarget(server);
    await applyAll(server, createImmutableTestOperations(30, 2n));
    return { server, first, second: immutableTarget(server) };
  }

  test("S32 (L06 policy) an update lowering the lower bound is ignored", async () => {
    const { server, first, second } = await evolvingImm();
    // The second target's root and upper, with a lower bound below the first's: non-advancing.
    const update = { ...second, lowerBound: first.lowerBound - 5n };
    const res = await syncIgnoring(
      (o) => syncImm({ directory: scratchDir(), resolver: new DbResolver(IMMUTABLE_KIND, server), fetchBatchSize: 3, ...o }),
      first,
      update,
    );
    await res.database.close();
    await server.close();
  });

  test("S33 (L06 policy) an update lowering the upper bound is ignored", async () => {
    const { server, first } = await evolvingImm();
    const update = { root: digestOf("x"), lowerBound: first.lowerBound, upperBound: first.upperBound - 2n };
    const res = await syncIgnoring(
      (o) => syncImm({ directory: scratchDir(), resolver: new DbResolver(IMMUTABLE_KIND, server), fetchBatchSize: 3, ...o }),
      first,
      update,
    );
    await res.database.close();
    await server.close();
  });

  test("S34 both bounds increase after the source pruned to loc 10: old-size requests go to a peer with the old data, new ones to the pruned source", async () => {
    const a = createImmutableTestOperations(60, 1n);
    const b = createImmutableTestOperations(40, 2n);
    const old = await ImmutableDb.open(scratchDir(), IMM_OPTS);
    await applyAll(old, a);
    const first = immutableTarget(old);
    expect(first.lowerBound).toBe(0n);
    const current = await ImmutableDb.open(scratchDir(), IMM_OPTS);
    await applyAll(current, [...a, ...b]);
    await current.prune(10n);
    const second = immutableTarget(current);
    expect(second.lowerBound).toBe(10n);
    const oldPeer = new DbResolver(IMMUTABLE_KIND, old);
    const newPeer = new RecordingResolver(new DbResolver(IMMUTABLE_KIND, current));
    const resolver = { fetch: (req: FetchRequest, signal: AbortSignal) => (req.opCount === first.upperBound ? oldPeer : newPeer).fetch(req, signal) };
    const queue = new TargetQueue();
    const { seen, observer } = pushAfterFirstApply(queue, first.lowerBound, second);
    const res = await syncImm({ directory: scratchDir(), target: first, resolver, fetchBatchSize: 2, targetUpdates: queue, observer });
    expect(seen.changed).toEqual([second]);
    expect(newPeer.served.every((s) => s.startLoc >= 10n)).toBe(true);
    expect(hex(res.database.root())).toBe(hex(second.root));
    expect(res.database.opCount).toBe(second.upperBound);
    expect(res.database.oldestRetainedLoc).toBe(10n);
    expectSameOperations(res.database, current, 10n, second.upperBound);
    expectSameValues(res.database, current, [...immutableKeys(a), ...immutableKeys(b)]);
    await res.database.close();
    await old.close();
    await current.close();
  });

  test("S35 an update with lower > upper → InvalidTarget", async () => {
    const { server, first, second } = await evolvingImm();
    const queue = new TargetQueue();
    const { observer } = pushAfterFirstApply(queue, first.lowerBound, { ...second, lowerBound: second.upperBound, upperBound: second.lowerBound });
    await expect(
      syncImm({ directory: scratchDir(), target: first, resolver: new DbResolver(IMMUTABLE_KIND, server), fetchBatchSize: 3, targetUpdates: queue, observer }),
    ).rejects.toEqual(expectSyncError("InvalidTarget"));
    await server.close();
  });

  test("S36 an update after completion → no crash, result unchanged", async () => {
    const { server, first, second } = await evolvingImm();
    const queue = new TargetQueue();
    const res = await syncImm({ directory: scratchDir(), target: first, resolver: new DbResolver(IMMUTABLE_KIND, server), targetUpdates: queue });
    queue.push(second);
    await settle();
    expect(res.target).toBe(first);
    expect(hex(res.database.root())).toBe(hex(first.root));
    await res.database.close();
    await server.close();
  });

  test("L16 immutable sync with a non-zero lower bound: nothing below it is held; keys set above it are all readable", async () => {
    const { db: server, keys } = await immSource(150, 35n);
    const target = immutableTarget(server);
    expect(target.lowerBound).toBe(35n);
    const { database } = await syncImm({ directory: scratchDir(), target, resolver: new DbResolver(IMMUTABLE_KIND, server), fetchBatchSize: 4 });
    expect(database.oldestRetainedLoc).toBe(35n);
    expect(() => database.operation(34n)).toThrow(/outside the retained range/);
    const absent = expectSameValues(database, server, keys);
    expect(absent).toBeGreaterThan(0); // keys set below the lower bound are gone on both sides
    expect(hex(database.root())).toBe(hex(target.root));
    await database.close();
    await server.close();
  });
});

// ------------------------------------------------------------------------------------------------
describe("example unit tests that concern the engine's inputs", () => {
  test("S56 any test-op generator: 5 updates → 6 ops ending in a commit with floor 5; deterministic per seed, different across seeds", () => {
    const ops = createAnyTestOperations(5, 7n);
    expect(ops).toHaveLength(6);
    expect(ops.slice(0, 5).every((o) => o.type === "update")).toBe(true);
    expect(ops[5]).toEqual({ type: "commitFloor", metadata: undefined, floorLoc: 5n });
    expect(createAnyTestOperations(5, 7n)).toEqual(ops);
    expect(createAnyTestOperations(5, 8n)).not.toEqual(ops);
  });
});

// A rejected promise nobody handles (e.g. from a cancelled request) fails the file.
failOnUnhandledRejections();
