/**
 * A relay's metrics, next to the server's in its registry: the newest upstream target against the
 * served (fully reached) one, in operations and in seconds, and the relay's syncs.
 */
import { Counter, Gauge, type Registry } from "prom-client";

/** Relay gauges and counters. */
export class RelayMetrics {
  readonly upstreamOpCount: Gauge;
  readonly servedOpCount: Gauge;
  readonly opsBehind: Gauge;
  readonly secondsBehind: Gauge;
  readonly targetsReached: Counter;
  readonly syncFailures: Counter;

  /** `secondsBehind` reads how long the oldest upstream target not served yet has been waiting. */
  constructor(registry: Registry, secondsBehind: () => number) {
    this.upstreamOpCount = new Gauge({ name: "relay_upstream_operations", help: "Op count of the newest target the upstream offers", registers: [registry] });
    this.servedOpCount = new Gauge({ name: "relay_served_operations", help: "Op count of the target served (fully reached)", registers: [registry] });
    this.opsBehind = new Gauge({ name: "relay_behind_operations", help: "Upstream op count minus served op count", registers: [registry] });
    this.secondsBehind = new Gauge({
      name: "relay_behind_seconds",
      help: "Seconds since the upstream offered the oldest target newer than the served one (0 when caught up)",
      registers: [registry],
      collect() {
        this.set(secondsBehind());
      },
    });
    this.targetsReached = new Counter({ name: "relay_reached_targets_total", help: "Upstream targets fully reached and served", registers: [registry] });
    this.syncFailures = new Counter({ name: "relay_failed_syncs_total", help: "Relay syncs that failed (retried)", registers: [registry] });
  }
}
