/**
 * The server's synthetic workload, as in the seed: an initial load (the test-operation generator
 * with `initialOps` keys, then one extra commit), then every interval a batch of `opsPerInterval`
 * keys. With a seed N the run is reproducible: the initial load uses seed N and the k-th batch
 * N + k (mod 2^64). Progress is recorded after every commit in `server-progress.json` (written
 * atomically), so a server restarted on its directory finishes an interrupted batch exactly where
 * its last durable commit left it and carries on with the same sequence.
 *
 * The initial load is the exception: its commits are not made durable one by one (that costs an
 * fsync and a progress record each); the whole load is synced once at the end and only then
 * recorded as done. A load that did not finish (crash, or a signal while loading) is deleted and
 * run again on the next start: it is deterministic given its recorded seed.
 */
import { randomBytes } from "node:crypto";
import path from "node:path";
import { setImmediate as yieldToEventLoop, setTimeout as sleep } from "node:timers/promises";
import { bigintField, countField, readStateFile, stringField, writeStateFile } from "../journal";
import { type Operation, createTestOperations, testOperationCount, testOperations } from "../qmdb";
import { type Logger, hex } from "../telemetry";
import { AddedOperationsLog } from "./added-log";
import type { ServedDatabase } from "./database";
import { waitForFreeSpace } from "./free-space";
import type { ServerMetrics } from "./metrics";

const PROGRESS_FILE = "server-progress.json";
/** Backoff between attempts to recover from a failed write. */
const RECOVERY_BACKOFF = { firstMs: 100, maxMs: 10_000 } as const;
/** Free space required before writing again after a failure: at least this, or ~1 KiB per op of a batch. */
const MIN_FREE_BYTES = 256 * 1024;
const U64 = 1n << 64n;
/** Operations of the initial load applied between two checks for a stop request. */
const LOAD_SLICE = 4096;

/** Workload settings. */
export interface WorkloadOptions {
  readonly initialOps: number;
  readonly opsPerInterval: number;
  readonly intervalMs: number;
  /** Base seed of a reproducible run; random seeds when undefined. */
  readonly seed?: bigint;
}

/** Where the workload stands: batch `batch` (0 = initial load) has applied `applied` list ops. */
interface Progress {
  readonly kind: string;
  readonly batch: number;
  readonly batchSeed: string;
  readonly applied: number;
  readonly opCount: string;
  /** Present while the initial load (batch 0) runs: its commits are not durable until it is done. */
  readonly initialLoad?: "unfinished";
}

/** The initial load was stopped (by the start's abort signal) before it was done. */
export class InitialLoadStopped extends Error {
  override name = "InitialLoadStopped";
}

function randomSeed(): bigint {
  return randomBytes(8).readBigUInt64BE(0);
}

/** Runs the initial load (if needed) and the periodic batches until stopped. */
export class Workload {
  private readonly stopController = new AbortController();
  private loop: Promise<void> | undefined;

  constructor(
    private readonly db: ServedDatabase,
    private readonly dir: string,
    private readonly options: WorkloadOptions,
    private readonly log: Logger,
    private readonly metrics: ServerMetrics,
    /** Told whether the database can be served (false from a failed write until it is reopened). */
    private readonly setServing: (serving: boolean) => void = () => {},
  ) {}

  /**
   * Brings the database to a consistent point of the workload: finishes an interrupted batch, or
   * applies the initial load to a new database (again, if an earlier one did not finish). Resolves
   * when the database is ready to serve; rejects with `InitialLoadStopped` if `signal` aborts the
   * initial load.
   */
  async prepare(signal?: AbortSignal): Promise<number> {
    const progress = this.readProgress();
    if (progress?.initialLoad === "unfinished") {
      this.log.warn({ op_count: this.db.opCount.toString() }, "the initial load did not finish: deleting it and loading again");
      await this.db.wipe();
      await this.initialLoad(this.options.seed ?? BigInt(progress.batchSeed), signal);
      return 1;
    }
    if (progress !== undefined) {
      await this.resume(progress);
      return progress.batch + 1;
    }
    if (this.db.opCount > 1n) {
      this.log.info({ op_count: this.db.opCount.toString() }, "continuing an existing database without progress record");
      return 1;
    }
    await this.initialLoad(this.options.seed ?? randomSeed(), signal);
    return 1;
  }

