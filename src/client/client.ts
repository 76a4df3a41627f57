/**
 * `SyncClient`: the long-running client of the seed, usable as a library. Each iteration opens
 * (or reopens) the local database, asks the server for a target, syncs to it while polling for
 * newer targets, keeps a snapshot of the synced keys and values for `get`/`entries`, reports
 * success, closes the database, waits (keeping the target-lag metric current), and repeats until
 * aborted, or until an iteration limit or a run of failures ends it.
 */
import { EventEmitter } from "node:events";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { ChannelCredentials } from "@grpc/grpc-js";
import { equalBytes, toHex } from "../codec";
import { DirectoryInUseError, StorageDirectoryError, bigintField, hexField, lockStorageDirectory, readStateFile, writeStateFile } from "../journal";
import { ANY_KIND, type AnyDb, type DbKindName, IMMUTABLE_KIND, type ImmutableDb, KindMismatchError, checkStoredKind } from "../qmdb";

export { KindMismatchError };
import {
  DEFAULT_RETRY,
  DEFAULT_SYNC,
  type RetryPolicy,
  type SyncLogger,
  type SyncResult,
  type SyncTarget,
  TargetAuthError,
  TargetVerifier,
  checkTarget,
  syncDatabase,
} from "../sync";
import { GrpcResolver, type ServerTarget } from "./resolver";
import type { ClientMetrics } from "./metrics";
import { type EntryIterable, NotSyncedError, SyncedSnapshot } from "./snapshot";
import { clientTlsCredentials } from "./tls";
import { MultiSourceResolver, SourceMetrics } from "./multi-source";
import { SourceHealth } from "./source-health";

/** Defaults of the client's own timing options (the engine's are `DEFAULT_SYNC`). */
export const DEFAULT_CLIENT_TIMING = { targetUpdateIntervalMs: 1000, syncIntervalMs: 10_000 } as const;

/** Settings of a `SyncClient`. */
export interface SyncClientOptions {
  /**
   * `host:port` of the sync server, or several sources (origin, relays) to fetch from at once:
   * each range goes to one of them, every batch is verified as with one, and a source that sends
   * invalid data is excluded for a growing cool-down. The target comes from the first source,
   * or with `trustedKeys` is the newest validly signed target any source offers.
   */
  readonly server: string | readonly string[];
  /** The database kind; must match the server's. */
  readonly kind: DbKindName;
  /** Local database directory (reused across iterations and restarts). */
  readonly directory: string;
  /** Operations per streamed batch (default 50). */
  readonly fetchBatchSize?: number;
  /** Concurrent GetOperations streams (default 1). */
  readonly maxOutstandingRequests?: number;
  /** How often to poll for a newer target during a sync (default 1 s). */
  readonly targetUpdateIntervalMs?: number;
  /** Pause between iterations (default 10 s). */
  readonly syncIntervalMs?: number;
  /** TLS: the CA that must have issued the server's certificate, and a client certificate for mutual TLS. */
  readonly tls?: { readonly ca: Buffer; readonly cert?: Buffer; readonly key?: Buffer };
  /** Channel credentials, for full control (overrides `tls`; default plaintext). */
  readonly credentials?: ChannelCredentials;
  readonly retry?: Partial<RetryPolicy>;
  /**
   * Ed25519 public keys whose signature a target must carry. When set, unsigned, forged and
   * replayed-older targets are rejected before anything is written.
   */
  readonly trustedKeys?: readonly Uint8Array[];
  /** Sync to exactly this target (e.g. one taken from consensus) instead of asking the server. */
  readonly target?: SyncTarget;
  /** Follow targets pushed by `WatchSyncTarget` when the server has it (default true); else poll. */
  readonly watchTargets?: boolean;
  readonly logger?: SyncLogger & { error(obj: object, msg: string): void };
  readonly metrics?: ClientMetrics;
  /**
   * Keep a copy of the live keys and values of each completed sync for `get`/`entries` (default
   * true). It costs about 70 bytes of memory per live key; turn it off to read the directory
   * yourself (e.g. `AnyDb.open`) while the client is stopped.
   */
  readonly keepSnapshot?: boolean;
}

