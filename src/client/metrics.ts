/**
 * The client's Prometheus metrics. Names follow Prometheus conventions: the unit last
 * (`_operations`, `_bytes`, `_seconds`), counters end in `_total`. Failure series (syncs by
 * result, rejected batches by reason) are created at zero, so an alert on them has a series from
 * the first scrape on. Node's default process metrics are included.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** Why a batch can be rejected (the `reason` label of `client_proof_failures_total`). */
export const REJECTION_REASONS = ["bad proof", "wrong count", "wrong start", "oversize", "wrong size", "malformed"] as const;

/** The client's metrics, registered in their own registry. */
export class ClientMetrics {
  readonly registry = new Registry();
  readonly operationsFetched = new Counter({
    name: "client_fetched_operations_total",
    help: "Operations received from the server (before any check)",
    registers: [this.registry],
  });
  readonly operationsVerified = new Counter({ name: "client_verified_operations_total", help: "Operations whose proof verified", registers: [this.registry] });
  readonly operationsApplied = new Counter({ name: "client_applied_operations_total", help: "Verified operations stored locally", registers: [this.registry] });
  readonly bytesReceived = new Counter({ name: "client_received_bytes_total", help: "Response bytes received", registers: [this.registry] });
  readonly proofFailures = new Counter({
    name: "client_proof_failures_total",
    help: "Batches rejected (bad proof or protocol violation), by reason",
    labelNames: ["reason"],
    registers: [this.registry],
  });
  readonly retries = new Counter({ name: "client_retries_total", help: "Requests retried after a failure", registers: [this.registry] });
  readonly targetLag = new Gauge({
    name: "client_target_lag_operations",
    help: "Server op count minus local op count (kept current between iterations too)",
    registers: [this.registry],
  });
  readonly opCount = new Gauge({ name: "client_local_operations", help: "Operations in the local database", registers: [this.registry] });
  readonly syncs = new Counter({
    name: "client_syncs_total",
    help: "Sync iterations by result (success or error)",
    labelNames: ["result"],
    registers: [this.registry],
  });
  readonly consecutiveFailures = new Gauge({
    name: "client_consecutive_failures",
    help: "Sync iterations failed in a row since the last success",
    registers: [this.registry],
  });
  readonly lastSuccess = new Gauge({
    name: "client_last_success_timestamp_seconds",
    help: "Unix time of the last successful sync (0 before the first)",
    registers: [this.registry],
  });
  readonly syncDuration = new Histogram({
    name: "client_sync_duration_seconds",
    help: "Duration of successful sync iterations",
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 300],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    for (const result of ["success", "error"]) this.syncs.inc({ result }, 0);
    for (const reason of REJECTION_REASONS) this.proofFailures.inc({ reason }, 0);
    this.targetLag.set(0);
    this.opCount.set(0);
    this.consecutiveFailures.set(0);
    this.lastSuccess.set(0);
  }
}
