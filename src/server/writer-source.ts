/**
 * The writer source: the server's own database, filled by the synthetic workload. It serves the
 * target of the last commit.
 */
import { isJournalError } from "../journal";
import { hex } from "../telemetry";
import { ServedDatabase } from "./database";
import type { ServedSource, SourceContext, SourceFactory } from "./target-source";
import { Workload, type WorkloadOptions } from "./workload";

/** A factory of writer sources running `workload`. */
export function writerSource(workload: WorkloadOptions): SourceFactory {
  return async ({ kind, storageDir, logger, metrics, signal, setServing }: SourceContext): Promise<ServedSource> => {
    const db = await ServedDatabase.open(kind, storageDir);
    const runner = new Workload(db, storageDir, workload, logger, metrics, setServing);
    let firstBatch: number;
    try {
      firstBatch = await runner.prepare(signal);
    } catch (err) {
      await db.close();
      throw err;
    }
    metrics.opCount.set(Number(db.target.upperBound));
    logger.info({ op_count: db.target.upperBound.toString(), root: hex(db.target.root) }, "database ready");
    return {
      source: db,
      description: { op_interval: `${workload.intervalMs}ms`, ops_per_interval: workload.opsPerInterval },
      start: () => runner.start(firstBatch),
      stop: () => runner.stop(),
      close: async () => {
        await runner.stop();
        try {
          await db.close();
        } catch (err) {
          // Every commit was made durable when it was made; what close could not write (MMR nodes,
          // e.g. on a full disk) is re-derived from the log by the next open.
          if (!isJournalError(err, "Io") && !isJournalError(err, "Poisoned")) throw err;
          logger.warn({ err }, "could not write everything while closing; the committed state is durable and the next start rebuilds the rest");
        }
      },
    };
  };
}