/** Limits of `SyncClient.run`. */
export interface RunOptions {
  /** Stop (resolve) after this many iterations (default: unlimited; 1 = a single sync). */
  readonly maxIterations?: number;
  /** Reject with `SyncFailuresError` after this many consecutive failed iterations (default: unlimited). */
  readonly maxConsecutiveFailures?: number;
}

/** `run` gave up after `failures` consecutive failed iterations; `cause` is the last error. */
export class SyncFailuresError extends Error {
  override name = "SyncFailuresError";
  constructor(
    readonly failures: number,
    cause: Error,
  ) {
    super(`${failures} consecutive sync iteration${failures === 1 ? "" : "s"} failed; last error: ${cause.message}`, { cause });
  }
}

/** The client's events. */
export interface SyncClientEvents {
  /** An iteration starts syncing to `target`. */
  start: [{ iteration: number; target: SyncTarget }];
  /** `applied` verified operations were stored: the local log holds `size` of `target.upperBound`. */
  progress: [{ iteration: number; size: bigint; target: SyncTarget; applied: number }];
  /**
   * An iteration finished: the local database has `opCount` operations and root `root`. Its data
   * is in `snapshot` (also what `client.get`/`client.entries` answer from until the next sync
   * completes); undefined when `keepSnapshot` is false.
   */
  synced: [
    {
      iteration: number;
      opCount: bigint;
      root: Uint8Array;
      target: SyncTarget;
      operationsFetched: bigint;
      durationMs: number;
      snapshot: SyncedSnapshot | undefined;
    },
  ];
  /** An iteration failed (the client keeps going unless the failure is permanent). */
  failed: [{ iteration: number; error: Error }];
}

/** Where the last verified target is remembered (only with trusted keys). */
const TARGET_FILE = "client-target.json";

const NOOP = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

/** A validly signed target older than the one already synced (a replay, or a lagging relay). */
class StaleTargetError extends TargetAuthError {}

/** Times a stale initial target is asked for again, and the pause between asks. */
const STALE_TARGET_ATTEMPTS = 4;
const STALE_TARGET_PAUSE_MS = 250;

/** Keeps a local database continuously in sync with a server. */
export class SyncClient extends EventEmitter<SyncClientEvents> {
  private readonly log: NonNullable<SyncClientOptions["logger"]>;
  private readonly verifier: TargetVerifier | undefined;
  private lastServerOpCount = 0n;
  private localOpCount = 0n;
  private lastSnapshot: SyncedSnapshot | undefined;
  private readonly sources: readonly string[];
  // Multi-source only: scores and cool-downs kept across iterations, and per-source metrics.
  private readonly sourceHealth: SourceHealth | undefined;
  private readonly sourceMetrics: SourceMetrics | undefined;

  constructor(readonly options: SyncClientOptions) {
    super();
    this.sources = typeof options.server === "string" ? [options.server] : [...options.server];
    if (this.sources.length === 0) throw new Error("at least one server address is needed");
    this.sourceHealth = this.sources.length > 1 ? new SourceHealth(this.sources) : undefined;
    this.sourceMetrics = this.sourceHealth !== undefined && options.metrics !== undefined ? new SourceMetrics(options.metrics.registry, "client") : undefined;
    this.log = options.logger ?? NOOP;
    this.verifier = options.trustedKeys === undefined || options.trustedKeys.length === 0 ? undefined : new TargetVerifier(options.trustedKeys);
    if (options.target !== undefined) checkTarget(options.target);
  }

  /**
   * The data of the last completed sync: a consistent snapshot (never a half-applied sync), kept
   * until the next sync completes. Undefined before the first `synced` event of this client (or
   * always, with `keepSnapshot: false`).
   */
  get snapshot(): SyncedSnapshot | undefined {
    return this.lastSnapshot;
  }

  /**
   * The value of `key` at the last completed sync (for `immutable`, the value set), or undefined
   * if the key is not live. Throws `NotSyncedError` before the first `synced` event: "no sync
   * yet" is not "no such key".
   */
  get(key: Uint8Array): Uint8Array | undefined {
    return this.requireSnapshot().get(key);
  }

