/**
 * Adversarial peers and lying targets (issue 5, "It must show"): every tampering is rejected and
 * nothing unverified is kept. Each tampering runs twice per database kind: once (only the first
 * affected batch is bad, so an honest re-request completes the sync) and persistently (the sync
 * fails with InvalidResponse naming the reason, the local directory holds exactly the operations
 * verified before the tampering, and an honest sync then reuses them and reaches the root).
 */
import { type Proof, mmrSize, verifyRangeInclusion } from "../mmr";
import {
  ANY_KIND,
  AnyDb,
  type AnyOperation,
  createImmutableTestOperations,
  type DbKind,
  type DbOptions,
  IMMUTABLE_KIND,
  ImmutableDb,
  type ProvenOperations,
  SyncLog,
} from "../qmdb";
import { type FetchedBatch, type FetchRequest, type Resolver, ResolverError, syncDatabase, type SyncOptions, type SyncResult, type SyncTarget } from ".";
import type { Storage } from "../journal";
import { DbResolver, type Tamper } from "../../test/helpers/db-resolver";
import {
  ANY_OPTS,
  anyTarget,
  anyWorkload,
  applyAll,
  captureLogger,
  digestOf,
  evolvingAnySource,
  failOnUnhandledRejections,
  expectSyncedTo,
  expectSameValues,
  FAST_RETRY,
  hex,
  IMM_OPTS,
  immutableKeys,
  immutableTarget,
  RecordingResolver,
  scratchDir,
} from "../../test/helpers/sync-harness";
import { closeAfterTest } from "../../test/helpers/tmp";

const BATCH = 8;
const MAX_INVALID = 5;

interface Synced {
  root(): Uint8Array;
  close(): Promise<void>;
  get(key: Uint8Array): Uint8Array | undefined;
}

/** One source database of either kind and how to sync from it. */
interface Fixture {
  readonly name: "any" | "immutable";
  readonly target: SyncTarget;
  readonly keys: Uint8Array[];
  readonly server: Synced & { historicalProof(opCount: bigint, start: bigint, max: bigint): ProvenOperations<unknown> };
  /** Canonical encoding of the source's operations. */
  encode(op: unknown): Uint8Array;
  resolver(tamper?: Tamper): DbResolver<unknown, unknown>;
  sync(o: Omit<SyncOptions<unknown, Synced>, "kind" | "target"> & { target?: SyncTarget }): Promise<SyncResult<Synced>>;
  /** Opens the local log as a restarted sync would, for inspection (close it after). */
  openLog(dir: string): Promise<SyncLog<unknown, Synced>>;
}

async function fixture(name: "any" | "immutable"): Promise<Fixture> {
  let kind: DbKind<unknown, Synced>;
  let dbOptions: DbOptions;
  let server: Fixture["server"];
  let target: SyncTarget;
  let keys: Uint8Array[];
  if (name === "any") {
    const db = closeAfterTest(await AnyDb.open(scratchDir(), ANY_OPTS));
    const w = anyWorkload(300, 1n);
    await applyAll(db, w.ops);
    await db.prune(db.inactivityFloorLoc);
    [kind, dbOptions, server, target, keys] = [ANY_KIND as unknown as DbKind<unknown, Synced>, ANY_OPTS, db, anyTarget(db), w.keys];
  } else {
    const db = closeAfterTest(await ImmutableDb.open(scratchDir(), IMM_OPTS));
    const ops = createImmutableTestOperations(250, 1n);
    await applyAll(db, ops);
    await db.prune(50n);
    [kind, dbOptions, server, target, keys] = [IMMUTABLE_KIND as unknown as DbKind<unknown, Synced>, IMM_OPTS, db, immutableTarget(db), immutableKeys(ops)];
  }
  expect(target.lowerBound).toBeGreaterThan(0n);
  return {
    name,
    target,
    keys,
    server,
    encode: (op) => kind.codec.encode(op),
    resolver: (tamper) => new DbResolver(kind, server, tamper),
    sync: (o) => syncDatabase<unknown, Synced>({ kind, dbOptions, retry: FAST_RETRY, fetchBatchSize: BATCH, target, ...o }),
    openLog: (dir) => SyncLog.open(kind, dir, target.lowerBound, target.upperBound, dbOptions),
  };
}

