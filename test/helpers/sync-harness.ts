/**
 * Shared fixtures for the sync-engine scenario tests: source databases with a deterministic
 * workload (updates, overwrites, deletes), a push-driven target-update stream, a recording
 * resolver wrapper, a log capture, and comparisons of a synced database with its source.
 * Directories live on /dev/shm when available (fsync is free there) and are removed after each test.
 */
import { toHex } from "../../src/codec";
import { sha256 } from "../../src/mmr";
import { closeAfterTest, tempDir } from "./tmp";
import { AnyDb, type AnyOperation, ImmutableDb, type ImmutableOperation } from "../../src/qmdb";
import type { FetchedBatch, FetchRequest, Resolver, SyncLogger, SyncTarget } from "../../src/sync";

/** Small blobs so pruning, alignment and blob rollover happen at test sizes. */
export const ANY_OPTS = { logItemsPerBlob: 16, mmrItemsPerBlob: 16 } as const;
/** Immutable sections of 5 ops (so location 10 is a section boundary, as in commonware's S34). */
export const IMM_OPTS = { logItemsPerBlob: 5, mmrItemsPerBlob: 16 } as const;
/** Retries fast enough for tests. */
export const FAST_RETRY = { baseDelayMs: 1, maxDelayMs: 5 } as const;

/** A fresh directory for a sync test, removed after the current test. */
export const scratchDir = (prefix = "cw-sync-scn-"): string => tempDir(prefix);

export const hex = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : toHex(b));

/** A deterministic 32-byte value from a label. */
export function digestOf(label: string): Uint8Array {
  return sha256(new TextEncoder().encode(label));
}

/** xorshift64*: deterministic per seed. */
function prng(seed: bigint): () => number {
  let x = BigInt.asUintN(64, seed * 0x9e3779b97f4a7c15n + 1n);
  return () => {
    x ^= x >> 12n;
    x ^= BigInt.asUintN(64, x << 25n);
    x ^= x >> 27n;
    return Number(BigInt.asUintN(64, x * 0x2545f4914f6cdd1dn) >> 11n) / 2 ** 53;
  };
}

/**
 * `n` keyed operations over a pool of ~n/3 keys (all n when n < 10; first every key is set, then 75 % overwrites and
 * 25 % deletes of random pool keys), a commit after every 10th and a final commit. Keys are
 * labelled by `space` so two workloads share keys only when their space is the same.
 */
export function anyWorkload(n: number, seed: bigint, space = "k"): { ops: AnyOperation[]; keys: Uint8Array[] } {
  const rand = prng(seed);
  // Small workloads only set fresh keys, so their range holds more than the final commit.
  const pool = n < 10 ? Math.max(1, n) : Math.ceil(n / 3);
  const keys = Array.from({ length: pool }, (_, i) => digestOf(`${space}/${i}`));
  const ops: AnyOperation[] = [];
  for (let i = 0; i < n; i++) {
    const key = i < pool ? keys[i]! : keys[Math.floor(rand() * pool)]!;
    if (i >= pool && rand() < 0.25) ops.push({ type: "delete", key });
    else ops.push({ type: "update", key, value: digestOf(`v/${seed}/${i}`) });
    if ((i + 1) % 10 === 0) ops.push({ type: "commitFloor", metadata: undefined, floorLoc: 0n });
  }
  ops.push({ type: "commitFloor", metadata: undefined, floorLoc: 0n });
  return { ops, keys };
}

/** Applies operations the way the example server does. */
export async function applyAll<Op>(db: { apply(op: Op): Promise<void> }, ops: readonly Op[]): Promise<void> {
  for (const op of ops) await db.apply(op);
}

/** The target describing `db` now: lower = its inactivity floor (any) or oldest retained location (immutable). */
export function anyTarget(db: AnyDb): SyncTarget {
  return { root: db.root(), lowerBound: db.inactivityFloorLoc, upperBound: db.opCount };
}
export function immutableTarget(db: ImmutableDb): SyncTarget {
  return { root: db.root(), lowerBound: db.oldestRetainedLoc, upperBound: db.opCount };
}

/** Keys set by immutable test operations. */
export function immutableKeys(ops: readonly ImmutableOperation[]): Uint8Array[] {
  return ops.flatMap((op) => (op.type === "set" ? [op.key] : []));
}

