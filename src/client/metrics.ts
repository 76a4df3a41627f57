/**
 * The client's Prometheus metrics: operations fetched, verified and applied, bytes received,
 * proof failures, retries, target lag (server op count − local op count), sync duration, plus
 * Node's default process metrics.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** The client's metrics, registered in their own registry. */
export class ClientMetrics {
  readonly registry = new Registry();
  readonly operationsFetched = new Counter({ name: "client_operations_fetched_total", help: "Operations received from the server", registers: [this.registry] });
  readonly operationsVerified = new Counter({ name: "client_operations_verified_total", help: "Operations whose proof verified", registers: [this.registry] });
  readonly operationsApplied = new Counter({ name: "client_operations_applied_total", help: "Verified operations stored locally", registers: [this.registry] });
  readonly bytesReceived = new Counter({ name: "client_bytes_received_total", help: "Response bytes received", registers: [this.registry] });
  readonly proofFailures = new Counter({ name: "client_proof_failures_total", help: "Batches rejected (bad proof or protocol violation)", labelNames: ["reason"], registers: [this.registry] });
  readonly retries = new Counter({ name: "client_retries_total", help: "Requests retried after a failure", registers: [this.registry] });
  readonly targetLag = new Gauge({ name: "client_target_lag", help: "Server op count minus local op count", registers: [this.registry] });
  readonly opCount = new Gauge({ name: "client_op_count", help: "Operations in the local database", registers: [this.registry] });
  readonly syncs = new Counter({ name: "client_syncs_total", help: "Sync iterations by result", labelNames: ["result"], registers: [this.registry] });
  readonly syncDuration = new Histogram({
    name: "client_sync_duration_seconds",
    help: "Duration of successful sync iterations",
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 300],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }
}
