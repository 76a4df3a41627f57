/**
 * Byte budgets for what the server has queued to clients but the transport has not sent yet.
 * gRPC's own backpressure counts messages (grpc-js reports "full" after 16, whatever their size),
 * so a client that never reads could make each stream hold megabytes. Here every stream waits,
 * before producing its next message, until its own queue and the server's total are under their
 * byte limits; a message counts from the moment it is written until the transport has sent it
 * (its write callback). A stream whose queue makes no progress for `stallTimeoutMs` is reported
 * stalled, so the caller can end it and free its slot. This module knows nothing of gRPC: a
 * stream is anything with `write(message, callback)`.
 */
import { setImmediate as yieldToEventLoop } from "node:timers/promises";

/** Limits on bytes queued to clients. */
export interface SendLimits {
  /** Bytes one stream may have queued before it waits (default 1 MiB; a larger single message still goes out alone). */
  readonly streamBytes: number;
  /** Bytes all streams together may have queued before any of them waits (default 256 MiB). */
  readonly totalBytes: number;
  /** A stream with bytes queued and none sent for this long is stalled (default 30 s). */
  readonly stallTimeoutMs: number;
}

/** Defaults of `SendLimits`. */
export const DEFAULT_SEND_LIMITS: SendLimits = { streamBytes: 1 << 20, totalBytes: 256 << 20, stallTimeoutMs: 30_000 };

/** Where a stream's messages go: a writable whose callback fires once the message has been sent. */
export interface MessageSink<M> {
  write(message: M, callback: () => void): unknown;
}

/** The server-wide byte budget; `open` makes one stream's sender. */
export class SendBudget {
  private queued = 0;
  private readonly waiting = new Set<() => void>();
  /**
   * The room reserved for a stream's first message: the largest message sent so far, at least
   * 1 MiB (a default-size batch is ~720 KB). Erring high matters: streams that start together
   * all reserve before any of them has produced a message.
   */
  firstMessageEstimate = 1 << 20;

  constructor(
    readonly limits: SendLimits = DEFAULT_SEND_LIMITS,
    /** Called with the new total each time it changes (e.g. to set a gauge). */
    private readonly onChange: (queuedBytes: number) => void = () => {},
  ) {}

  /** Bytes queued (and reserved for messages being produced) across all streams. */
  get queuedBytes(): number {
    return this.queued;
  }

  /**
   * A sender for one stream. Its waits end when `signal` aborts; `onStall` is called (once) if
   * its queue stops moving.
   */
  open<M extends { readonly length: number }>(sink: MessageSink<M>, signal: AbortSignal, onStall: () => void): StreamSender<M> {
    return new StreamSender(this, sink, signal, onStall);
  }

  /** @internal Adds (or with a negative `n`, removes) bytes from the total. */
  adjust(n: number): void {
    this.queued += n;
    this.onChange(this.queued);
    if (n < 0 && this.waiting.size > 0 && this.queued < this.limits.totalBytes) {
      const wake = [...this.waiting];
      this.waiting.clear();
      for (const w of wake) w();
    }
  }

  /** @internal Whether the total has room for `n` more bytes; if not, `wake` is called when it may. */
  hasRoom(n: number, wake: () => void): boolean {
    if (this.queued === 0 || this.queued + n <= this.limits.totalBytes) return true;
    this.waiting.add(wake);
    return false;
  }

  /** @internal */
  forget(wake: () => void): void {
    this.waiting.delete(wake);
  }
}

/**
 * One stream's view of the budget. `ready()` waits for room and reserves an estimate of the next
 * message, `send()` writes it and charges its real size until the transport has sent it, and
 * `close()` gives back whatever the stream still holds (its queue is gone with the stream).
 */
export class StreamSender<M extends { readonly length: number }> {
  private queued = 0;
  private reserved = 0;
  /** Size of this stream's last message: the room reserved for its next one. */
  private estimate: number | undefined;
  private closed = false;
  private wake: (() => void) | undefined;
  private drainWaiters: Array<() => void> = [];
  private stallTimer: NodeJS.Timeout | undefined;
  private readonly onAbort = (): void => this.wake?.();

  constructor(
    private readonly budget: SendBudget,
    private readonly sink: MessageSink<M>,
    private readonly signal: AbortSignal,
    private readonly onStall: () => void,
  ) {
    signal.addEventListener("abort", this.onAbort, { once: true });
  }

  /** Bytes this stream has queued and not yet sent. */
  get queuedBytes(): number {
    return this.queued;
  }

  /**
   * Yields to the event loop, then waits until this stream has fewer than `streamBytes` queued
   * (or nothing queued, with `streamBytes` 0) and the server is under its total, and reserves room
   * for the next message. Returns early once the sender is closed or its signal aborts.
   */
  async ready(streamBytes = this.budget.limits.streamBytes): Promise<void> {
    await yieldToEventLoop();
    const wake = (): void => this.wake?.();
    while (!this.closed && !this.signal.aborted) {
      const estimate = this.estimate ?? this.budget.firstMessageEstimate;
      const pending = this.queued + this.reserved;
      const streamRoom = pending === 0 || pending + estimate <= streamBytes;
      if (streamRoom && this.budget.hasRoom(estimate, wake)) {
        this.reserved += estimate;
        this.budget.adjust(estimate);
        return;
      }
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
      this.budget.forget(wake);
    }
  }

  /** Writes `message`, using the room `ready()` reserved; its bytes count until it is sent. */
  send(message: M): void {
    if (this.closed) return;
    const bytes = message.length;
    this.budget.adjust(bytes - this.reserved);
    this.reserved = 0;
    this.estimate = bytes;
    if (bytes > this.budget.firstMessageEstimate) this.budget.firstMessageEstimate = bytes;
    if (this.queued === 0) this.armStall();
    this.queued += bytes;
    this.sink.write(message, () => this.sent(bytes));
  }

  /** Resolves once everything written has been sent, or the sender is closed. */
  drained(): Promise<void> {
    if (this.queued === 0 || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /** Gives back everything this stream holds; later write callbacks are ignored. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.stallTimer);
    this.signal.removeEventListener("abort", this.onAbort);
    this.budget.adjust(-(this.queued + this.reserved));
    this.queued = 0;
    this.reserved = 0;
    this.wake?.();
    for (const d of this.drainWaiters.splice(0)) d();
  }

  private sent(bytes: number): void {
    if (this.closed) return;
    this.queued -= bytes;
    this.budget.adjust(-bytes);
    if (this.queued === 0) {
      clearTimeout(this.stallTimer);
      this.stallTimer = undefined;
      for (const d of this.drainWaiters.splice(0)) d();
    } else {
      this.stallTimer?.refresh(); // progress
    }
    this.wake?.();
  }

  private armStall(): void {
    if (this.stallTimer !== undefined) {
      this.stallTimer.refresh();
      return;
    }
    this.stallTimer = setTimeout(() => {
      if (!this.closed && this.queued > 0) this.onStall();
    }, this.budget.limits.stallTimeoutMs);
    this.stallTimer.unref();
  }
}
