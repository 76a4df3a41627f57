/**
 * Logging of the workload's added batches: one `debug` line per batch ("added operations") and,
 * at `info`, one summary line per interval ("added operations summary"), so a server adding a
 * batch every 100 ms does not flood its log at the default level.
 */
import { type Logger, hex } from "../telemetry";

/** How often the info-level summary is written (at most; only after a batch). */
export const ADDED_SUMMARY_INTERVAL_MS = 5_000;

/** Counts added batches and writes the per-batch and summary lines. */
export class AddedOperationsLog {
  private batches = 0;
  private operations = 0;
  private since: number;

  constructor(
    private readonly log: Logger,
    private readonly intervalMs = ADDED_SUMMARY_INTERVAL_MS,
    private readonly now: () => number = Date.now,
  ) {
    this.since = now();
  }

  /** Records a committed batch of `added` operations leaving the database at `opCount`/`root`. */
  batch(added: number, opCount: bigint, root: Uint8Array): void {
    this.batches++;
    this.operations += added;
    this.log.debug({ operations_added: added, op_count: opCount.toString(), root: hex(root) }, "added operations");
    const now = this.now();
    if (now - this.since < this.intervalMs) return;
    this.log.info(
      {
        batches: this.batches,
        operations_added: this.operations,
        seconds: Math.round((now - this.since) / 100) / 10,
        op_count: opCount.toString(),
        root: hex(root),
      },
      "added operations summary",
    );
    this.batches = 0;
    this.operations = 0;
    this.since = now;
  }
}
