/**
 * Relay mode: a server that serves a verified copy of an upstream instead of generating
 * operations. It follows the upstream's targets and, for each, runs the sync engine into a log in
 * its own storage directory (every batch verified against the target's root, exactly as a client
 * does), continuously, without ever pruning. The log is append-only and proofs are historical, so
 * while the engine appends towards the next target the service keeps answering for the last
 * target fully reached: `GetSyncTarget` never shows a half-synced state, `GetOperations` proves
 * against the reached root, and `WatchSyncTarget` pushes each target as it is reached. Targets
 * are passed on with the signature they came with, so clients that trust only the origin's key
 * accept them from any relay. A relay restarted on its directory serves its last reached target
 * at once and resumes from it.
 */
import { EventEmitter } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import { equalBytes, toHex } from "../codec";
import { type ConnectOptions, MultiSourceResolver, type ServerTarget, SourceMetrics } from "../client";
import { ANY_KIND, type AnyDb, type DbKind, type DbKindName, IMMUTABLE_KIND, type ImmutableDb, type ProvenOperations, SyncLog, checkStoredKind } from "../qmdb";
import { type RetryPolicy, SyncError, type SyncLogger, type SyncTarget, TargetVerifier, syncOpenLog } from "../sync";
import type { ServedSource, SourceContext, SourceFactory, TargetSignature, TargetSource } from "../server/target-source";
import { type Logger, hex } from "../telemetry";
import { RelayMetrics } from "./metrics";
import { type ReachedTarget, clearReachedTarget, readReachedTarget, writeReachedTarget } from "./reached-target";
import { UpstreamTargets } from "./upstream-targets";

/** Settings of a relay. */
export interface RelayOptions {
  /** Upstream servers (origin or relays), `host:port`. */
  readonly upstreams: readonly string[];
  /** Accept only upstream targets signed by one of these Ed25519 public keys. */
  readonly trustedKeys?: readonly Uint8Array[];
  /** Connection to the upstream (TLS credentials; default plaintext). */
  readonly connect?: ConnectOptions;
  /** Operations per fetched batch (default 1000). */
  readonly fetchBatchSize?: number;
  /** How often to poll the upstream when it cannot push targets (default 1 s). */
  readonly pollIntervalMs?: number;
  readonly retry?: Partial<RetryPolicy>;
}

type Kind = DbKind<unknown, AnyDb | ImmutableDb>;
type Log = SyncLog<unknown, AnyDb | ImmutableDb>;

/** A factory of relay sources. */
export function relaySource(options: RelayOptions): SourceFactory {
  return (context) => RelaySource.open(options, context);
}

/** The relay's served state and its sync loop. */
export class RelaySource extends EventEmitter<{ target: [SyncTarget] }> implements TargetSource, ServedSource {
  readonly catchingUp = true;
  private reached: ReachedTarget | undefined;
  // The log was wiped after a root mismatch: health is NOT_SERVING until a target is reached.
  private wiped = false;
  private readonly stopping = new AbortController();
  private loop: Promise<void> | undefined;
  private readonly upstream: MultiSourceResolver;
  private readonly targets: UpstreamTargets;
  private readonly metrics: RelayMetrics;
  private readonly dbKind: Kind;

  private constructor(
    private readonly options: RelayOptions,
    private readonly context: SourceContext,
    private log: Log | undefined,
    reached: ReachedTarget | undefined,
  ) {
    super();
    this.setMaxListeners(0); // one listener per watching client
    this.reached = reached;
    this.dbKind = (context.kind === "any" ? ANY_KIND : IMMUTABLE_KIND) as unknown as Kind;
    const registry = context.metrics.registry;
    this.upstream = new MultiSourceResolver(options.upstreams, context.kind, {
      connect: options.connect,
      verifier: options.trustedKeys === undefined || options.trustedKeys.length === 0 ? undefined : new TargetVerifier(options.trustedKeys),
      metrics: new SourceMetrics(registry, "relay"),
      logger: context.logger,
    });
    this.targets = new UpstreamTargets(this.upstream, context.kind, options.pollIntervalMs ?? 1000, context.logger, (t) => this.onUpstreamTarget(t));
    this.metrics = new RelayMetrics(registry, () => this.targets.secondsBehind());
    if (reached !== undefined) this.publishMetrics(reached.target.upperBound);
  }