  /**
   * Every live key and its value at the last completed sync, for `for … of` or `for await … of`.
   * Throws `NotSyncedError` before the first `synced` event.
   */
  entries(): EntryIterable {
    return this.requireSnapshot().entries();
  }

  private requireSnapshot(): SyncedSnapshot {
    if (this.lastSnapshot !== undefined) return this.lastSnapshot;
    throw new NotSyncedError(
      this.options.keepSnapshot === false
        ? "this client keeps no snapshot (keepSnapshot: false); open the database directory to read it"
        : "no sync has completed yet: read after the first 'synced' event",
    );
  }

  /**
   * Runs iterations until `signal` aborts (resolves), `maxIterations` are done (resolves), or a
   * permanent error occurs (rejects, e.g. `KindMismatchError`). Transient failures are reported
   * as `failed` events and retried, up to `maxConsecutiveFailures` in a row (then rejects with
   * `SyncFailuresError`).
   */
  async run(signal: AbortSignal, limits: RunOptions = {}): Promise<void> {
    // The directory is ours for the whole run, not just during iterations.
    const lock = lockStorageDirectory(this.options.directory);
    try {
      await this.loop(signal, limits);
    } finally {
      lock.release();
    }
  }

  private async loop(signal: AbortSignal, limits: RunOptions): Promise<void> {
    const metrics = this.options.metrics;
    this.log.info({ server: this.sources.join(","), db: this.options.kind }, "starting continuous sync process");
    let failures = 0;
    for (let iteration = 1; !signal.aborted; iteration++) {
      try {
        await this.syncOnce(iteration, signal);
        failures = 0;
      } catch (err) {
        if (signal.aborted) break;
        if (err instanceof KindMismatchError || err instanceof DirectoryInUseError || err instanceof StorageDirectoryError) throw err;
        failures++;
        metrics?.syncs.inc({ result: "error" });
        metrics?.consecutiveFailures.set(failures);
        // One line at info level: the message (which names the gRPC status and says it once), no stack.
        this.log.error({ sync_iteration: iteration, consecutive_failures: failures, err: (err as Error).message }, "sync failed");
        this.log.debug({ sync_iteration: iteration, err }, "sync failure details");
        this.emit("failed", { iteration, error: err as Error });
        if (limits.maxConsecutiveFailures !== undefined && failures >= limits.maxConsecutiveFailures) throw new SyncFailuresError(failures, err as Error);
      }
      if (limits.maxIterations !== undefined && iteration >= limits.maxIterations) break;
      try {
        await this.pause(this.options.syncIntervalMs ?? DEFAULT_CLIENT_TIMING.syncIntervalMs, signal);
      } catch {
        break;
      }
    }
  }

  // Waits between iterations, following the (first) server's target so that the lag metric stays current.
  private async pause(ms: number, signal: AbortSignal): Promise<void> {
    const metrics = this.options.metrics;
    if (metrics === undefined || this.options.target !== undefined) return sleep(ms, undefined, { signal });
    const waiting = new AbortController();
    const stopWaiting = (): void => waiting.abort();
    signal.addEventListener("abort", stopWaiting, { once: true });
    const resolver = new GrpcResolver(this.sources[0]!, this.options.kind, this.connectOptions());
    const tracking = (async () => {
      for await (const served of this.serverTargets(resolver, waiting.signal)) {
        this.noteServerOpCount(served.target.upperBound);
        metrics.targetLag.set(Number(served.target.upperBound - this.localOpCount));
      }
    })();
    try {
      await sleep(ms, undefined, { signal });
    } finally {
      waiting.abort();
      signal.removeEventListener("abort", stopWaiting);
      await tracking.catch(() => {});
      resolver.close();
    }
  }

