/**
 * A `Resolver` over several sync servers at once (origins, relays, mirrors): each request goes to
 * the source with the most measured throughput per request in flight, so the engine's concurrent
 * requests spread over every source and slow ones get less work. A source that fails, stalls or
 * does not hold the range yet hands the rest of the range to another source within the same
 * stream; one whose data the engine rejects is named in the logs, counted per source and excluded
 * for a cool-down that grows with every offence. Nothing here is trusted: the engine verifies
 * every batch exactly as with one source.
 *
 * Targets: with a `TargetVerifier`, the newest validly signed target any source offers; without,
 * the first source's target (the others serve data only).
 */
import { Counter, type Registry } from "prom-client";
import type { DbKindName } from "../qmdb";
import { type FetchedBatch, type FetchRequest, InvalidResponseError, type Resolver, ResolverError, type TargetVerifier } from "../sync";
import { type ConnectOptions, GrpcResolver, type ServerTarget } from "./resolver";
import { SourceHealth, type SourceState } from "./source-health";

/** Per-source counters (named `<prefix>_source_…`, labelled by source address). */
export class SourceMetrics {
  /** Batches of invalid data, by source and reason. */
  readonly invalid: Counter<"source" | "reason">;
  /** Operations received, by source. */
  readonly operations: Counter<"source">;
  /** Requests handed to another source after a failure, stall or refusal, by source. */
  readonly failovers: Counter<"source">;

  constructor(registry: Registry, prefix: string) {
    this.invalid = new Counter({
      name: `${prefix}_source_invalid_batches_total`,
      help: "Batches of invalid data, by source",
      labelNames: ["source", "reason"],
      registers: [registry],
    });
    this.operations = new Counter({
      name: `${prefix}_source_received_operations_total`,
      help: "Operations received, by source",
      labelNames: ["source"],
      registers: [registry],
    });
    this.failovers = new Counter({
      name: `${prefix}_source_failovers_total`,
      help: "Requests moved away from a source that failed, stalled or lacked the range",
      labelNames: ["source"],
      registers: [registry],
    });
  }
}

/** Logging the resolver does (a pino logger fits). */
export interface SourceLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** Settings of a `MultiSourceResolver`. */
export interface MultiSourceOptions {
  /** Connection settings shared by every source. */
  readonly connect?: ConnectOptions;
  /** Accept only targets it verifies; the newest valid one of any source wins. */
  readonly verifier?: TargetVerifier;
  /** A source that delivers nothing for this long loses the range to another (default 10 s). */
  readonly stallTimeoutMs?: number;
  /** Scores and cool-downs, kept across syncs (default: fresh). */
  readonly health?: SourceHealth;
  readonly metrics?: SourceMetrics;
  readonly logger?: SourceLogger;
}

const NOOP_LOGGER: SourceLogger = { info: () => {}, warn: () => {} };

/** How long other sources may still answer a target request once one gave an acceptable target. */
const TARGET_GRACE_MS = 1000;

/** A stream that delivered nothing for the stall timeout. */
class Stalled extends Error {}

/** Fans requests out over several per-source gRPC resolvers. */
export class MultiSourceResolver implements Resolver {
  readonly health: SourceHealth;
  private readonly resolvers = new Map<SourceState, GrpcResolver>();
  private readonly owner = new WeakMap<FetchedBatch, SourceState>();
  private readonly log: SourceLogger;
  /** Called with the number of operations in every batch received (before any check). */
  onOperations: ((count: number) => void) | undefined = undefined;

  constructor(
    readonly addresses: readonly string[],
    readonly kind: DbKindName,
    private readonly options: MultiSourceOptions = {},
  ) {
    if (addresses.length === 0) throw new Error("at least one source is needed");
    this.health = options.health ?? new SourceHealth(addresses);
    if (this.health.sources.map((s) => s.address).join(",") !== addresses.join(",")) throw new Error("source health belongs to other sources");
    for (const s of this.health.sources) this.resolvers.set(s, new GrpcResolver(s.address, kind, options.connect));
    this.log = options.logger ?? NOOP_LOGGER;
  }

  private resolver(s: SourceState): GrpcResolver {
    return this.resolvers.get(s)!;
  }