/** A target-update stream the test pushes into; `return()` (called by the engine) closes it. */
export class TargetQueue implements AsyncIterable<SyncTarget> {
  private readonly items: SyncTarget[] = [];
  private readonly waiters: Array<(r: IteratorResult<SyncTarget>) => void> = [];
  closed = false;
  /** Pushes a target; false if the consumer already closed the stream. */
  push(t: SyncTarget): boolean {
    if (this.closed) return false;
    const w = this.waiters.shift();
    if (w !== undefined) w({ value: t, done: false });
    else this.items.push(t);
    return true;
  }
  [Symbol.asyncIterator](): AsyncIterator<SyncTarget> {
    return {
      next: () => {
        const t = this.items.shift();
        if (t !== undefined) return Promise.resolve({ value: t, done: false });
        if (this.closed) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => this.waiters.push(resolve));
      },
      return: () => {
        this.closed = true;
        for (const w of this.waiters.splice(0)) w({ value: undefined, done: true });
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}

/** Wraps a resolver, recording every request and every batch it delivers (after any tampering). */
export class RecordingResolver implements Resolver {
  readonly requests: FetchRequest[] = [];
  readonly served: Array<{ startLoc: bigint; count: number; opCount: bigint }> = [];
  constructor(private readonly inner: Resolver) {}
  async *fetch(request: FetchRequest, signal: AbortSignal): AsyncIterable<FetchedBatch> {
    this.requests.push(request);
    for await (const batch of this.inner.fetch(request, signal)) {
      this.served.push({ startLoc: batch.startLoc, count: batch.operations.length, opCount: request.opCount });
      yield batch;
    }
  }
  /** Operations delivered in total. */
  get opsServed(): number {
    return this.served.reduce((a, b) => a + b.count, 0);
  }
}

/** A logger that keeps every line. */
export function captureLogger(): SyncLogger & { lines: Array<{ level: string; msg: string; obj: object }>; has(msg: string): boolean } {
  const lines: Array<{ level: string; msg: string; obj: object }> = [];
  const at = (level: string) => (obj: object, msg: string) => void lines.push({ level, msg, obj });
  return { lines, debug: at("debug"), info: at("info"), warn: at("warn"), has: (msg) => lines.some((l) => l.msg.includes(msg)) };
}

/** Every key has the same value (or absence) in both databases. Returns how many were absent. */
export function expectSameValues(
  client: { get(k: Uint8Array): Uint8Array | undefined },
  server: { get(k: Uint8Array): Uint8Array | undefined },
  keys: readonly Uint8Array[],
): number {
  let absent = 0;
  const mismatches: string[] = [];
  for (const k of keys) {
    const want = hex(server.get(k));
    if (want === undefined) absent++;
    if (hex(client.get(k)) !== want) mismatches.push(hex(k)!);
  }
  expect(mismatches).toEqual([]);
  return absent;
}

/** Operations `[from, to)` are identical in both databases. */
export function expectSameOperations(client: { operation(loc: bigint): unknown }, server: { operation(loc: bigint): unknown }, from: bigint, to: bigint): void {
  for (let loc = from; loc < to; loc++) expect(client.operation(loc)).toEqual(server.operation(loc));
}

/** Waits for pending callbacks and timers of the engine to run. */
export async function settle(ms = 20): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * An `any` source with two committed states: `initial` workload operations (seed 1) give `first`,
 * then `additional` more (seed 2, keys from `space`) give `second`. Closed after the test.
 */
export async function evolvingAnySource(
  initial: number,
  additional: number,
  space = "k",
): Promise<{ server: AnyDb; first: SyncTarget; second: SyncTarget; keys: Uint8Array[] }> {
  const server = closeAfterTest(await AnyDb.open(scratchDir(), ANY_OPTS));
  const a = anyWorkload(initial, 1n);
  await applyAll(server, a.ops);
  const first = anyTarget(server);
  const b = anyWorkload(additional, 2n, space);
  await applyAll(server, b.ops);
  return { server, first, second: anyTarget(server), keys: [...a.keys, ...b.keys] };
}

/** What a reopened database must keep: root, op count, oldest retained location, and for `any` its floor. */
export function dbState(db: AnyDb | ImmutableDb): { root: string | undefined; ops: bigint; oldest: bigint; floor?: bigint } {
  const state = { root: hex(db.root()), ops: db.opCount, oldest: db.oldestRetainedLoc };
  return db instanceof AnyDb ? { ...state, floor: db.inactivityFloorLoc } : state;
}

/** Closes `db`, reopens its directory `dir`, and expects the same state and the source's values for `keys`. */
export async function expectSameAfterReopen(db: AnyDb | ImmutableDb, dir: string, server: AnyDb | ImmutableDb, keys: readonly Uint8Array[]): Promise<void> {
  const before = dbState(db);
  await db.close();
  const reopened = db instanceof AnyDb ? await AnyDb.open(dir, ANY_OPTS) : await ImmutableDb.open(dir, IMM_OPTS);
  expect(dbState(reopened)).toEqual(before);
  expectSameValues(reopened, server, keys);
  await reopened.close();
}

/** A synced `any` database matches `target` (root, floor = its lower bound) and the source's values for `keys`; closes it. */
export async function expectSyncedTo(db: AnyDb, target: SyncTarget, server: AnyDb, keys: Uint8Array[]): Promise<void> {
  expect(hex(db.root())).toBe(hex(target.root));
  expect(db.inactivityFloorLoc).toBe(target.lowerBound);
  expectSameValues(db, server, keys);
  await db.close();
}

type Local<Op> = { apply(op: Op): Promise<void>; close(): Promise<void>; readonly opCount: bigint };

/**
 * A source holding `held` then `more`, and a local copy in a fresh directory `dir` holding only
 * `held` (closed, `heldOps` operations): the start of every resume scenario. The source is closed
 * after the test.
 */
export async function sourceWithPartialCopy<Op, D extends Local<Op>>(
  open: (dir: string) => Promise<D>,
  held: readonly Op[],
  more: readonly Op[],
): Promise<{ server: D; dir: string; heldOps: bigint }> {
  const server = closeAfterTest(await open(scratchDir()));
  await applyAll(server, [...held, ...more]);
  const dir = scratchDir();
  const local = await open(dir);
  await applyAll(local, held);
  const heldOps = local.opCount;
  await local.close();
  return { server, dir, heldOps };
}

/**
 * Fails the test file if a promise rejects with nobody handling it (e.g. a cancelled request):
 * call once at the top level of a file.
 */
export function failOnUnhandledRejections(): void {
  const unhandled: unknown[] = [];
  const onUnhandled = (err: unknown): void => void unhandled.push(err);
  process.on("unhandledRejection", onUnhandled);
  afterAll(() => {
    process.off("unhandledRejection", onUnhandled);
    expect(unhandled).toEqual([]);
  });
}
