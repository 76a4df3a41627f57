/**
 * The sync engine: fills a local database with operations `[lower, upper)` of a target, fetched
 * from an untrusted resolver. Every batch is checked against the request the engine made (start,
 * count, proof size) and its range proof is verified against the root of that request's target
 * before any byte is kept; the MMR nodes rebuilt while verifying are adopted as they are. It
 * follows forward-moving targets, resumes from local state, retries transport failures with
 * backoff, and gives up on a peer that keeps sending invalid data.
 */
import { type Proof, MAX_LOCATION, MmrError, extractPinnedNodes, mmrSize, nodesRequiredForRangeProof, verifyRangeAndCollect } from "../mmr";
import { equalBytes, toHex } from "../codec";
import { type DbKind, type DbOptions, SyncLog, isStorageDamage } from "../qmdb";
import { type Storage, withDirectoryLock } from "../journal";
import { InvalidResponseError, ResolverError, SyncError } from "./errors";
import type { FetchedBatch, FetchRequest, Resolver } from "./resolver";
import { type LocRange, findGap } from "./gaps";

/** A sync target: the root over `upperBound` operations and the first location needed. */
export interface SyncTarget {
  readonly root: Uint8Array;
  readonly lowerBound: bigint;
  readonly upperBound: bigint;
}

/** The subset of a pino logger the engine uses. */
export interface SyncLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** Hooks for metrics and progress displays. All optional. */
export interface SyncObserver {
  /** A batch passed every check and its proof verified. */
  verified?(operations: number): void;
  /** Operations were appended; `size` is the new local op count. */
  applied?(operations: number, size: bigint, target: SyncTarget): void;
  /** A peer's batch was rejected. */
  rejected?(reason: string): void;
  /** A request is retried after `delayMs`. */
  retrying?(reason: string, delayMs: number): void;
  /** The engine moved to a new target. */
  targetChanged?(target: SyncTarget): void;
}

/** How transient failures are retried. */
export interface RetryPolicy {
  /** Consecutive failed requests before giving up (default 8). */
  readonly maxAttempts: number;
  /** First backoff delay (default 100 ms); doubles per consecutive failure. */
  readonly baseDelayMs: number;
  /** Largest backoff delay (default 5 s). */
  readonly maxDelayMs: number;
  /** A request that delivers nothing for this long is cancelled and retried (default 30 s). */
  readonly requestTimeoutMs: number;
  /**
   * Consecutive requests the server may refuse as throttled (RESOURCE_EXHAUSTED with a retry
   * delay) before the sync gives up on it (default 32). Being throttled is not a failure, but a
   * server that never lets a request through must not hold the client forever.
   */
  readonly maxThrottled: number;
}

/** Defaults of `RetryPolicy`. */
export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 8, baseDelayMs: 100, maxDelayMs: 5000, requestTimeoutMs: 30_000, maxThrottled: 32 };

/** Consecutive throttled requests logged at info; the ones after that at warn. */
const THROTTLE_WARN_AFTER = 3;

/** Defaults of the optional numbers of `SyncOptions` (the client and the CLI use these too). */
export const DEFAULT_SYNC = {
  fetchBatchSize: 50,
  /** `requestOps` defaults to this many batches. */
  batchesPerRequest: 64,
  maxOutstandingRequests: 1,
  maxInvalidResponses: 5,
  commitEveryOps: 10_000,
} as const;

