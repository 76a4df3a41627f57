/**
 * The targets a relay's upstream offers: followed through `WatchSyncTarget` (polled when the
 * upstream lacks it or the stream breaks), checked (kind, and with trusted keys the signature, by
 * the multi-source resolver), and kept as the newest one with the time each was first seen.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { MultiSourceResolver, ServerTarget } from "../client";
import type { DbKindName } from "../qmdb";
import type { Logger } from "../telemetry";

/** Most offered-but-unserved targets remembered for `secondsBehind`. */
const MAX_PENDING = 4096;

/** Follows the upstream's targets until the signal aborts. */
export class UpstreamTargets {
  private newest: ServerTarget | undefined;
  // Upper bounds offered but not served yet, with when they were first seen (oldest first).
  private pending: Array<{ upper: bigint; seenAt: number }> = [];
  private waiter: (() => void) | undefined;
  private kindMismatchLogged = false;

  constructor(
    private readonly upstream: MultiSourceResolver,
    private readonly kind: DbKindName,
    private readonly pollIntervalMs: number,
    private readonly log: Logger,
    private readonly onNewest: (t: ServerTarget) => void,
  ) {}

  /** The newest acceptable target seen so far. */
  get latest(): ServerTarget | undefined {
    return this.newest;
  }

  /** Resolves when a target with an upper bound above `above` is known (or `signal` aborts). */
  async newerThan(above: bigint, signal: AbortSignal): Promise<ServerTarget | undefined> {
    while (!signal.aborted && (this.newest === undefined || this.newest.target.upperBound <= above)) {
      let onAbort: (() => void) | undefined;
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
        onAbort = resolve;
        signal.addEventListener("abort", onAbort, { once: true });
      });
      signal.removeEventListener("abort", onAbort!);
    }
    return signal.aborted ? undefined : this.newest;
  }

  /** Targets up to `upper` are served now: they no longer count as waiting. */
  served(upper: bigint): void {
    this.pending = this.pending.filter((p) => p.upper > upper);
  }

  /** How many offered-but-unserved targets are remembered (at most 4096, however many were offered). */
  get unservedCount(): number {
    return this.pending.length;
  }

  /** Seconds the oldest offered-but-unserved target has waited (0 when none). */
  secondsBehind(now = Date.now()): number {
    const oldest = this.pending[0];
    return oldest === undefined ? 0 : (now - oldest.seenAt) / 1000;
  }

  /** Watches (or polls) the upstream until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        for await (const t of this.upstream.watchSyncTarget(signal)) this.offer(t);
      } catch (err) {
        if (signal.aborted) return;
        this.log.debug({ err: (err as Error).message }, "upstream target stream ended; polling");
      }
      try {
        this.offer(await this.upstream.getSyncTarget(signal));
      } catch (err) {
        if (signal.aborted) return;
        this.log.warn({ upstream: this.upstream.addresses.join(","), err: (err as Error).message }, "cannot get a target from the upstream");
      }
      try {
        await sleep(this.pollIntervalMs, undefined, { signal });
      } catch {
        return;
      }
    }
  }

  private offer(t: ServerTarget): void {
    if (t.kind !== this.kind) {
      // Said once (loudly): every target of that upstream would repeat it.
      if (!this.kindMismatchLogged)
        this.log.error(
          { upstream_db: t.kind, db: this.kind },
          `upstream serves an ${t.kind} database; this relay is --db ${this.kind} (use --db ${t.kind}); ignoring its targets`,
        );
      this.kindMismatchLogged = true;
      return;
    }
    if (this.newest !== undefined && t.target.upperBound <= this.newest.target.upperBound) return;
    this.newest = t;
    this.pending.push({ upper: t.target.upperBound, seenAt: Date.now() });
    // A relay that cannot keep up must not collect one entry per upstream commit forever: thin the
    // record out (the oldest entry, which `secondsBehind` reads, always stays).
    if (this.pending.length > MAX_PENDING) this.pending = this.pending.filter((_, i) => i % 2 === 0);
    this.onNewest(t);
    this.waiter?.();
    this.waiter = undefined;
  }
}