  // The server's targets as they change: pushed (WatchSyncTarget) when the server has it, else
  // polled every target-update interval. Failures are logged at debug level only.
  private async *serverTargets(resolver: GrpcResolver, signal: AbortSignal): AsyncGenerator<ServerTarget> {
    if (this.options.watchTargets !== false) {
      try {
        yield* resolver.watchSyncTarget(signal);
      } catch (err) {
        if (signal.aborted) return;
        this.log.debug({ err: (err as Error).message }, "target push unavailable; polling instead");
      }
    }
    const interval = this.options.targetUpdateIntervalMs ?? DEFAULT_CLIENT_TIMING.targetUpdateIntervalMs;
    while (!signal.aborted) {
      try {
        yield await resolver.getSyncTarget(signal);
      } catch (err) {
        if (signal.aborted) return;
        this.log.debug({ err: (err as Error).message }, "failed to fetch a target update");
      }
      await sleep(interval, undefined, { signal }).catch(() => {});
    }
  }

  // How to connect to a source: TLS credentials (without an IP address as server name) and byte counting.
  private connectOptions(): { credentials: ChannelCredentials | undefined; onBytes: ((n: number) => void) | undefined } {
    const metrics = this.options.metrics;
    const tls = this.options.tls;
    return {
      credentials: this.options.credentials ?? (tls === undefined ? undefined : clientTlsCredentials(tls.ca, tls.key, tls.cert)),
      onBytes: metrics && ((n: number) => metrics.bytesReceived.inc(n)),
    };
  }

  /** One iteration: fetch a target, sync to it (following newer ones), close the database. */
  async syncOnce(iteration: number, signal?: AbortSignal): Promise<SyncResult<AnyDb | ImmutableDb>> {
    const lock = lockStorageDirectory(this.options.directory);
    try {
      return await this.syncLocked(iteration, signal);
    } finally {
      lock.release();
    }
  }