/** Everything a sync needs. */
export interface SyncOptions<Op, D> {
  readonly kind: DbKind<Op, D>;
  /** Directory of the local database (reused if it holds a log of the same kind). */
  readonly directory: string | Storage;
  readonly target: SyncTarget;
  readonly resolver: Resolver;
  /** Operations per batch (default `DEFAULT_SYNC.fetchBatchSize`, 50). */
  readonly fetchBatchSize?: number;
  /** Operations per request/stream (default `DEFAULT_SYNC.batchesPerRequest` = 64 batches). */
  readonly requestOps?: number;
  /** Concurrent requests (default `DEFAULT_SYNC.maxOutstandingRequests`, 1). */
  readonly maxOutstandingRequests?: number;
  /** New targets to follow; non-advancing ones are ignored. */
  readonly targetUpdates?: AsyncIterable<SyncTarget>;
  readonly retry?: Partial<RetryPolicy>;
  /** Invalid batches tolerated (each is dropped and re-requested) before failing (default 5, `DEFAULT_SYNC`). */
  readonly maxInvalidResponses?: number;
  /**
   * Make appended operations durable every this many (default 10 000, `DEFAULT_SYNC`); commits run
   * in the background, and one due while another runs waits for it (see `commitBehind`).
   */
  readonly commitEveryOps?: number;
  readonly signal?: AbortSignal;
  readonly logger?: SyncLogger;
  readonly observer?: SyncObserver;
  readonly dbOptions?: DbOptions;
}

/** What a finished sync reports. */
export interface SyncResult<D> {
  readonly database: D;
  /** The target reached (the last one followed). */
  readonly target: SyncTarget;
  /** Operations fetched and applied in this sync (0 for an exact-match resume). */
  readonly operationsFetched: bigint;
  /** Operations already held locally when the sync started. */
  readonly operationsReused: bigint;
  /** Whether a root mismatch forced a wipe and a second attempt. */
  readonly retriedFromScratch: boolean;
}

/** Most digests a range proof can need: 62 peaks plus two paths of at most 62 siblings. */
export const MAX_PROOF_DIGESTS = 256;

const NOOP_LOGGER: SyncLogger = { debug: () => {}, info: () => {}, warn: () => {} };

/** Checks a target's shape; throws `InvalidTarget`. */
export function checkTarget(t: SyncTarget): void {
  if (t.root.length !== 32) throw new SyncError("InvalidTarget", `root must be 32 bytes, got ${t.root.length}`);
  if (t.lowerBound >= t.upperBound) throw new SyncError("InvalidTarget", `lower bound ${t.lowerBound} must be below upper bound ${t.upperBound}`);
  if (t.upperBound > MAX_LOCATION + 1n) throw new SyncError("InvalidTarget", `upper bound ${t.upperBound} exceeds 2^62`);
}

/**
 * Syncs the database in `options.directory` to `options.target` (and later targets) and returns
 * it open. A final root mismatch wipes the local copy and retries once from scratch; a second
 * mismatch is an error.
 */
export async function syncDatabase<Op, D extends { root(): Uint8Array; close(): Promise<void> }>(options: SyncOptions<Op, D>): Promise<SyncResult<D>> {
  checkTarget(options.target);
  const logger = options.logger ?? NOOP_LOGGER;
  // The directory stays locked throughout; the returned database holds its own share of the lock.
  return withDirectoryLock(options.directory, async () => {
    try {
      return await new Attempt(options, false).run();
    } catch (err) {
      // Damaged local files are handled like a wrong final root: the copy is fetched again.
      const damaged = isStorageDamage(err);
      if (!(damaged || (err instanceof SyncError && err.kind === "RootMismatch"))) throw err;
      logger.warn(
        { err: (err as Error).message },
        damaged
          ? "the local copy is damaged; wiping it and syncing again from scratch"
          : "final root does not match the target; wiping the local copy and syncing again from scratch",
      );
      await SyncLog.wipe(options.kind, options.directory, options.dbOptions);
      return await new Attempt(options, true).run();
    }
  });
}

/** Options of `syncOpenLog`: those of `syncDatabase` that apply to a log the caller keeps open. */
export type OpenLogSyncOptions<Op, D> = Omit<SyncOptions<Op, D>, "directory" | "dbOptions" | "targetUpdates">;