const flip = (b: Uint8Array, i: number): Uint8Array => {
  const c = Uint8Array.from(b);
  c[i % c.length]! ^= 0x01;
  return c;
};
const proven = (fx: Fixture, opCount: bigint, start: bigint, n: bigint): { proof: Proof; operations: Uint8Array[] } => {
  const p = fx.server.historicalProof(opCount, start, n);
  return { proof: p.proof, operations: p.operations.map((op) => fx.encode(op)) };
};

interface Mutation {
  readonly name: string;
  /** The reason the engine must name. */
  readonly reason: string;
  /** Tamper with the first batch (the one that carries the pinned nodes) instead of a later one. */
  readonly atBoundary?: boolean;
  mutate(b: FetchedBatch, req: FetchRequest, fx: Fixture): FetchedBatch;
}

const MUTATIONS: Mutation[] = [
  {
    name: "flipped byte in an operation",
    reason: "bad proof",
    mutate: (b) => ({ ...b, operations: b.operations.map((op, i) => (i === 3 ? flip(op, 7) : op)) }),
  },
  {
    name: "flipped byte in an operation of the boundary batch",
    reason: "bad proof",
    atBoundary: true,
    mutate: (b) => ({ ...b, operations: b.operations.map((op, i) => (i === 0 ? flip(op, 7) : op)) }),
  },
  {
    name: "wrong proof digest",
    reason: "bad proof",
    mutate: (b) => ({ ...b, proof: { size: b.proof.size, digests: b.proof.digests.map((d, i) => (i === 0 ? flip(d, 0) : d)) } }),
  },
  {
    name: "L03 wrong pinned node in the boundary proof",
    reason: "bad proof",
    atBoundary: true,
    mutate: (b) => ({ ...b, proof: { size: b.proof.size, digests: b.proof.digests.map((d, i) => (i === 0 ? flip(d, 31) : d)) } }),
  },
  {
    name: "extra operation (the real next one) under a proof for one fewer",
    reason: "bad proof",
    mutate: (b, req, fx) => {
      const n = BigInt(b.operations.length);
      const shorter = proven(fx, req.opCount, b.startLoc, n - 1n);
      return { startLoc: b.startLoc, proof: shorter.proof, operations: [...shorter.operations, b.operations[b.operations.length - 1]!] };
    },
  },
  { name: "extra operation beyond the batch size", reason: "oversize", mutate: (b) => ({ ...b, operations: [...b.operations, b.operations[0]!] }) },
  { name: "missing last operation", reason: "bad proof", mutate: (b) => ({ ...b, operations: b.operations.slice(0, -1) }) },
  { name: "missing first operation (data shifted under the same start)", reason: "bad proof", mutate: (b) => ({ ...b, operations: b.operations.slice(1) }) },
  { name: "wrong start", reason: "wrong start", mutate: (b) => ({ ...b, startLoc: b.startLoc + 1n }) },
  {
    name: "an honest batch for a later start",
    reason: "wrong start",
    mutate: (b, req, fx) => ({ startLoc: b.startLoc + 1n, ...proven(fx, req.opCount, b.startLoc + 1n, BigInt(b.operations.length)) }),
  },
  { name: "lying proof size", reason: "wrong size", mutate: (b, req) => ({ ...b, proof: { size: mmrSize(req.opCount + 1n), digests: b.proof.digests } }) },
  {
    name: "an honest proof for an older op count",
    reason: "wrong size",
    mutate: (b, req, fx) => ({ startLoc: b.startLoc, ...proven(fx, req.opCount - 1n, b.startLoc, BigInt(b.operations.length)) }),
  },
  {
    name: "oversize batch (valid proof for batch size + 1 ops)",
    reason: "oversize",
    mutate: (b, req, fx) => ({ startLoc: b.startLoc, ...proven(fx, req.opCount, b.startLoc, BigInt(BATCH + 1)) }),
  },
  { name: "L01 empty batch", reason: "wrong count", mutate: (b) => ({ ...b, operations: [] }) },
  {
    name: "an operation with a trailing byte",
    reason: "bad proof",
    mutate: (b) => ({ ...b, operations: b.operations.map((op, i) => (i === 2 ? Uint8Array.from([...op, 0]) : op)) }),
  },
  {
    // commonware's verifier accepts one surplus digest equal to the last peak taken from the front
    // (its two cursors compare values); such a proof verifies but has no well-defined pinned nodes.
    name: "boundary proof with a surplus duplicated digest (verifies, but pins cannot be extracted)",
    reason: "bad proof",
    atBoundary: true,
    mutate: (b, _req, fx) => {
      const d = b.proof.digests;
      for (let i = 1; i <= d.length; i++) {
        const digests = [...d.slice(0, i), d[i - 1]!, ...d.slice(i)];
        const proof = { size: b.proof.size, digests };
        if (verifyRangeInclusion(proof, b.operations, b.startLoc, fx.target.root)) return { ...b, proof };
      }
      throw new Error("no malleable variant of this proof verifies");
    },
  },
];