  private async syncLocked(iteration: number, signal?: AbortSignal): Promise<SyncResult<AnyDb | ImmutableDb>> {
    const metrics = this.options.metrics;
    const connect = this.connectOptions();
    const resolver =
      this.sourceHealth === undefined
        ? new GrpcResolver(this.sources[0]!, this.options.kind, connect)
        : new MultiSourceResolver(this.sources, this.options.kind, {
            connect,
            verifier: this.verifier,
            health: this.sourceHealth,
            metrics: this.sourceMetrics,
            logger: this.log,
            // A stalled source loses its range well before the engine would time the request out.
            stallTimeoutMs: Math.min(10_000, (this.options.retry?.requestTimeoutMs ?? DEFAULT_RETRY.requestTimeoutMs) / 3),
          });
    const polling = new AbortController();
    const stopPolling = (): void => polling.abort();
    signal?.addEventListener("abort", stopPolling, { once: true });
    const started = Date.now();
    try {
      await checkStoredKind(this.options.directory, this.options.kind);
      const initial = { target: await this.initialTarget(resolver, signal) };
      this.noteServerOpCount(initial.target.upperBound);
      this.log.info(
        {
          sync_iteration: iteration,
          target: { root: toHex(initial.target.root), lower_bound: initial.target.lowerBound.toString(), upper_bound: initial.target.upperBound.toString() },
          server: this.sources.join(","),
          batch_size: this.options.fetchBatchSize ?? DEFAULT_SYNC.fetchBatchSize,
          target_update_interval: `${this.options.targetUpdateIntervalMs ?? DEFAULT_CLIENT_TIMING.targetUpdateIntervalMs}ms`,
        },
        "starting sync",
      );
      this.emit("start", { iteration, target: initial.target });
      const common = {
        directory: this.options.directory,
        target: initial.target,
        resolver,
        fetchBatchSize: this.options.fetchBatchSize ?? DEFAULT_SYNC.fetchBatchSize,
        // Several sources: at least one request per source, in smaller ranges, so all get work.
        maxOutstandingRequests: Math.max(this.options.maxOutstandingRequests ?? DEFAULT_SYNC.maxOutstandingRequests, this.sources.length),
        requestOps: this.sources.length > 1 ? (this.options.fetchBatchSize ?? DEFAULT_SYNC.fetchBatchSize) * 16 : undefined,
        targetUpdates: this.options.target === undefined ? this.followTargets(resolver, initial.target, polling.signal) : undefined,
        retry: this.options.retry,
        signal,
        logger: this.log,
        observer: {
          verified: (n: number) => metrics?.operationsVerified.inc(n),
          applied: (n: number, size: bigint, target: SyncTarget) => {
            metrics?.operationsApplied.inc(n);
            this.localOpCount = size;
            metrics?.opCount.set(Number(size));
            metrics?.targetLag.set(Number(this.lastServerOpCount - size));
            this.emit("progress", { iteration, size, target, applied: n });
          },
          rejected: (reason: string) => metrics?.proofFailures.inc({ reason }),
          retrying: () => metrics?.retries.inc(),
        },
      };
      if (metrics !== undefined) {
        resolver.onOperations = (n) => metrics.operationsFetched.inc(n);
      }
      const result = this.options.kind === "any" ? await syncDatabase({ ...common, kind: ANY_KIND }) : await syncDatabase({ ...common, kind: IMMUTABLE_KIND });
      const database = result.database;
      const opCount = database.opCount;
      const root = database.root();
      let snapshot: SyncedSnapshot | undefined;
      try {
        // A database that did not change (same op count and root) keeps its snapshot: no copy.
        const previous = this.lastSnapshot;
        const unchanged = previous !== undefined && previous.opCount === opCount && equalBytes(previous.root, root);
        if (this.options.keepSnapshot !== false) {
          snapshot = unchanged ? previous : await SyncedSnapshot.build(this.options.kind, result.target, database.activeKeys, database.entries());
        }
      } finally {
        await database.close();
      }
      if (this.verifier !== undefined) this.rememberTarget(result.target);
      this.lastSnapshot = snapshot;
      this.localOpCount = opCount;
      const durationMs = Date.now() - started;
      metrics?.syncDuration.observe(durationMs / 1000);
      metrics?.syncs.inc({ result: "success" });
      metrics?.consecutiveFailures.set(0);
      metrics?.lastSuccess.set(Date.now() / 1000);
      metrics?.opCount.set(Number(opCount));
      metrics?.targetLag.set(Number(this.lastServerOpCount - opCount));
      this.log.info(
        {
          sync_iteration: iteration,
          op_count: opCount.toString(),
          database_ops: opCount.toString(),
          root: toHex(root),
          operations_fetched: result.operationsFetched.toString(),
          operations_reused: result.operationsReused.toString(),
          sync_interval: `${this.options.syncIntervalMs ?? DEFAULT_CLIENT_TIMING.syncIntervalMs}ms`,
          duration_ms: durationMs,
        },
        "✅ sync completed successfully",
      );
      this.emit("synced", { iteration, opCount, root, target: result.target, operationsFetched: result.operationsFetched, durationMs, snapshot });
      return result;
    } finally {
      polling.abort();
      signal?.removeEventListener("abort", stopPolling);
      resolver.close();
    }
  }

  private noteServerOpCount(n: bigint): void {
    if (n > this.lastServerOpCount) this.lastServerOpCount = n;
  }

  // The target to start from (checked by `accept`). Behind a load balancer one relay may still
  // serve a validly signed target older than the one already synced: that one is refused, but
  // the client asks again a few times (another relay may answer) before failing the iteration.
  private async initialTarget(resolver: Pick<GrpcResolver, "getSyncTarget">, signal: AbortSignal | undefined): Promise<SyncTarget> {
    for (let attempt = 1; ; attempt++) {
      const served = await resolver.getSyncTarget(signal);
      if (served.kind !== this.options.kind) {
        throw new KindMismatchError(
          `server ${this.sources[0]} holds an ${served.kind} database; this client syncs ${this.options.kind} (use --db ${served.kind})`,
        );
      }
      if (this.options.target !== undefined) return this.options.target;
      try {
        return this.accept(served);
      } catch (err) {
        if (!(err instanceof StaleTargetError) || attempt >= STALE_TARGET_ATTEMPTS) throw err;
        this.log.info({ err: err.message, attempt }, "target older than the one already synced (a lagging relay?); asking again");
        await sleep(STALE_TARGET_PAUSE_MS, undefined, { signal });
      }
    }
  }