/**
 * Fills a sync log the caller keeps open (a relay serves earlier states from it meanwhile) up to
 * `options.target`. The log is never pruned (its start stays where it is), so every state reached
 * before stays provable. Verification is exactly that of `syncDatabase` (every batch, the final
 * commit, the floor and the root), but the log stays open and nothing is retried from scratch: a
 * final root mismatch throws `RootMismatch` and the caller decides. Resolves with the number of
 * operations fetched.
 */
export async function syncOpenLog<Op, D extends { root(): Uint8Array; close(): Promise<void> }>(
  log: SyncLog<Op, D>,
  options: OpenLogSyncOptions<Op, D>,
): Promise<bigint> {
  checkTarget(options.target);
  return await new Attempt<Op, D>({ ...options, directory: "" }, false).runOpen(log);
}

interface Request {
  readonly id: number;
  readonly opCount: bigint;
  readonly root: Uint8Array;
  readonly end: bigint;
  readonly batchSize: number;
  /** Next location the stream must deliver. */
  next: bigint;
  readonly ac: AbortController;
  timedOut: boolean;
  /** The resolver excluded the peer whose batch failed a check (see `Resolver.rejected`). */
  peerExcluded?: boolean;
}

interface Verified {
  readonly start: bigint;
  readonly operations: readonly Uint8Array[];
  readonly nodes: Uint8Array;
  readonly proof: Proof;
}

/** One attempt at a sync. */
class Attempt<Op, D extends { root(): Uint8Array; close(): Promise<void> }> {
  private readonly logger: SyncLogger;
  private readonly retry: RetryPolicy;
  private readonly batchSize: number;
  private readonly requestOps: bigint;
  /** Concurrent requests asked for, and how many are used (fewer once the server refuses more). */
  private readonly requestedOutstanding: number;
  private maxOutstanding: number;
  private readonly requests = new Map<number, Request>();
  private readonly fetched = new Map<bigint, Verified>();
  private log!: SyncLog<Op, D>;
  private target: SyncTarget;
  private nextId = 1;
  private invalid = 0;
  private failures = 0;
  private throttled = 0;
  private retryAt = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private sinceCommit = 0;
  /** The periodic commit in flight, if any: appends go on while it runs (see `commitBehind`). */
  private committing: Promise<void> | undefined;
  private fetchedOps = 0n;
  private queue: Promise<void> = Promise.resolve();
  private finished = false;
  private settle!: { resolve: () => void; reject: (err: unknown) => void };

  constructor(
    private readonly options: SyncOptions<Op, D>,
    private readonly retried: boolean,
  ) {
    this.logger = options.logger ?? NOOP_LOGGER;
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
    this.batchSize = options.fetchBatchSize ?? DEFAULT_SYNC.fetchBatchSize;
    this.requestOps = BigInt(options.requestOps ?? this.batchSize * DEFAULT_SYNC.batchesPerRequest);
    this.requestedOutstanding = Math.max(1, options.maxOutstandingRequests ?? DEFAULT_SYNC.maxOutstandingRequests);
    this.maxOutstanding = this.requestedOutstanding;
    this.target = options.target;
    if (this.batchSize < 1 || this.requestOps < 1n) throw new SyncError("InvalidState", "batch and request sizes must be at least 1");
  }

  async run(): Promise<SyncResult<D>> {
    const { kind, directory, dbOptions } = this.options;
    this.log = await SyncLog.open(kind, directory, this.target.lowerBound, this.target.upperBound, dbOptions);
    const reused = this.log.size - this.log.start;
    const opened = { origin: this.log.origin, reason: this.log.reason, local_ops: this.log.size.toString(), start: this.log.start.toString() };
    // Discarding local operations (damaged, or not part of this target's history) deserves attention.
    if (this.log.origin === "replaced") this.logger.warn(opened, "opened local log");
    else this.logger.info(opened, "opened local log");
    try {
      await this.fill();
      const database = await this.finish();
      return { database, target: this.target, operationsFetched: this.fetchedOps, operationsReused: reused, retriedFromScratch: this.retried };
    } catch (err) {
      await this.log.close().catch(() => undefined);
      throw err;
    }
  }

