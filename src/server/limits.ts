/**
 * Per-client rate limits and stream caps. Each client (identified by its TLS client certificate
 * when it has one, else by its IP address, however many connections it opens) gets two token
 * buckets, one for target requests and one for operations streamed, plus a cap on concurrent
 * streams; a global cap bounds streams in total. Refusals are `Pushback`s carrying how long to
 * wait; the gRPC adapter answers them with RESOURCE_EXHAUSTED and that delay.
 */

/** Limits; a rate of 0 disables that bucket, a cap of 0 disables that cap. */
export interface RateLimits {
  /** Target requests (GetSyncTarget/WatchSyncTarget) per second per client (default 0: off). */
  readonly targetsPerSecond: number;
  /** Bucket size for target requests (default: 2 × the rate, at least 1). */
  readonly targetBurst?: number;
  /** Operations streamed per second per client (default 0: off). */
  readonly opsPerSecond: number;
  /** Bucket size for operations (default: the rate, at least one batch). */
  readonly opsBurst?: number;
  /** Concurrent streams per client (default 16). */
  readonly maxStreamsPerClient: number;
  /** Concurrent streams in total (default 1024). */
  readonly maxStreams: number;
}

/** Defaults: no rate limits, generous stream caps. */
export const DEFAULT_RATE_LIMITS: RateLimits = { targetsPerSecond: 0, opsPerSecond: 0, maxStreamsPerClient: 16, maxStreams: 1024 };

/** A request refused for now; retry after `retryAfterMs`. */
export class Pushback extends Error {
  override name = "Pushback";
  constructor(
    message: string,
    readonly retryAfterMs: number,
  ) {
    super(message);
  }
}

/** A token bucket refilled continuously at `rate` tokens per second up to `burst`. */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.last = now;
  }

  /** Takes `n` tokens if available and returns 0; otherwise takes none and returns the ms to wait. */
  take(n: number, now: number): number {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
    const want = Math.min(n, this.burst);
    if (this.tokens >= want) {
      this.tokens -= want;
      return 0;
    }
    return Math.ceil(((want - this.tokens) / this.rate) * 1000);
  }
}

interface ClientState {
  targets: TokenBucket | undefined;
  ops: TokenBucket | undefined;
  streams: number;
  lastSeen: number;
}

/** Enforces `RateLimits` across clients. `now` is injectable for tests. */
export class RateLimiter {
  private readonly clients = new Map<string, ClientState>();
  private streams = 0;

  constructor(
    readonly limits: RateLimits = DEFAULT_RATE_LIMITS,
    private readonly now: () => number = Date.now,
  ) {}

  /** Charges one target request; throws `Pushback` when the client's bucket is empty. */
  chargeTarget(client: string): void {
    const state = this.state(client);
    const wait = state.targets?.take(1, this.now()) ?? 0;
    if (wait > 0) throw new Pushback(`too many target requests from this client; limit ${this.limits.targetsPerSecond}/s`, wait);
  }

  /** Charges `n` streamed operations; throws `Pushback` when the client's bucket is empty. */
  chargeOperations(client: string, n: number): void {
    const state = this.state(client);
    const wait = state.ops?.take(n, this.now()) ?? 0;
    if (wait > 0) throw new Pushback(`operation rate limit of ${this.limits.opsPerSecond}/s reached for this client`, wait);
  }

  /** Registers a new stream; returns its release function. Throws `Pushback` over a cap. */
  openStream(client: string): () => void {
    const state = this.state(client);
    const { maxStreams, maxStreamsPerClient } = this.limits;
    if (maxStreams > 0 && this.streams >= maxStreams) throw new Pushback(`server is at its limit of ${maxStreams} concurrent streams`, 1000);
    if (maxStreamsPerClient > 0 && state.streams >= maxStreamsPerClient) {
      throw new Pushback(`this client already has ${state.streams} open streams (limit ${maxStreamsPerClient})`, 1000);
    }
    state.streams++;
    this.streams++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      state.streams--;
      this.streams--;
    };
  }

  /** Number of clients tracked (idle ones are forgotten after a minute). */
  get trackedClients(): number {
    return this.clients.size;
  }

  private state(client: string): ClientState {
    const now = this.now();
    let s = this.clients.get(client);
    if (s === undefined) {
      this.forgetIdle(now);
      const { targetsPerSecond: tr, opsPerSecond: or } = this.limits;
      s = {
        targets: tr > 0 ? new TokenBucket(tr, this.limits.targetBurst ?? Math.max(1, 2 * tr), now) : undefined,
        ops: or > 0 ? new TokenBucket(or, this.limits.opsBurst ?? Math.max(1, or), now) : undefined,
        streams: 0,
        lastSeen: now,
      };
      this.clients.set(client, s);
    }
    s.lastSeen = now;
    return s;
  }

  // Bounds memory: clients idle for a minute with no open stream start afresh next time.
  private forgetIdle(now: number): void {
    if (this.clients.size < 1024) return;
    for (const [k, s] of this.clients) if (s.streams === 0 && now - s.lastSeen > 60_000) this.clients.delete(k);
  }
}