  /**
   * Opens the relay's directory. A recorded reached target whose data is intact (the log holds
   * exactly its operations, after dropping a partial sync beyond it, and its root matches) is
   * served at once; otherwise the relay starts empty and serves nothing until its first target.
   */
  static async open(options: RelayOptions, context: SourceContext): Promise<RelaySource> {
    if (options.upstreams.length === 0) throw new Error("a relay needs at least one upstream");
    const { kind, storageDir: dir, logger } = context;
    await checkStoredKind(dir, kind);
    const dbKind = (kind === "any" ? ANY_KIND : IMMUTABLE_KIND) as unknown as Kind;
    const saved = readReachedTarget(dir, kind);
    let log: Log | undefined;
    let reached: ReachedTarget | undefined;
    if (saved !== undefined) {
      const t = saved.target;
      log = await SyncLog.open(dbKind, dir, t.lowerBound, t.upperBound, {}, true);
      if (log.origin === "reused" && log.size === t.upperBound && !log.needsPins && equalBytes(log.mmrRoot(), t.root)) {
        reached = saved;
        logger.info(
          { op_count: t.upperBound.toString(), root: hex(t.root), lower_bound: t.lowerBound.toString() },
          "relay resumes from the target it last reached",
        );
      } else {
        logger.warn({ op_count: t.upperBound.toString(), reason: log.reason }, "the recorded relay target does not match the local copy; starting over");
        await log.destroy();
        log = undefined;
        clearReachedTarget(dir);
      }
    }
    const relay = new RelaySource(options, context, log, reached);
    context.metrics.opCount.set(Number(reached?.target.upperBound ?? 0n));
    return relay;
  }

  // ---- TargetSource -----------------------------------------------------------------------

  get source(): TargetSource {
    return this;
  }

  get kind(): DbKindName {
    return this.context.kind;
  }

  get target(): SyncTarget | undefined {
    return this.reached?.target;
  }

  get targetSignature(): TargetSignature | undefined {
    const r = this.reached;
    return r === undefined || r.signature.length === 0 ? undefined : { signature: r.signature, signer: r.signer };
  }

  get oldestRetainedLoc(): bigint {
    return this.log?.oldestRetainedLoc ?? 0n;
  }

  historicalProof(opCount: bigint, startLoc: bigint, maxOps: bigint): ProvenOperations<Uint8Array> {
    if (this.log === undefined) throw new SyncError("InvalidState", "the relay holds no operations");
    return this.log.historicalProofEncoded(opCount, startLoc, maxOps);
  }

  // ---- ServedSource -----------------------------------------------------------------------

  get description(): Record<string, unknown> {
    return { mode: "relay", upstream: this.options.upstreams.join(","), trusted_keys: this.options.trustedKeys?.length ?? 0 };
  }

  start(): void {
    const signal = this.stopping.signal;
    void this.targets.run(signal);
    this.loop = this.run(signal);
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await this.loop;
  }

  async close(): Promise<void> {
    await this.stop();
    this.upstream.close();
    await this.log?.close();
    this.log = undefined;
  }

  // ---- the sync loop ----------------------------------------------------------------------