/** A tamper hook hitting batches from `from` on: once, or every time. */
function tamperFrom(fx: Fixture, m: Mutation, from: bigint, persistent: boolean): { hook: Tamper; hits: () => number } {
  let hits = 0;
  const hook: Tamper = (b, req) => {
    if (b.startLoc < from || (!persistent && hits > 0)) return b;
    hits++;
    return m.mutate(b, req, fx);
  };
  return { hook, hits: () => hits };
}

/** Sync records: rejected reasons and the local size after each append. */
function recorder() {
  const rec = { rejected: [] as string[], lastSize: -1n };
  return { rec, observer: { rejected: (r: string) => void rec.rejected.push(r), applied: (_n: number, size: bigint) => void (rec.lastSize = size) } };
}

describe.each(["any", "immutable"] as const)("%s: tampering peers", (kindName) => {
  test.each(MUTATIONS)("$name: rejected once, an honest re-request completes the sync", async (m) => {
    const fx = await fixture(kindName);
    const from = m.atBoundary ? fx.target.lowerBound : fx.target.lowerBound + BigInt(2 * BATCH);
    const t = tamperFrom(fx, m, from, false);
    const resolver = new RecordingResolver(fx.resolver(t.hook));
    const { rec, observer } = recorder();
    const res = await fx.sync({ directory: scratchDir(), resolver, observer });
    expect(t.hits()).toBe(1);
    expect(rec.rejected).toEqual([m.reason]);
    expect(hex(res.database.root())).toBe(hex(fx.target.root));
    expect(res.retriedFromScratch).toBe(false);
    expectSameValues(res.database, fx.server, fx.keys);
    // The rejected range was asked for again, from the first location not yet verified.
    expect(resolver.requests.slice(0, 2).map((r) => r.startLoc)).toEqual([fx.target.lowerBound, from]);
    await res.database.close();
    await fx.server.close();
  });

  test.each(MUTATIONS)("$name: persistent → InvalidResponse naming it; only verified ops are kept; an honest sync resumes from them", async (m) => {
    const fx = await fixture(kindName);
    const from = m.atBoundary ? fx.target.lowerBound : fx.target.lowerBound + BigInt(2 * BATCH);
    const t = tamperFrom(fx, m, from, true);
    const { rec, observer } = recorder();
    const dir = scratchDir();
    await expect(fx.sync({ directory: dir, resolver: fx.resolver(t.hook), observer })).rejects.toEqual(
      expect.objectContaining({ name: "SyncError", kind: "InvalidResponse", message: expect.stringContaining(m.reason) }),
    );
    expect(rec.rejected).toEqual(Array(MAX_INVALID + 1).fill(m.reason));
    const verified = m.atBoundary ? fx.target.lowerBound : from;
    expect(rec.lastSize === -1n ? fx.target.lowerBound : rec.lastSize).toBe(verified);

    const log = await fx.openLog(dir);
    expect(log.size).toBeLessThanOrEqual(verified);
    const held = log.size - log.start;
    await log.close();

    const honest = new RecordingResolver(fx.resolver());
    const res = await fx.sync({ directory: dir, resolver: honest });
    expect(res.retriedFromScratch).toBe(false);
    expect(res.operationsReused).toBe(held);
    expect(honest.served.every((s) => s.startLoc >= fx.target.lowerBound + held)).toBe(true);
    expect(hex(res.database.root())).toBe(hex(fx.target.root));
    expectSameValues(res.database, fx.server, fx.keys);
    await res.database.close();
    await fx.server.close();
  });
});