  /** Starts adding a batch every interval, beginning with batch `first`. */
  start(first: number): void {
    const signal = this.stopController.signal;
    const added = new AddedOperationsLog(this.log);
    this.loop = (async () => {
      for (let k = first; !signal.aborted; k++) {
        try {
          await sleep(this.options.intervalMs, undefined, { signal });
        } catch {
          return; // stopped while waiting
        }
        const seed = this.options.seed === undefined ? randomSeed() : (this.options.seed + BigInt(k)) % U64;
        const ops = this.batchOps(k, seed);
        try {
          await this.runBatch(k, seed, ops, 0);
        } catch (err) {
          this.log.error({ err, batch: k }, "failed to add operations");
          const next = await this.recover(err as Error, k, signal);
          if (next === undefined) return; // stopped
          k = next - 1;
          continue;
        }
        this.metrics.opsAdded.inc(ops.length);
        added.batch(ops.length, this.db.opCount, this.db.root());
      }
    })();
  }

  /**
   * After a failed write (a full disk, an I/O error): stops serving, reopens the database at its
   * last durable commit and serves that, waits for free space, then finishes the interrupted batch;
   * each step is retried with backoff until it works. Returns the next batch to run, or undefined
   * if stopped meanwhile.
   */
  private async recover(failure: Error, batch: number, signal: AbortSignal): Promise<number | undefined> {
    this.db.markBroken(failure);
    this.setServing(false);
    const needed = Math.max(MIN_FREE_BYTES, this.options.opsPerInterval * 1024);
    for (let attempt = 1, delay: number = RECOVERY_BACKOFF.firstMs; ; attempt++, delay = Math.min(delay * 2, RECOVERY_BACKOFF.maxMs)) {
      try {
        await sleep(delay, undefined, { signal });
      } catch {
        return undefined;
      }
      const room = (): Promise<boolean> =>
        waitForFreeSpace(this.dir, needed, delay, signal, (free) =>
          this.log.warn({ free_bytes: free, needed_bytes: needed, storage_dir: this.dir }, "waiting for free space before writing again"),
        );
      if (this.db.broken) {
        try {
          await this.db.reopen();
        } catch (err) {
          // Opening may itself need to write (repairs, MMR nodes re-derived from the log).
          this.log.warn({ err, attempt }, "cannot reopen the database after a storage failure yet; retrying (NOT_SERVING meanwhile)");
          if (!(await room())) return undefined;
          continue;
        }
        this.setServing(true);
        this.log.warn(
          { op_count: this.db.target.upperBound.toString(), root: hex(this.db.target.root) },
          "database reopened after a storage failure; serving the last commit",
        );
      }
      if (!(await room())) return undefined;
      try {
        const progress = this.readProgress();
        if (progress === undefined) return batch;
        await this.resume(progress);
        this.log.info({ batch: progress.batch + 1 }, "writing again after a storage failure");
        return progress.batch + 1;
      } catch (err) {
        this.log.error({ err, attempt }, "failed to add operations");
        this.db.markBroken(err as Error);
        this.setServing(false);
      }
    }
  }

  /** Stops after the batch in progress (if any) is complete. */
  async stop(): Promise<void> {
    this.stopController.abort();
    await this.loop;
  }

  // Batch 0 into an empty database: recorded as unfinished first, applied without per-commit
  // durability (in slices, yielding so that a stop request is seen), synced once, then recorded done.
  private async initialLoad(seed: bigint, signal: AbortSignal | undefined): Promise<void> {
    const total = testOperationCount(this.options.initialOps) + 1;
    this.log.info({ operations_len: total, seed: seed.toString() }, "creating initial operations");
    const record = { kind: this.db.kind, batch: 0, batchSeed: seed.toString() };
    this.writeProgress({ ...record, applied: 0, opCount: this.db.opCount.toString(), initialLoad: "unfinished" });
    let applied = 0;
    for (const op of this.initialOps(seed)) {
      if (applied % LOAD_SLICE === 0) {
        await yieldToEventLoop();
        if (signal?.aborted) throw new InitialLoadStopped(`stopped during the initial load (${applied} of ${total} operations applied)`);
      }
      await this.db.load(op);
      applied++;
    }
    await this.db.sync();
    this.writeProgress({ ...record, applied, opCount: this.db.opCount.toString() });
  }

