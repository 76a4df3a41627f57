/**
 * A one-line progress bar for terminals: operations verified out of the target, rate and ETA.
 * Redraws at most every 200 ms; callers only use it when stderr is a TTY.
 */

/** Renders progress to a terminal stream. */
export class ProgressBar {
  private last = 0;
  private readonly started = Date.now();
  private drawn = false;

  constructor(private readonly out: NodeJS.WriteStream = process.stderr) {}

  /** Shows `done` of `total` operations (throttled unless `force`). */
  update(done: bigint, total: bigint, force = false): void {
    const now = Date.now();
    if (!force && now - this.last < 200) return;
    this.last = now;
    const fraction = total > 0n ? Number((done * 10_000n) / total) / 10_000 : 1;
    const width = 30;
    const filled = Math.round(fraction * width);
    const seconds = (now - this.started) / 1000;
    const rate = seconds > 0 ? Number(done) / seconds : 0;
    const eta = rate > 0 ? Number(total - done) / rate : Infinity;
    const line =
      `[${"#".repeat(filled)}${".".repeat(width - filled)}] ${done}/${total} ops ` +
      `${formatRate(rate)} ETA ${Number.isFinite(eta) ? `${eta.toFixed(1)}s` : "?"}`;
    this.out.write(`\r${line}\x1b[K`);
    this.drawn = true;
  }

  /** Ends the line. */
  done(): void {
    if (this.drawn) this.out.write("\n");
    this.drawn = false;
  }
}

function formatRate(opsPerSecond: number): string {
  return opsPerSecond >= 1000 ? `${(opsPerSecond / 1000).toFixed(1)}k ops/s` : `${opsPerSecond.toFixed(0)} ops/s`;
}