describe("invalid-data budget and concurrency", () => {
  test("maxInvalidResponses is configurable: with 2, the third invalid batch fails the sync", async () => {
    const fx = await fixture("any");
    const t = tamperFrom(fx, MUTATIONS[0]!, fx.target.lowerBound + BigInt(BATCH), true);
    const { rec, observer } = recorder();
    await expect(fx.sync({ directory: scratchDir(), resolver: fx.resolver(t.hook), observer, maxInvalidResponses: 2 })).rejects.toEqual(
      expect.objectContaining({ kind: "InvalidResponse", message: expect.stringMatching(/3 times.*bad proof/) }),
    );
    expect(rec.rejected).toEqual(["bad proof", "bad proof", "bad proof"]);
    await fx.server.close();
  });

  test("with 4 concurrent streams, a tampered batch on one stream is re-requested while the others' verified batches are kept", async () => {
    const fx = await fixture("any");
    const from = fx.target.lowerBound + 40n; // inside the third stream's range
    const t = tamperFrom(fx, MUTATIONS[0]!, from, false);
    const resolver = new RecordingResolver(fx.resolver(t.hook));
    const { rec, observer } = recorder();
    const res = await fx.sync({ directory: scratchDir(), resolver, observer, maxOutstandingRequests: 4, requestOps: 20 });
    expect(rec.rejected).toEqual(["bad proof"]);
    expect(hex(res.database.root())).toBe(hex(fx.target.root));
    // Every location was delivered exactly once, except the re-requested tail of the tampered stream.
    const delivered = new Map<bigint, number>();
    for (const b of resolver.served) delivered.set(b.startLoc, (delivered.get(b.startLoc) ?? 0) + 1);
    expect([...delivered].filter(([, c]) => c > 1).map(([l]) => l)).toEqual([from]);
    await res.database.close();
    await fx.server.close();
  });
});

