/**
 * The server's Prometheus metrics: the seed's counters (`server_requests_total`,
 * `server_error_total`, `server_ops_added_total`) plus RPC latency, bytes and operations served,
 * the current op count, and Node's default process metrics.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** The server's metrics, registered in their own registry. */
export class ServerMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({ name: "server_requests_total", help: "Target and operations requests received", labelNames: ["method"], registers: [this.registry] });
  readonly errors = new Counter({ name: "server_error_total", help: "Requests that failed, by gRPC status", labelNames: ["method", "code"], registers: [this.registry] });
  readonly opsAdded = new Counter({ name: "server_ops_added_total", help: "Operations added after the initial load", registers: [this.registry] });
  readonly rpcDuration = new Histogram({
    name: "server_rpc_duration_seconds",
    help: "Time from receiving a request to its final status",
    labelNames: ["method", "code"],
    buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
    registers: [this.registry],
  });
  readonly bytesSent = new Counter({ name: "server_bytes_sent_total", help: "Serialized response bytes sent", labelNames: ["method"], registers: [this.registry] });
  readonly operationsServed = new Counter({ name: "server_operations_served_total", help: "Operations streamed to clients", registers: [this.registry] });
  readonly opCount = new Gauge({ name: "server_op_count", help: "Committed operations in the database", registers: [this.registry] });
  readonly sendQueuedBytes = new Gauge({
    name: "server_send_queued_bytes",
    help: "Response bytes queued to clients and not yet sent (bounded by the total send buffer)",
    registers: [this.registry],
  });
  readonly stalledStreams = new Counter({
    name: "server_streams_stalled_total",
    help: "Streams ended because their client stopped reading for the stall timeout",
    labelNames: ["method"],
    registers: [this.registry],
  });
  /** Set by the gRPC adapter: fills the two gauges below when metrics are collected. */
  sampleStreams: (() => void) | undefined = undefined;
  readonly openStreams = new Gauge({
    name: "server_streams_open",
    help: "Open server streams",
    labelNames: ["method"],
    registers: [this.registry],
    collect: () => this.sampleStreams?.(),
  });
  readonly eventListeners = new Gauge({
    name: "server_event_listeners",
    help: "Event listeners on the database, the shutdown signals, and open streams' signals and calls (flat unless something leaks)",
    labelNames: ["emitter"],
    registers: [this.registry],
    collect: () => this.sampleStreams?.(),
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }
}