  private async run(signal: AbortSignal): Promise<void> {
    const logger = this.context.logger;
    let failures = 0;
    while (!signal.aborted) {
      // Wait for a target beyond what is served that the log can still reach (a sync cut short
      // may have left verified operations beyond the served target).
      const served = this.reached?.target.upperBound ?? 0n;
      const held = (this.log?.size ?? 0n) - 1n;
      const next = await this.targets.newerThan(held > served ? held : served, signal);
      if (next === undefined) return;
      try {
        await this.reach(next, signal);
        failures = 0;
      } catch (err) {
        if (signal.aborted) return;
        failures++;
        this.metrics.syncFailures.inc();
        logger.warn({ err: (err as Error).message, upstream: this.options.upstreams.join(","), attempt: failures }, "relay sync failed; retrying");
        if (err instanceof SyncError && err.kind === "RootMismatch") await this.startOver();
        try {
          await sleep(Math.min(30_000, 250 * 2 ** Math.min(failures - 1, 7)), undefined, { signal });
        } catch {
          return;
        }
      }
    }
  }

  // Syncs the log to `next` (verified), records it, then serves it.
  private async reach(next: ServerTarget, signal: AbortSignal): Promise<void> {
    const t = next.target;
    if (this.log === undefined) {
      this.log = await SyncLog.open(this.dbKind, this.context.storageDir, t.lowerBound, t.upperBound);
      this.context.logger.info({ origin: this.log.origin, reason: this.log.reason, start: this.log.start.toString() }, "relay opened its local log");
    }
    const started = Date.now();
    const fetched = await syncOpenLog(this.log, {
      kind: this.dbKind,
      target: t,
      resolver: this.upstream,
      fetchBatchSize: this.options.fetchBatchSize ?? 1000,
      maxOutstandingRequests: Math.max(2, 2 * this.options.upstreams.length),
      retry: this.options.retry,
      signal,
      logger: quiet(this.context.logger),
    });
    // The record must never point past durable data: sync the log (and its MMR) first.
    await this.log.sync();
    const reached: ReachedTarget = { target: t, signature: next.signature, signer: next.signer };
    writeReachedTarget(this.context.storageDir, this.context.kind, reached);
    this.reached = reached;
    this.publishMetrics(t.upperBound);
    this.metrics.targetsReached.inc();
    this.context.logger.info(
      { op_count: t.upperBound.toString(), root: hex(t.root), operations_fetched: fetched.toString(), duration_ms: Date.now() - started },
      "relay reached target",
    );
    this.emit("target", t);
    if (this.wiped) {
      this.wiped = false;
      this.context.setServing?.(true);
    }
  }

  // The local log cannot reach a target's root although every batch verified: discard it, and
  // report NOT_SERVING until the next target is reached (there is nothing left to serve).
  private async startOver(): Promise<void> {
    this.context.logger.error({ storage_dir: this.context.storageDir }, "relay log does not match the verified target; wiping it and starting over");
    this.wiped = true;
    this.context.setServing?.(false);
    await this.log?.destroy();
    this.log = undefined;
    this.reached = undefined;
    clearReachedTarget(this.context.storageDir);
  }

  private onUpstreamTarget(t: ServerTarget): void {
    this.metrics.upstreamOpCount.set(Number(t.target.upperBound));
    this.metrics.opsBehind.set(Number(t.target.upperBound - (this.reached?.target.upperBound ?? 0n)));
    this.context.logger.debug({ op_count: t.target.upperBound.toString(), root: toHex(t.target.root) }, "upstream target");
  }

  private publishMetrics(served: bigint): void {
    this.targets.served(served);
    this.metrics.servedOpCount.set(Number(served));
    this.context.metrics.opCount.set(Number(served));
    const upstream = this.targets.latest?.target.upperBound ?? served;
    this.metrics.opsBehind.set(Number(upstream > served ? upstream - served : 0n));
  }
}

// The engine logs every request and batch; a relay syncs continuously, so its engine speaks at
// debug level except for warnings.
function quiet(logger: Logger): SyncLogger {
  return { debug: (o, m) => logger.debug(o, m), info: (o, m) => logger.debug(o, m), warn: (o, m) => logger.warn(o, m) };
}