// ------------------------------------------------------------------------------------------------
describe("lying targets", () => {
  const twoTargets = () => evolvingAnySource(200, 30, "other");
  const sync = (o: Omit<SyncOptions<AnyOperation, AnyDb>, "kind">) =>
    syncDatabase<AnyOperation, AnyDb>({ kind: ANY_KIND, dbOptions: ANY_OPTS, retry: FAST_RETRY, fetchBatchSize: BATCH, ...o });

  /** After a failed sync to `lying`, the local log holds nothing, and an honest sync reaches `honest`. */
  async function expectNothingKeptThenHonest(dir: string, lying: SyncTarget, honest: SyncTarget, server: AnyDb): Promise<void> {
    const log = await SyncLog.open(ANY_KIND, dir, lying.lowerBound, lying.upperBound, ANY_OPTS);
    expect(log.size).toBe(log.start);
    await log.close();
    const res = await sync({ directory: dir, target: honest, resolver: new DbResolver(ANY_KIND, server) });
    expect(hex(res.database.root())).toBe(hex(honest.root));
    await res.database.close();
  }

  test("an upper bound the root does not commit to (larger): no proof verifies → InvalidResponse (bad proof); nothing kept", async () => {
    // The root commits to the MMR size, so no peer can make a batch verify: the sync fails before
    // any op is kept (a RootMismatch is not reachable this way).
    const { server, first, second } = await twoTargets();
    const lying = { ...first, upperBound: second.upperBound };
    const dir = scratchDir();
    const { rec, observer } = recorder();
    await expect(sync({ directory: dir, target: lying, resolver: new DbResolver(ANY_KIND, server), observer })).rejects.toEqual(
      expect.objectContaining({ kind: "InvalidResponse", message: expect.stringContaining("bad proof") }),
    );
    expect(rec.lastSize).toBe(-1n);
    expect(rec.rejected).toEqual(Array(MAX_INVALID + 1).fill("bad proof"));
    await expectNothingKeptThenHonest(dir, lying, second, server);
    await server.close();
  });

  test("an upper bound the root does not commit to (smaller) → InvalidResponse (bad proof); nothing kept", async () => {
    const { server, first, second } = await twoTargets();
    const lying = { ...second, upperBound: first.upperBound, lowerBound: first.lowerBound };
    const dir = scratchDir();
    await expect(sync({ directory: dir, target: lying, resolver: new DbResolver(ANY_KIND, server) })).rejects.toEqual(
      expect.objectContaining({ kind: "InvalidResponse", message: expect.stringContaining("bad proof") }),
    );
    await expectNothingKeptThenHonest(dir, lying, first, server);
    await server.close();
  });

  test("a lower bound above the last commit's floor that hides a live key → HiddenLiveKeys; an honest sync then succeeds", async () => {
    const { server, first } = await twoTargets();
    // A live update between the floor and the upper bound: a lower bound just past it hides its key.
    let hidden = -1n;
    for (let loc = first.lowerBound; loc < first.upperBound && hidden < 0n; loc++) {
      const op = server.operation(loc);
      if (op.type === "update" && hex(server.get(op.key)) === hex(op.value)) hidden = loc;
    }
    expect(hidden).toBeGreaterThanOrEqual(0n);
    const lying = { ...first, lowerBound: hidden + 1n };
    const dir = scratchDir();
    await expect(sync({ directory: dir, target: lying, resolver: new DbResolver(ANY_KIND, server) })).rejects.toEqual(
      expect.objectContaining({ name: "SyncError", kind: "HiddenLiveKeys" }),
    );
    const res = await sync({ directory: dir, target: first, resolver: new DbResolver(ANY_KIND, server) });
    expect(hex(res.database.root())).toBe(hex(first.root));
    // The final state (including the key the lie would have hidden) matches the source at `first`.
    const op = server.operation(hidden);
    if (op.type !== "update") throw new Error("unreachable");
    expect(hex(res.database.get(op.key))).toBe(hex(op.value));
    expect(res.database.inactivityFloorLoc).toBe(first.lowerBound);
    await res.database.close();
    await server.close();
  });

  test("a lower bound below the floor is harmless: the synced floor is the one recorded in the last commit", async () => {
    const { server, second, keys } = await twoTargets();
    const target = { ...second, lowerBound: second.lowerBound - 7n };
    const res = await sync({ directory: scratchDir(), target, resolver: new DbResolver(ANY_KIND, server) });
    await expectSyncedTo(res.database, second, server, keys);
    await server.close();
  });

  test("a target whose op at upper − 1 is not a commit → InvalidTarget", async () => {
    const { server } = await twoTargets();
    server.update(digestOf("uncommitted"), digestOf("v"));
    const target = anyTarget(server); // root over an uncommitted tail
    await expect(sync({ directory: scratchDir(), target, resolver: new DbResolver(ANY_KIND, server) })).rejects.toEqual(
      expect.objectContaining({ name: "SyncError", kind: "InvalidTarget", message: expect.stringContaining("not a commit") }),
    );
    await server.close();
  });

  test("immutable: a target whose op at upper − 1 is not a commit → InvalidTarget", async () => {
    const server = await ImmutableDb.open(scratchDir(), IMM_OPTS);
    await applyAll(server, createImmutableTestOperations(40, 1n));
    server.set(digestOf("uncommitted"), digestOf("v"));
    await expect(
      syncDatabase({
        kind: IMMUTABLE_KIND,
        dbOptions: IMM_OPTS,
        retry: FAST_RETRY,
        directory: scratchDir(),
        target: immutableTarget(server),
        resolver: new DbResolver(IMMUTABLE_KIND, server),
      }),
    ).rejects.toEqual(expect.objectContaining({ name: "SyncError", kind: "InvalidTarget", message: expect.stringContaining("not a commit") }));
    await server.close();
  });

  test("a divergent local copy (same size range, other history) → root mismatch, wipe, one retry from scratch succeeds", async () => {
    const { server, second, keys } = await twoTargets();
    const dir = scratchDir();
    const other = await AnyDb.open(dir, ANY_OPTS);
    await applyAll(other, anyWorkload(180, 9n).ops);
    expect(other.opCount).toBeGreaterThan(second.lowerBound);
    expect(other.opCount).toBeLessThan(second.upperBound);
    await other.close();
    const logger = captureLogger();
    const resolver = new RecordingResolver(new DbResolver(ANY_KIND, server));
    const res = await sync({ directory: dir, target: second, resolver, logger });
    expect(res.retriedFromScratch).toBe(true);
    expect(res.operationsReused).toBe(0n);
    expect(logger.lines.some((l) => l.level === "warn" && /root does not match.*from scratch/.test(l.msg))).toBe(true);
    expect(hex(res.database.root())).toBe(hex(second.root));
    expectSameValues(res.database, server, keys);
    await res.database.close();
    await server.close();
  });

  test("a second root mismatch after the retry from scratch → RootMismatch with both roots", async () => {
    // A database build that always reports a wrong root stands in for a mismatch no retry can fix.
    const { server, first } = await twoTargets();
    let builds = 0;
    const lyingKind = {
      ...ANY_KIND,
      open: async (root: string | Storage, options: DbOptions) => {
        builds++;
        const db = await ANY_KIND.open(root, options);
        db.root = () => new Uint8Array(32).fill(0xee);
        return db;
      },
    };
    const dir = scratchDir();
    const err = await syncDatabase({
      kind: lyingKind,
      dbOptions: ANY_OPTS,
      retry: FAST_RETRY,
      directory: dir,
      target: first,
      resolver: new DbResolver(ANY_KIND, server),
    }).catch((e: unknown) => e);
    expect(err).toEqual(expect.objectContaining({ name: "SyncError", kind: "RootMismatch" }));
    expect((err as { details: unknown }).details).toEqual({ expected: hex(first.root), actual: "ee".repeat(32) });
    expect(builds).toBe(2);
    await server.close();
  });
});