  /** `syncOpenLog`: fills a log the caller owns (and keeps open) without pruning it. */
  async runOpen(log: SyncLog<Op, D>): Promise<bigint> {
    this.log = log;
    await log.retarget(log.start, this.target.upperBound);
    await this.fill();
    this.checkLastCommit();
    const actual = log.mmrRoot();
    if (!equalBytes(actual, this.target.root)) {
      throw new SyncError("RootMismatch", `synced root ${toHex(actual)} differs from target root ${toHex(this.target.root)}`, {
        details: { expected: toHex(this.target.root), actual: toHex(actual) },
      });
    }
    return this.fetchedOps;
  }

  // Fetches, verifies and appends until the log reaches the target (following target updates),
  // then commits.
  private async fill(): Promise<void> {
    const done = new Promise<void>((resolve, reject) => (this.settle = { resolve, reject }));
    const onAbort = (): void => this.fail(new SyncError("Aborted", "sync was aborted"));
    this.options.signal?.addEventListener("abort", onAbort, { once: true });
    if (this.options.signal?.aborted) onAbort();
    const ended = done.then(
      () => undefined,
      () => undefined,
    );
    void this.followUpdates(ended);
    try {
      // Let target updates that are already queued be taken before deciding the sync is done.
      await new Promise((resolve) => setImmediate(resolve));
      this.serialize(async () => {
        if (!this.checkComplete()) this.schedule();
      });
      await done;
      await this.committing;
      await this.log.commit();
    } catch (err) {
      this.stopAll();
      await this.queue.catch(() => undefined);
      await this.committing?.catch(() => undefined);
      throw err;
    } finally {
      this.finished = true;
      this.stopAll();
      this.options.signal?.removeEventListener("abort", onAbort);
    }
  }

  // Runs `f` after everything queued before it: mutations of the log and of the engine's state
  // never interleave across awaits.
  private serialize(f: () => Promise<void> | void): Promise<void> {
    const next = this.queue.then(async () => {
      if (!this.finished) await f();
    });
    this.queue = next.catch((err: unknown) => this.fail(err));
    return this.queue;
  }

  private fail(err: unknown): void {
    if (this.finished) return;
    this.finished = true;
    this.stopAll();
    this.settle.reject(err);
  }

  private stopAll(): void {
    for (const r of this.requests.values()) r.ac.abort();
    this.requests.clear();
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
  }

  private checkComplete(): boolean {
    if (this.log.size < this.target.upperBound || this.log.needsPins) return false;
    this.finished = true;
    this.stopAll();
    this.settle.resolve();
    return true;
  }

  private async finish(): Promise<D> {
    try {
      this.checkLastCommit();
    } catch (err) {
      await this.log.close();
      throw err;
    }
    const database = await this.log.finish();
    const actual = database.root();
    if (!equalBytes(actual, this.target.root)) {
      await database.close();
      throw new SyncError("RootMismatch", `synced root ${toHex(actual)} differs from target root ${toHex(this.target.root)}`, {
        details: { expected: toHex(this.target.root), actual: toHex(actual) },
      });
    }
    return database;
  }

  // The last operation must be a commit, and (for `any`) its floor must not be below the target's
  // lower bound: otherwise the peer could hide live keys below the lower bound.
  private checkLastCommit(): void {
    const last = this.log.lastOperation();
    const { kind } = this.options;
    if (last === undefined || !kind.codec.isCommit(last)) {
      throw new SyncError("InvalidTarget", `the operation at upper bound − 1 (${this.target.upperBound - 1n}) is not a commit`);
    }
    const floor = kind.recordedFloor?.(last);
    if (floor !== undefined && floor < this.target.lowerBound) {
      throw new SyncError(
        "HiddenLiveKeys",
        `target lower bound ${this.target.lowerBound} is above the inactivity floor ${floor} recorded in the last commit: operations in between may be live`,
      );
    }
  }

