/**
 * A one-line progress bar for terminals: share of the operations to fetch that have arrived,
 * operations fetched out of those needed, rate and ETA. The rate counts only operations fetched
 * in this sync (not ones reused from the local log), and the bar ends at 100 %. Log lines never
 * share its line: `logSink` writes a log line by clearing the bar, writing the line, and drawing
 * the bar again below it. Callers only use it when the output is a TTY.
 */
import type { LogSink } from "../telemetry";

/** Writes to a terminal: the bar to `bar` (stderr), log lines to `logs` (stdout). */
export interface ProgressStreams {
  readonly bar: { write(s: string): unknown };
  readonly logs: { write(s: string): unknown };
}

/** Renders progress to a terminal. */
export class ProgressBar {
  private last = 0;
  private started = Date.now();
  private fetched = 0n;
  private remaining = 0n;
  private line: string | undefined;
  private active = false;

  constructor(private readonly streams: ProgressStreams = { bar: process.stderr, logs: process.stdout }) {}

  /** A sink for log lines that keeps them off the bar's line. */
  get logSink(): LogSink {
    return {
      write: (text: string) => {
        const shown = this.line !== undefined;
        if (shown) this.streams.bar.write("\r\x1b[2K");
        this.streams.logs.write(text);
        if (shown) this.streams.bar.write(this.line!);
      },
    };
  }

  /** A new sync begins: nothing fetched yet. */
  start(): void {
    this.started = Date.now();
    this.fetched = 0n;
    this.remaining = 0n;
    this.last = 0;
    this.active = true;
  }

  /** `applied` more operations arrived; the local log now holds `size` of the target's `upper`. */
  update(applied: number, size: bigint, upper: bigint): void {
    if (!this.active) return;
    this.fetched += BigInt(applied);
    this.remaining = upper > size ? upper - size : 0n;
    const now = Date.now();
    if (now - this.last < 200 && this.remaining > 0n) return;
    this.last = now;
    this.draw(now);
  }

  /** The sync completed: draw 100 % (if anything was drawn or fetched) and end the line. */
  done(): void {
    if (this.active && (this.line !== undefined || this.fetched > 0n)) {
      this.remaining = 0n;
      this.draw(Date.now());
    }
    this.end();
  }

  /** The sync failed: end the line where it stands. */
  abort(): void {
    this.end();
  }

  private end(): void {
    if (this.line !== undefined) this.streams.bar.write("\n");
    this.line = undefined;
    this.active = false;
  }

  private draw(now: number): void {
    const total = this.fetched + this.remaining;
    const fraction = total > 0n ? Number((this.fetched * 10_000n) / total) / 10_000 : 1;
    const width = 30;
    const filled = Math.round(fraction * width);
    const seconds = (now - this.started) / 1000;
    const rate = seconds > 0 ? Number(this.fetched) / seconds : 0;
    const eta = this.remaining === 0n ? 0 : rate > 0 ? Number(this.remaining) / rate : Infinity;
    this.line =
      `\r[${"#".repeat(filled)}${".".repeat(width - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}% ${this.fetched}/${total} ops ` +
      `${formatRate(rate)} ETA ${Number.isFinite(eta) ? `${eta.toFixed(1)}s` : "?"}\x1b[K`;
    this.streams.bar.write(this.line);
  }
}

function formatRate(opsPerSecond: number): string {
  return opsPerSecond >= 1000 ? `${(opsPerSecond / 1000).toFixed(1)}k ops/s` : `${opsPerSecond.toFixed(0)} ops/s`;
}