// ------------------------------------------------------------------------------------------------
describe("non-canonical proofs", () => {
  test.each([
    ["a sibling digest", false],
    ["a pinned node of the boundary proof", true],
  ] as const)("an over-long (33-byte) %s is rejected or provably harmless: stored state and later roots are exact", async (_what, atBoundary) => {
    // The gRPC decoder rejects digests that are not 32 bytes; this checks the engine on its own.
    const fx = await fixture("any");
    const from = atBoundary ? fx.target.lowerBound : fx.target.lowerBound + BigInt(2 * BATCH);
    const longer: Mutation = {
      name: "33-byte digest",
      reason: "",
      mutate: (b) => ({ ...b, proof: { size: b.proof.size, digests: b.proof.digests.map((d, i) => (i === 0 ? Uint8Array.from([...d, 0xab]) : d)) } }),
    };
    const dir = scratchDir();
    const { rec, observer } = recorder();
    const res = await fx.sync({ directory: dir, resolver: fx.resolver(tamperFrom(fx, longer, from, false).hook), observer });
    expect(rec.rejected.length).toBeLessThanOrEqual(1);
    expect(hex(res.database.root())).toBe(hex(fx.target.root));
    await res.database.close();
    const reopened = await AnyDb.open(dir, ANY_OPTS);
    expect(hex(reopened.root())).toBe(hex(fx.target.root));
    const p = reopened.historicalProof(fx.target.upperBound, fx.target.lowerBound, 4n).proof;
    expect(p.digests.every((d) => d.length === 32)).toBe(true);
    expect(p).toEqual(fx.server.historicalProof(fx.target.upperBound, fx.target.lowerBound, 4n).proof);
    await reopened.close();
    await fx.server.close();
  });
});

