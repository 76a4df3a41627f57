/**
 * The server's Prometheus metrics. Names follow Prometheus conventions: the unit last
 * (`_operations`, `_bytes`, `_seconds`), counters end in `_total`. Labelled failure series are
 * created at zero when the server starts, so a rate or an alert on them has a series from the
 * first scrape on. Node's default process metrics are included.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** The RPC methods the server counts. */
export const SERVER_METHODS = ["GetSyncTarget", "GetOperations", "WatchSyncTarget"] as const;

/** Status codes the service answers with on failure (each pre-created at zero per method). */
export const SERVER_ERROR_CODES = ["INVALID_ARGUMENT", "OUT_OF_RANGE", "RESOURCE_EXHAUSTED", "UNAVAILABLE", "INTERNAL", "DEADLINE_EXCEEDED"] as const;

/** The server's metrics, registered in their own registry. */
export class ServerMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({ name: "server_requests_total", help: "Requests received, by method", labelNames: ["method"], registers: [this.registry] });
  readonly errors = new Counter({
    name: "server_errors_total",
    help: "Requests that ended with an error status, by method and code (a client cancelling its own call is not an error)",
    labelNames: ["method", "code"],
    registers: [this.registry],
  });
  readonly opsAdded = new Counter({ name: "server_added_operations_total", help: "Operations added after the initial load", registers: [this.registry] });
  readonly rpcDuration = new Histogram({
    name: "server_rpc_duration_seconds",
    help: "Time from receiving a request to its final status, by method and code",
    labelNames: ["method", "code"],
    buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
    registers: [this.registry],
  });
  readonly bytesSent = new Counter({
    name: "server_sent_bytes_total",
    help: "Serialized response bytes sent, by method",
    labelNames: ["method"],
    registers: [this.registry],
  });
  readonly operationsServed = new Counter({ name: "server_served_operations_total", help: "Operations streamed to clients", registers: [this.registry] });
  readonly opCount = new Gauge({
    name: "server_committed_operations",
    help: "Committed operations in the database (the target's upper bound)",
    registers: [this.registry],
  });
  readonly activeStreams = new Gauge({
    name: "server_active_streams",
    help: "Streams open now, by method",
    labelNames: ["method"],
    registers: [this.registry],
  });
  readonly connectedClients = new Gauge({
    name: "server_connected_clients",
    help: "Distinct clients with at least one stream open now",
    registers: [this.registry],
  });
  readonly queuedResponseBytes = new Gauge({
    name: "server_queued_response_bytes",
    help: "Response bytes queued to clients and not yet sent (bounded by the total send buffer)",
    registers: [this.registry],
  });
  /** Set by the gRPC adapter: reads the batch cache's size when metrics are collected. */
  sampleBatchCache: (() => number) | undefined = undefined;
  readonly batchCacheBytes: Gauge = new Gauge({
    name: "server_batch_cache_bytes",
    help: "Bytes of encoded GetOperations messages cached for reuse (only the served target's; bounded)",
    registers: [this.registry],
    collect: (): void => this.batchCacheBytes.set(this.sampleBatchCache?.() ?? 0),
  });
  readonly stalledStreams = new Counter({
    name: "server_stalled_streams_total",
    help: "Streams ended because their client stopped reading for the stall timeout, by method",
    labelNames: ["method"],
    registers: [this.registry],
  });
  /** Set by the gRPC adapter: fills the gauge below when metrics are collected. */
  sampleListeners: (() => void) | undefined = undefined;
  readonly eventListeners = new Gauge({
    name: "server_event_listeners",
    help: "Event listeners on the database, the shutdown signals, and open streams' signals and calls (flat unless something leaks)",
    labelNames: ["emitter"],
    registers: [this.registry],
    collect: () => this.sampleListeners?.(),
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    for (const method of SERVER_METHODS) {
      this.requests.inc({ method }, 0);
      this.bytesSent.inc({ method }, 0);
      for (const code of SERVER_ERROR_CODES) this.errors.inc({ method, code }, 0);
    }
    for (const method of ["GetOperations", "WatchSyncTarget"]) this.activeStreams.set({ method }, 0);
  }
}