  // The operations of batch 0, one at a time: the generator's, then one extra commit.
  private *initialOps(seed: bigint): Generator<Operation, void, undefined> {
    yield* testOperations(this.db.kind, this.options.initialOps, seed);
    yield this.extraCommit();
  }

  private extraCommit(): Operation {
    return this.db.kind === "any" ? { type: "commitFloor", metadata: undefined, floorLoc: 0n } : { type: "commit", metadata: undefined };
  }

  private batchOps(k: number, seed: bigint): Operation[] {
    if (k === 0) {
      const ops: Operation[] = createTestOperations(this.db.kind, this.options.initialOps, seed);
      ops.push(this.extraCommit());
      return ops;
    }
    return createTestOperations(this.db.kind, this.options.opsPerInterval, seed);
  }

  // Applies `ops[from..]`, recording progress before the batch and after each commit. A batch always ends with a
  // commit, so once it returns the whole batch is durable.
  private async runBatch(k: number, seed: bigint, ops: Operation[], from: number): Promise<void> {
    // Record the batch (and its seed, which may be random) before any of it can become durable.
    if (from === 0) this.writeProgress({ kind: this.db.kind, batch: k, batchSeed: seed.toString(), applied: 0, opCount: this.db.opCount.toString() });
    for (let i = from; i < ops.length; i++) {
      const op = ops[i]!;
      await this.db.apply(op);
      if (op.type === "commitFloor" || op.type === "commit") {
        this.writeProgress({ kind: this.db.kind, batch: k, batchSeed: seed.toString(), applied: i + 1, opCount: this.db.opCount.toString() });
        this.metrics.opCount.set(Number(this.db.target.upperBound));
      }
    }
  }

  private async resume(p: Progress): Promise<void> {
    if (p.kind !== this.db.kind) throw new Error(`${path.join(this.dir, PROGRESS_FILE)} belongs to an ${p.kind} database`);
    const seed = BigInt(p.batchSeed);
    const ops = this.batchOps(p.batch, seed);
    let applied = p.applied;
    const recorded = BigInt(p.opCount);
    if (this.db.opCount < recorded) {
      throw new Error(`database holds ${this.db.opCount} operations but its progress record says ${recorded}: the directory was modified`);
    }
    if (this.db.opCount > recorded) {
      // The process died between a commit and its progress record: exactly the next commit of
      // the batch landed, so resume after it.
      if (applied >= ops.length) throw new Error(`database holds ${this.db.opCount} operations, more than its complete batch ${p.batch} left (${recorded})`);
      let next = applied;
      while (next < ops.length && !isCommitOp(ops[next]!)) next++;
      applied = next + 1;
    }
    if (applied < ops.length) {
      this.log.info({ batch: p.batch, applied, total: ops.length }, "finishing an interrupted batch");
      await this.runBatch(p.batch, seed, ops, applied);
    }
    this.metrics.opCount.set(Number(this.db.target.upperBound));
  }

  private readProgress(): Progress | undefined {
    return readStateFile(path.join(this.dir, PROGRESS_FILE), parseProgress);
  }

  private writeProgress(p: Progress): void {
    writeStateFile(path.join(this.dir, PROGRESS_FILE), p);
  }
}

function parseProgress(record: unknown): Progress {
  bigintField(record, "batchSeed");
  bigintField(record, "opCount");
  const unfinished = (record as Record<string, unknown>).initialLoad !== undefined;
  if (unfinished && stringField(record, "initialLoad") !== "unfinished") throw new Error(`initialLoad must be "unfinished" when present`);
  return {
    kind: stringField(record, "kind"),
    batch: countField(record, "batch"),
    batchSeed: stringField(record, "batchSeed"),
    applied: countField(record, "applied"),
    opCount: stringField(record, "opCount"),
    ...(unfinished ? { initialLoad: "unfinished" as const } : {}),
  };
}

function isCommitOp(op: Operation): boolean {
  return op.type === "commitFloor" || op.type === "commit";
}