// ------------------------------------------------------------------------------------------------
describe("unresponsive peers", () => {
  /** A resolver whose first `stalls` fetches deliver nothing until aborted, then end as the contract asks. */
  function stallingResolver(honest: Resolver | undefined, stalls: number, onAbort: "return" | "throw") {
    const state = { calls: 0, aborted: 0 };
    const resolver: Resolver = {
      fetch(req, signal) {
        if (++state.calls > stalls && honest !== undefined) return honest.fetch(req, signal);
        // eslint-disable-next-line require-yield -- a stalled peer yields nothing, by design
        return (async function* stall(): AsyncGenerator<FetchedBatch> {
          await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
          state.aborted++;
          if (onAbort === "throw") throw new Error("aborted");
        })();
      },
    };
    return { resolver, state };
  }

  test("a request that delivers nothing within requestTimeoutMs is cancelled and retried", async () => {
    const server = await AnyDb.open(scratchDir(), ANY_OPTS);
    await applyAll(server, anyWorkload(80, 1n).ops);
    const { resolver, state } = stallingResolver(new DbResolver(ANY_KIND, server), 1, "return");
    const res = await syncDatabase({
      kind: ANY_KIND,
      dbOptions: ANY_OPTS,
      directory: scratchDir(),
      target: anyTarget(server),
      resolver,
      retry: { ...FAST_RETRY, requestTimeoutMs: 30 },
    });
    expect(state.aborted).toBe(1);
    expect(hex(res.database.root())).toBe(hex(server.root()));
    await res.database.close();
    await server.close();
  });

  test("a peer that stays silent (its stream ends quietly when the engine aborts it) → ResolverFailed after retry.maxAttempts", async () => {
    // Both DbResolver and the gRPC resolver end their stream without an error when the signal
    // aborts, which is what the Resolver contract asks ("stop promptly when signal aborts").
    const server = await AnyDb.open(scratchDir(), ANY_OPTS);
    await applyAll(server, anyWorkload(20, 1n).ops);
    const { resolver, state } = stallingResolver(undefined, Infinity, "return");
    const retrying: string[] = [];
    const err = await syncDatabase({
      kind: ANY_KIND,
      dbOptions: ANY_OPTS,
      directory: scratchDir(),
      target: anyTarget(server),
      resolver,
      retry: { ...FAST_RETRY, requestTimeoutMs: 10, maxAttempts: 3 },
      observer: { retrying: (r) => void retrying.push(r) },
      signal: AbortSignal.timeout(1500), // a safety net so a livelock fails this test instead of hanging the file
    }).catch((e: unknown) => e);
    expect({ calls: state.calls, retrying: retrying.length, error: (err as Error).message }).toEqual({
      calls: 3,
      retrying: 2,
      error: expect.stringMatching(/^ResolverFailed: 3 consecutive requests failed; last: no data for 10 ms/),
    });
    await server.close();
  });

  test("a silent peer whose stream throws when aborted → ResolverFailed after retry.maxAttempts", async () => {
    const server = await AnyDb.open(scratchDir(), ANY_OPTS);
    await applyAll(server, anyWorkload(20, 1n).ops);
    const { resolver, state } = stallingResolver(undefined, Infinity, "throw");
    await expect(
      syncDatabase({
        kind: ANY_KIND,
        dbOptions: ANY_OPTS,
        directory: scratchDir(),
        target: anyTarget(server),
        resolver,
        retry: { ...FAST_RETRY, requestTimeoutMs: 10, maxAttempts: 3 },
      }),
    ).rejects.toEqual(expect.objectContaining({ kind: "ResolverFailed", message: expect.stringContaining("no data for 10 ms") }));
    expect(state.calls).toBe(3);
    await server.close();
  });

  test("transport errors and invalid data have separate budgets (3 of each pass with maxAttempts 4, maxInvalidResponses 3)", async () => {
    const server = await AnyDb.open(scratchDir(), ANY_OPTS);
    await applyAll(server, anyWorkload(100, 1n).ops);
    let n = 0;
    // Alternate: transport failure, tampered batch, transport failure, … then honest.
    const inner = new DbResolver(ANY_KIND, server, (b) => (n <= 6 && n % 2 === 0 ? { ...b, operations: b.operations.slice(1) } : b));
    const resolver: Resolver = {
      fetch(req, signal) {
        n++;
        if (n <= 6 && n % 2 === 1) throw new ResolverError("reset by peer", true);
        return inner.fetch(req, signal);
      },
    };
    const { rec, observer } = recorder();
    const res = await syncDatabase({
      kind: ANY_KIND,
      dbOptions: ANY_OPTS,
      directory: scratchDir(),
      target: anyTarget(server),
      resolver,
      fetchBatchSize: BATCH,
      retry: { ...FAST_RETRY, maxAttempts: 4 },
      maxInvalidResponses: 3,
      observer,
    });
    expect(rec.rejected).toEqual(["bad proof", "bad proof", "bad proof"]);
    expect(hex(res.database.root())).toBe(hex(server.root()));
    await res.database.close();
    await server.close();
  });
});

failOnUnhandledRejections();
