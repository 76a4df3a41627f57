/**
 * What a multi-source client remembers about each source across syncs: measured throughput (the
 * score that decides who gets work), requests in flight, and cool-downs. A source that sent
 * invalid data is excluded for a cool-down that doubles with every offence; one that failed or
 * stalled is rested briefly (doubling while it keeps failing, reset by a success).
 */

/** Cool-down settings. */
export interface CoolDownPolicy {
  /** First exclusion after invalid data (default 2 s); doubles per offence. */
  readonly invalidBaseMs: number;
  /** First rest after a transport failure or stall (default 250 ms); doubles while failures go on. */
  readonly failureBaseMs: number;
  /** Longest cool-down (default 10 min). */
  readonly maxMs: number;
}

/** Defaults of `CoolDownPolicy`. */
export const DEFAULT_COOL_DOWN: CoolDownPolicy = { invalidBaseMs: 2000, failureBaseMs: 250, maxMs: 600_000 };

/** One source's record. */
export class SourceState {
  /** Operations per second, smoothed over streams (undefined until measured). */
  throughput: number | undefined = undefined;
  inFlight = 0;
  /** Excluded until this time (ms since the epoch). */
  coolUntil = 0;
  /** Offences: batches of invalid data. */
  offences = 0;
  /** Consecutive transport failures or stalls. */
  failures = 0;

  constructor(readonly address: string) {}
}

/** The records of a fixed list of sources. */
export class SourceHealth {
  readonly sources: readonly SourceState[];

  constructor(
    addresses: readonly string[],
    readonly policy: CoolDownPolicy = DEFAULT_COOL_DOWN,
  ) {
    this.sources = addresses.map((a) => new SourceState(a));
  }

  /**
   * The source that should take the next request: among those not cooling down and not in
   * `skip`, the one with the most throughput per request in flight (unmeasured sources count as
   * the best measured one, so each gets tried). Undefined when none is available.
   */
  pick(skip: ReadonlySet<SourceState>, now = Date.now()): SourceState | undefined {
    const measured = this.sources.map((s) => s.throughput ?? 0);
    const best = Math.max(1, ...measured);
    let chosen: SourceState | undefined;
    let chosenShare = -1;
    for (const s of this.sources) {
      if (skip.has(s) || s.coolUntil > now) continue;
      const share = (s.throughput ?? best) / (s.inFlight + 1);
      if (share > chosenShare) {
        chosen = s;
        chosenShare = share;
      }
    }
    return chosen;
  }

  /** Milliseconds until the first cooling source is available again (0 if one is). */
  nextAvailableInMs(now = Date.now()): number {
    return Math.max(0, Math.min(...this.sources.map((s) => s.coolUntil - now)));
  }

  /** Records a stream that delivered `operations` in `elapsedMs`. */
  recordThroughput(s: SourceState, operations: number, elapsedMs: number): void {
    if (operations <= 0) return;
    const sample = (operations * 1000) / Math.max(1, elapsedMs);
    s.throughput = s.throughput === undefined ? sample : 0.7 * s.throughput + 0.3 * sample;
    s.failures = 0;
  }

  /** Excludes a source that sent invalid data; returns the cool-down in ms. */
  excludeInvalid(s: SourceState, now = Date.now()): number {
    s.offences++;
    s.throughput = 0; // back from its cool-down, it gets work only when the others are busy
    return this.coolDown(s, this.policy.invalidBaseMs * 2 ** (s.offences - 1), now);
  }

  /** Rests a source that failed or stalled (at least `atLeastMs`, e.g. a delay it asked for); returns the cool-down. */
  restFailed(s: SourceState, atLeastMs = 0, now = Date.now()): number {
    s.failures++;
    return this.coolDown(s, Math.max(atLeastMs, this.policy.failureBaseMs * 2 ** (s.failures - 1)), now);
  }

  private coolDown(s: SourceState, ms: number, now: number): number {
    const d = Math.min(this.policy.maxMs, ms);
    s.coolUntil = Math.max(s.coolUntil, now + d);
    return d;
  }
}