  /**
   * Checks a served target before anything is written: kind, then (with trusted keys) its
   * signature and that it is not older than the last target synced from this directory.
   */
  private accept(served: ServerTarget): SyncTarget {
    if (served.kind !== this.options.kind) throw new KindMismatchError(`server switched to an ${served.kind} database`);
    if (this.verifier === undefined) return served.target;
    this.verifier.verify(served.kind, served.target, served.signature, served.signer);
    const last = this.lastTarget();
    if (last !== undefined) {
      const t = served.target;
      if (t.upperBound < last.upperBound || t.lowerBound < last.lowerBound) {
        throw new StaleTargetError(
          `target [${t.lowerBound}, ${t.upperBound}) is older than the one already synced [${last.lowerBound}, ${last.upperBound}): replayed`,
        );
      }
      if (t.upperBound === last.upperBound && !equalBytes(t.root, last.root)) {
        throw new TargetAuthError(`target at op count ${t.upperBound} has root ${toHex(t.root)}, but ${toHex(last.root)} was already synced at that count`);
      }
    }
    return served.target;
  }

  private get targetFile(): string {
    return path.join(this.options.directory, TARGET_FILE);
  }

  private lastTarget(): SyncTarget | undefined {
    return readStateFile(this.targetFile, parseSavedTarget);
  }

  // Remembers the last verified target synced (durably), so a replayed older one is refused.
  private rememberTarget(t: SyncTarget): void {
    writeStateFile(this.targetFile, { root: toHex(t.root), lowerBound: t.lowerBound.toString(), upperBound: t.upperBound.toString() });
  }

  // Yields newer targets: pushed by WatchSyncTarget when the server has it, else polled every
  // interval. Targets that fail `accept` are skipped with a warning.
  private async *followTargets(
    resolver: Pick<GrpcResolver, "getSyncTarget" | "watchSyncTarget">,
    first: SyncTarget,
    signal: AbortSignal,
  ): AsyncGenerator<SyncTarget> {
    let last = first;
    const fresh = (t: SyncTarget): boolean => !equalBytes(t.root, last.root) || t.upperBound !== last.upperBound || t.lowerBound !== last.lowerBound;
    const check = (served: ServerTarget): SyncTarget | undefined => {
      this.noteServerOpCount(served.target.upperBound);
      try {
        const t = this.accept(served);
        if (!fresh(t)) return undefined;
        last = t;
        return t;
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, "rejected a target update");
        return undefined;
      }
    };
    if (this.options.watchTargets !== false) {
      try {
        for await (const served of resolver.watchSyncTarget(signal)) {
          const t = check(served);
          if (t !== undefined) yield t;
        }
        if (signal.aborted) return;
      } catch (err) {
        if (signal.aborted) return;
        this.log.info({ err: (err as Error).message }, "target push unavailable; polling instead");
      }
    }
    const interval = this.options.targetUpdateIntervalMs ?? DEFAULT_CLIENT_TIMING.targetUpdateIntervalMs;
    // An unreachable server fails every poll: warn once per outage, not once per interval (the
    // iteration's own failure line says the rest).
    let failing = false;
    while (!signal.aborted) {
      try {
        await sleep(interval, undefined, { signal });
      } catch {
        return;
      }
      try {
        const t = check(await resolver.getSyncTarget(signal));
        failing = false;
        if (t !== undefined) yield t;
      } catch (err) {
        if (signal.aborted) return;
        this.log[failing ? "debug" : "warn"]({ err: (err as Error).message }, "failed to fetch a target update");
        failing = true;
      }
    }
  }
}

// The record of `client-target.json`: a checked target (hex root, decimal bounds).
function parseSavedTarget(record: unknown): SyncTarget {
  const target = { root: hexField(record, "root", 32), lowerBound: bigintField(record, "lowerBound"), upperBound: bigintField(record, "upperBound") };
  checkTarget(target);
  return target;
}