  // ---- scheduling -------------------------------------------------------------------------

  private schedule(): void {
    if (this.finished) return;
    const wait = this.retryAt - Date.now();
    if (wait > 0) {
      if (this.retryTimer === undefined) {
        this.retryTimer = setTimeout(() => {
          this.retryTimer = undefined;
          void this.serialize(() => this.schedule());
        }, wait);
      }
      return;
    }
    while (this.requests.size < this.maxOutstanding) {
      const gap = this.findGap();
      if (gap === undefined) break;
      this.issue(gap.start, gap.end);
    }
  }

  // The first range at or after the local tip that no in-flight request or buffered batch covers.
  private findGap(): LocRange | undefined {
    const covered: LocRange[] = [];
    for (const r of this.requests.values()) covered.push({ start: r.next, end: r.end });
    for (const v of this.fetched.values()) covered.push({ start: v.start, end: v.start + BigInt(v.operations.length) });
    return findGap(this.log.size, this.target.upperBound, covered, this.requestOps);
  }

  private issue(start: bigint, end: bigint): void {
    const request: Request = {
      id: this.nextId++,
      opCount: this.target.upperBound,
      root: this.target.root,
      end,
      batchSize: this.batchSize,
      next: start,
      ac: new AbortController(),
      timedOut: false,
    };
    this.requests.set(request.id, request);
    this.logger.debug({ id: request.id, start: start.toString(), end: end.toString(), op_count: request.opCount.toString() }, "requesting operations");
    void this.stream(request);
  }

  // ---- one request ------------------------------------------------------------------------