  /**
   * The target to sync to: without a verifier the first source's; with one, the newest target
   * (highest upper bound) any source offers that verifies; sources still silent 1 s after the
   * first acceptable answer are left out. Throws the first source's error when no source offers
   * an acceptable target.
   */
  async getSyncTarget(signal?: AbortSignal): Promise<ServerTarget> {
    const sources = this.health.sources;
    if (this.options.verifier === undefined) return this.resolver(sources[0]!).getSyncTarget(signal);
    const answers: Array<PromiseSettledResult<ServerTarget> | undefined> = sources.map(() => undefined);
    let best = undefined as ServerTarget | undefined;
    await new Promise<void>((resolve) => {
      let pending = sources.length;
      let grace: NodeJS.Timeout | undefined;
      const done = (): void => {
        clearTimeout(grace);
        resolve();
      };
      sources.forEach((s, i) => {
        this.resolver(s)
          .getSyncTarget(signal)
          .then(
            (value) => {
              answers[i] = { status: "fulfilled", value };
              if (this.unacceptable(value) === undefined && (best === undefined || value.target.upperBound > best.target.upperBound)) best = value;
              // Once one source has answered acceptably, the others get a short grace period,
              // not their whole deadline (an unresponsive source must not hold every sync up).
              if (best !== undefined && grace === undefined) grace = setTimeout(done, TARGET_GRACE_MS);
            },
            (reason: unknown) => void (answers[i] = { status: "rejected", reason }),
          )
          .finally(() => {
            if (--pending === 0) done();
          });
      });
    });
    if (best !== undefined) return best;
    const first = answers[0];
    if (first?.status === "rejected") throw first.reason;
    const problems = answers.map((a, i) => {
      const why = a === undefined ? "no answer" : a.status === "rejected" ? (a.reason as Error).message : this.unacceptable(a.value);
      return `${sources[i]!.address}: ${why}`;
    });
    throw new ResolverError(`no source offers an acceptable target: ${problems.join("; ")}`, true);
  }

  /**
   * Pushed targets: the first source's stream without a verifier; with one, every source's
   * streams merged, keeping only valid targets newer than the last one yielded. A source whose
   * targets are refused (not signed by a trusted key, other kind) is named at warn, once until it
   * offers an acceptable one again. Sources whose stream fails drop out; when all have, the last
   * error is thrown (callers fall back to polling).
   */
  async *watchSyncTarget(signal: AbortSignal): AsyncIterable<ServerTarget> {
    const [first] = this.health.sources;
    if (this.options.verifier === undefined) {
      yield* this.resolver(first!).watchSyncTarget(signal);
      return;
    }
    let latest: ServerTarget | undefined;
    let newest = -1n;
    let open = this.health.sources.length;
    let failure: unknown;
    let wake: (() => void) | undefined;
    const notify = (): void => {
      wake?.();
      wake = undefined;
    };
    const pumps = this.health.sources.map(async (s) => {
      try {
        let refusing = false;
        for await (const t of this.resolver(s).watchSyncTarget(signal)) {
          const why = this.unacceptable(t);
          if (why !== undefined && !refusing) this.log.warn({ source: s.address, err: why }, "ignoring the targets this source pushes");
          refusing = why !== undefined;
          if (t.target.upperBound <= newest || refusing) continue;
          newest = t.target.upperBound;
          latest = t;
          notify();
        }
      } catch (err) {
        failure = err;
      } finally {
        open--;
        notify();
      }
    });
    try {
      for (;;) {
        if (latest !== undefined) {
          const next = latest;
          latest = undefined;
          yield next;
          continue;
        }
        if (open === 0 || signal.aborted) break;
        await new Promise<void>((resolve) => (wake = resolve));
      }
      if (failure !== undefined && !signal.aborted) throw failure;
    } finally {
      void Promise.allSettled(pumps);
    }
  }

  // Why a source's target cannot be used (undefined when it can).
  private unacceptable(t: ServerTarget): string | undefined {
    if (t.kind !== this.kind) return `holds an ${t.kind} database`;
    try {
      this.options.verifier?.verify(t.kind, t.target, t.signature, t.signer);
      return undefined;
    } catch (err) {
      return (err as Error).message;
    }
  }