  private async stream(req: Request): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const arm = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        req.timedOut = true;
        req.ac.abort();
      }, this.retry.requestTimeoutMs);
    };
    const start = req.next;
    try {
      arm();
      const fetchRequest: FetchRequest = { opCount: req.opCount, startLoc: req.next, maxOps: req.end - req.next, batchSize: req.batchSize };
      for await (const batch of this.options.resolver.fetch(fetchRequest, req.ac.signal)) {
        if (!this.requests.has(req.id)) return;
        let verified: Verified;
        try {
          verified = this.check(req, batch);
        } catch (err) {
          if (err instanceof InvalidResponseError) req.peerExcluded = this.options.resolver.rejected?.(batch, err) === true;
          throw err;
        }
        req.next += BigInt(verified.operations.length);
        this.failures = 0;
        this.throttled = 0;
        arm();
        await this.serialize(() => this.deliver(verified));
        if (req.next >= req.end || !this.requests.has(req.id)) break;
      }
      clearTimeout(timer);
      // A resolver may end its stream quietly when we abort it; a timeout is still a failure.
      if (req.timedOut) throw new ResolverError(`no data for ${this.retry.requestTimeoutMs} ms`, true);
      // A stream may end early (a server caps operations per stream) and the rest is asked for
      // again; one that ends without a single operation made no progress, and asking again at
      // once would spin: it is a failure, with backoff.
      if (req.next === start && this.requests.has(req.id) && !req.ac.signal.aborted) {
        throw new ResolverError(`the stream for operations [${start}, ${req.end}) ended without sending any`, true);
      }
      await this.serialize(() => {
        if (!this.requests.delete(req.id)) return;
        this.failures = 0;
        this.schedule();
      });
    } catch (err) {
      clearTimeout(timer);
      if (!this.requests.has(req.id) || (req.ac.signal.aborted && !req.timedOut)) return; // cancelled by us
      await this.serialize(() => this.onRequestError(req, err));
    } finally {
      clearTimeout(timer);
    }
  }

  // Everything a peer says is checked against what we asked for; only then is the proof verified.
  private check(req: Request, batch: FetchedBatch): Verified {
    const n = batch.operations.length;
    if (batch.startLoc !== req.next) throw new InvalidResponseError("wrong start", `batch starts at ${batch.startLoc}, expected ${req.next}`);
    if (n === 0) throw new InvalidResponseError("wrong count", `empty batch at ${req.next}`);
    if (n > req.batchSize || BigInt(n) > req.end - req.next) {
      throw new InvalidResponseError(
        "oversize",
        `batch of ${n} operations at ${req.next}; asked for at most ${Math.min(req.batchSize, Number(req.end - req.next))}`,
      );
    }
    if (batch.proof.digests.length > MAX_PROOF_DIGESTS) {
      throw new InvalidResponseError("oversize", `proof has ${batch.proof.digests.length} digests, more than ${MAX_PROOF_DIGESTS}`);
    }
    const expectedSize = mmrSize(req.opCount);
    if (batch.proof.size !== expectedSize) {
      throw new InvalidResponseError("wrong size", `proof is for MMR size ${batch.proof.size}, requested op count ${req.opCount} (size ${expectedSize})`);
    }
    // The verifier tolerates one surplus digest equal to the last peak (as commonware's does);
    // the engine wants exactly the digests the range needs, so pinned nodes can be read from it.
    const needed = nodesRequiredForRangeProof(expectedSize, req.next, req.next + BigInt(n)).length;
    if (batch.proof.digests.length !== needed) {
      throw new InvalidResponseError("bad proof", `proof has ${batch.proof.digests.length} digests, the range needs ${needed}`);
    }
    for (const d of batch.proof.digests) {
      if (d.length !== 32) throw new InvalidResponseError("malformed", `proof digest of ${d.length} bytes`);
    }
    try {
      const { nodes } = verifyRangeAndCollect(batch.proof, batch.operations, req.next, req.root);
      this.options.observer?.verified?.(n);
      return { start: req.next, operations: batch.operations, nodes, proof: batch.proof };
    } catch (err) {
      if (err instanceof MmrError) throw new InvalidResponseError("bad proof", `operations [${req.next}, ${req.next + BigInt(n)}): ${err.message}`);
      throw err;
    }
  }

  private async onRequestError(req: Request, err: unknown): Promise<void> {
    this.requests.delete(req.id);
    if (err instanceof InvalidResponseError && req.peerExcluded === true) {
      // One of several sources lied and the resolver excluded it: ask the others at once.
      this.options.observer?.rejected?.(err.reason);
      this.logger.warn({ reason: err.reason, err: err.message }, "rejected invalid data from a source; re-requesting the range from another");
    } else if (err instanceof InvalidResponseError) {
      this.invalid++;
      this.options.observer?.rejected?.(err.reason);
      const max = this.options.maxInvalidResponses ?? DEFAULT_SYNC.maxInvalidResponses;
      this.logger.warn({ reason: err.reason, err: err.message, invalid_responses: this.invalid, max }, "rejected invalid data from peer");
      if (this.invalid > max) {
        throw new SyncError("InvalidResponse", `peer sent invalid data ${this.invalid} times; last: ${err.message}`, { cause: err });
      }
      this.backoff(err.message, undefined, "info"); // already warned above
    } else if (err instanceof ResolverError && err.throttled) {
      // Rate limited: wait as long as the server asks; being throttled is not a failure, but a
      // server that refuses every request is given up on after `maxThrottled` in a row.
      this.throttled++;
      this.fitConcurrency(err);
      if (this.throttled > this.retry.maxThrottled) {
        throw new SyncError("ResolverFailed", `the server refused ${this.throttled} consecutive requests as throttled; last: ${err.message}`, { cause: err });
      }
      this.backoff(err.message, err.retryAfterMs ?? this.retry.baseDelayMs, this.throttled > THROTTLE_WARN_AFTER ? "warn" : "info");
    } else if (req.timedOut || (err instanceof ResolverError && err.retryable)) {
      this.failures++;
      const reason = req.timedOut ? `no data for ${this.retry.requestTimeoutMs} ms` : (err as Error).message;
      if (this.failures >= this.retry.maxAttempts) {
        throw new SyncError("ResolverFailed", `${this.failures} consecutive requests failed; last: ${reason}`, { cause: err });
      }
      this.backoff(reason, err instanceof ResolverError ? err.retryAfterMs : undefined, "warn");
    } else if (err instanceof ResolverError) {
      throw new SyncError("ResolverFailed", err.message, { cause: err });
    } else {
      throw err;
    }
    this.schedule();
  }

  /**
   * A request refused as throttled while others of ours are open says the server accepts no more
   * concurrent streams from us (its per-client cap, e.g. below `-r`): run only as many as it took,
   * instead of having the rest refused again and again.
   */
  private fitConcurrency(err: ResolverError): void {
    const accepted = this.requests.size;
    if (accepted === 0 || accepted >= this.maxOutstanding) return;
    // Refusals of one wave arrive one by one: warn at the first, lower quietly after that.
    const level = this.maxOutstanding === this.requestedOutstanding ? "warn" : "debug";
    this.logger[level](
      { requested: this.requestedOutstanding, using: accepted, err: err.message },
      "the server refuses more concurrent streams from this client; using fewer (lower -r / maxOutstandingRequests to avoid this)",
    );
    this.maxOutstanding = accepted;
  }

  // Failures that count toward giving up are logged at warn; throttling at info until it repeats.
  private backoff(reason: string, retryAfterMs: number | undefined, level: "info" | "warn"): void {
    const attempt = Math.max(this.failures, this.invalid);
    const exponential = Math.min(this.retry.maxDelayMs, this.retry.baseDelayMs * 2 ** Math.max(0, attempt - 1));
    const delay = Math.max(retryAfterMs ?? 0, exponential * (0.5 + Math.random() / 2));
    this.retryAt = Math.max(this.retryAt, Date.now() + delay);
    this.options.observer?.retrying?.(reason, delay);
    const fields = { reason, delay_ms: Math.round(delay), failures: this.failures, invalid_responses: this.invalid, throttled: this.throttled };
    this.logger[level](fields, "retrying");
  }

  // ---- applying ---------------------------------------------------------------------------

  private async deliver(v: Verified): Promise<void> {
    const end = v.start + BigInt(v.operations.length);
    if (end <= this.log.size) return; // already held
    if (v.start > this.log.size) {
      this.fetched.set(v.start, v);
      return;
    }
    await this.apply(v);
    // Drain buffered batches that now connect to the tip.
    for (let progress = true; progress;) {
      progress = false;
      for (const [start, b] of this.fetched) {
        const bEnd = start + BigInt(b.operations.length);
        if (bEnd <= this.log.size) {
          this.fetched.delete(start);
        } else if (start <= this.log.size) {
          this.fetched.delete(start);
          await this.apply(b);
          progress = true;
        }
      }
    }
    await this.commitBehind();
    if (!this.checkComplete()) this.schedule();
  }

  /**
   * Commits in the background: verifying and appending go on while a commit's fsyncs run (a
   * commit covers at least what was appended when it started). One commit is in flight at a time:
   * the next one, due `commitEveryOps` later, first waits for it, which bounds what waits to
   * become durable (and the memory it holds) to two intervals. A failed commit fails the sync.
   */
  private async commitBehind(): Promise<void> {
    if (this.sinceCommit < (this.options.commitEveryOps ?? DEFAULT_SYNC.commitEveryOps)) return;
    await this.committing;
    this.sinceCommit = 0;
    const commit = this.log.commit();
    this.committing = commit;
    commit.catch((err: unknown) => this.fail(err));
  }

  private async apply(v: Verified): Promise<void> {
    const before = this.log.size;
    if (this.log.needsPins) {
      if (v.start !== this.log.start) return; // pins come only from a batch starting at the boundary
      const pins = extractPinnedNodes(v.proof, v.start, v.start + BigInt(v.operations.length));
      await this.log.appendVerified(v.start, v.operations, v.nodes, pins);
    } else if (v.start === before) {
      this.checkContinuesLocal(v);
      await this.log.appendVerified(v.start, v.operations, v.nodes);
    } else {
      await this.log.appendVerified(v.start, v.operations);
    }
    const added = this.log.size - before;
    this.fetchedOps += added;
    this.sinceCommit += Number(added);
    this.options.observer?.applied?.(Number(added), this.log.size, this.target);
  }

  // The verifier rebuilt the batch's nodes from the proof's digests of everything before the
  // batch, which are the peaks of the MMR up to its start. They are adopted only if they are the
  // local log's own peaks: otherwise a local copy with another history (a server whose database
  // was reset, another origin) would reach the target's root without holding its operations.
  private checkContinuesLocal(v: Verified): void {
    const theirs = extractPinnedNodes(v.proof, v.start, v.start + BigInt(v.operations.length));
    const ours = this.log.mmrPeaks();
    const differs = theirs.findIndex((d, i) => ours[i] === undefined || !equalBytes(d, ours[i]));
    if (differs < 0 && theirs.length === ours.length) return;
    throw new SyncError(
      "RootMismatch",
      `the local operations before location ${v.start} are not the target's: the proof's MMR peaks before the batch differ from the local ones`,
      { details: { expected: toHex(this.target.root), location: v.start.toString() } },
    );
  }

  // ---- target updates ---------------------------------------------------------------------

  // Consumes target updates until the attempt ends. The iterator is raced against the end of the
  // attempt (an update source may wait indefinitely) and closed without waiting for it.
  private async followUpdates(ended: Promise<void>): Promise<void> {
    const updates = this.options.targetUpdates;
    if (updates === undefined) return;
    const it = updates[Symbol.asyncIterator]();
    try {
      while (!this.finished) {
        const next = await Promise.race([it.next(), ended.then(() => undefined)]);
        if (next === undefined || next.done === true || this.finished) break;
        await this.serialize(() => this.onTarget(next.value));
      }
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, "target updates stopped; syncing to the current target");
    } finally {
      void it.return?.()?.catch(() => undefined);
    }
  }

  private async onTarget(t: SyncTarget): Promise<void> {
    checkTarget(t);
    const old = this.target;
    if (!(t.upperBound > old.upperBound && t.lowerBound >= old.lowerBound)) {
      this.logger.info(
        { old_lower: old.lowerBound.toString(), old_upper: old.upperBound.toString(), lower: t.lowerBound.toString(), upper: t.upperBound.toString() },
        "ignoring a target update that does not move forward",
      );
      return;
    }
    if (equalBytes(t.root, old.root)) {
      throw new SyncError(
        "TargetRootUnchanged",
        `target moved from [${old.lowerBound}, ${old.upperBound}) to [${t.lowerBound}, ${t.upperBound}) with the same root`,
      );
    }
    await this.log.retarget(t.lowerBound, t.upperBound);
    this.target = t;
    const start = this.log.start;
    // Requests and buffered batches below the new start can no longer be used.
    for (const [id, r] of this.requests) {
      if (r.next < start) {
        r.ac.abort();
        this.requests.delete(id);
      }
    }
    for (const [s] of this.fetched) if (s < start) this.fetched.delete(s);
    this.options.observer?.targetChanged?.(t);
    this.logger.info(
      { root: toHex(t.root), lower: t.lowerBound.toString(), upper: t.upperBound.toString(), local_ops: this.log.size.toString() },
      "following new target",
    );
    if (!this.checkComplete()) this.schedule();
  }
}