  async *fetch(request: FetchRequest, signal: AbortSignal): AsyncIterable<FetchedBatch> {
    const end = request.startLoc + request.maxOps;
    let next = request.startLoc;
    const tried = new Set<SourceState>();
    const reasons: string[] = [];
    while (next < end && !signal.aborted) {
      const source = this.health.pick(tried);
      if (source === undefined) {
        const wait = this.health.nextAvailableInMs();
        throw new ResolverError(
          `no source can serve operations [${next}, ${end}) now${reasons.length > 0 ? `: ${reasons.join("; ")}` : " (all are cooling down)"}`,
          true,
          wait > 0 ? wait : undefined,
        );
      }
      const ac = new AbortController();
      const onAbort = (): void => ac.abort();
      signal.addEventListener("abort", onAbort, { once: true });
      const stallMs = this.options.stallTimeoutMs ?? 10_000;
      let stalled = false;
      let timer: NodeJS.Timeout | undefined;
      const arm = (): void => {
        clearTimeout(timer);
        timer = setTimeout(() => {
          stalled = true;
          ac.abort();
        }, stallMs);
      };
      const started = Date.now();
      const offences = source.offences;
      let delivered = 0;
      source.inFlight++;
      try {
        arm();
        const sub: FetchRequest = { ...request, startLoc: next, maxOps: end - next };
        for await (const batch of this.resolver(source).fetch(sub, ac.signal)) {
          this.owner.set(batch, source);
          const n = batch.operations.length;
          this.onOperations?.(n);
          this.options.metrics?.operations.inc({ source: source.address }, n);
          delivered += n;
          next += BigInt(n);
          arm();
          yield batch;
        }
        if (stalled) throw new Stalled(`no data for ${stallMs} ms`);
        return; // the source ended the stream (possibly early: the engine asks again for the rest)
      } catch (err) {
        if (signal.aborted) return;
        const why = this.setBack(source, err);
        if (why === undefined) throw err;
        tried.add(source);
        reasons.push(`${source.address}: ${why}`);
      } finally {
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        ac.abort();
        source.inFlight--;
        // A stream whose data was rejected earns no throughput credit.
        if (source.offences === offences) this.health.recordThroughput(source, delivered, Date.now() - started);
      }
    }
  }

  /**
   * The engine rejected a batch: the source that sent it is named in the logs, counted, and
   * excluded for a growing cool-down; the engine re-requests the range from the others.
   */
  rejected(batch: FetchedBatch, error: InvalidResponseError): boolean {
    const source = this.owner.get(batch);
    if (source === undefined) return false;
    this.exclude(source, error);
    return true;
  }

  private exclude(source: SourceState, error: InvalidResponseError): void {
    const coolDownMs = this.health.excludeInvalid(source);
    this.options.metrics?.invalid.inc({ source: source.address, reason: error.reason });
    this.log.warn(
      { source: source.address, reason: error.reason, err: error.message, offences: source.offences, cool_down_ms: coolDownMs },
      "source sent invalid data; excluding it",
    );
  }

  // Decides what a failed stream means for its source; returns why it lost the range, or
  // undefined when the error is not the source's (it is rethrown).
  private setBack(source: SourceState, err: unknown): string | undefined {
    let why: string;
    if (err instanceof InvalidResponseError) {
      this.exclude(source, err);
      return err.message;
    } else if (err instanceof Stalled) {
      why = err.message;
      this.health.restFailed(source);
    } else if (err instanceof ResolverError) {
      // Retryable failures and refusals alike (a relay that has not reached the op count yet
      // answers OUT_OF_RANGE or UNAVAILABLE): another source may serve the range.
      why = err.message;
      this.health.restFailed(source, err.retryAfterMs ?? 0);
    } else {
      return undefined;
    }
    this.options.metrics?.failovers.inc({ source: source.address });
    this.log.info({ source: source.address, err: why }, "source failed a request; moving the range to another source");
    return why;
  }

  /** Closes every channel. */
  close(): void {
    for (const r of this.resolvers.values()) r.close();
  }
}
