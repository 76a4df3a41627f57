/**
 * The sync server: opens the database, brings its workload to a consistent point, serves
 * `commonware.sync.v1.SyncService` (plus health and reflection) over gRPC, exposes Prometheus
 * metrics, and keeps adding operations. `stop` shuts down gracefully: stop accepting, let
 * streams finish within a grace period (then end them with UNAVAILABLE), sync and close the
 * database.
 */
import { Server, ServerCredentials } from "@grpc/grpc-js";
import { HealthImplementation } from "grpc-health-check";
import type { DbKindName } from "../qmdb";
import { type Logger, type MetricsServer, hex, serveMetrics } from "../telemetry";
import { ServedDatabase } from "./database";
import { syncServiceDefinition, syncServiceHandlers } from "./grpc";
import { ServerMetrics } from "./metrics";
import { addReflection } from "./reflection";
import { DEFAULT_LIMITS, type ServiceLimits, SyncService } from "./service";
import { Workload, type WorkloadOptions } from "./workload";

/** The fully qualified name of the sync service (health reports it). */
export const SYNC_SERVICE_NAME = "commonware.sync.v1.SyncService";

/** Everything the server needs. */
export interface ServerOptions {
  readonly kind: DbKindName;
  readonly storageDir: string;
  readonly host: string;
  readonly port: number;
  readonly metricsHost: string;
  readonly metricsPort: number;
  readonly workload: WorkloadOptions;
  readonly limits?: ServiceLimits;
  /** How long in-flight streams may run after shutdown begins (default 5 s). */
  readonly shutdownGraceMs?: number;
  readonly logger: Logger;
}

/** A running sync server. */
export class SyncServer {
  private constructor(
    private readonly grpc: Server,
    private readonly db: ServedDatabase,
    private readonly workload: Workload,
    private readonly metricsServer: MetricsServer,
    private readonly health: HealthImplementation,
    private readonly shuttingDown: AbortController,
    private readonly options: ServerOptions,
    /** The gRPC port actually bound. */
    readonly port: number,
  ) {}

  /** The metrics port actually bound. */
  get metricsPort(): number {
    return this.metricsServer.port;
  }

  /** Opens the database, prepares it and starts serving. */
  static async start(options: ServerOptions): Promise<SyncServer> {
    const log = options.logger;
    log.info({ db: options.kind, storage_dir: options.storageDir }, "initializing database");
    const db = await ServedDatabase.open(options.kind, options.storageDir);
    const metrics = new ServerMetrics();
    const workload = new Workload(db, options.storageDir, options.workload, log, metrics);
    let grpc: Server | undefined;
    let metricsServer: MetricsServer | undefined;
    try {
      const firstBatch = await workload.prepare();
      metrics.opCount.set(Number(db.target.upperBound));
      log.info({ op_count: db.target.upperBound.toString(), root: hex(db.target.root) }, "database ready");

      const shuttingDown = new AbortController();
      const service = new SyncService(db, options.limits ?? DEFAULT_LIMITS);
      grpc = new Server({ "grpc.max_send_message_length": 16 * 1024 * 1024 });
      grpc.addService(syncServiceDefinition(metrics), syncServiceHandlers(service, metrics, log, shuttingDown.signal));
      const health = new HealthImplementation({ "": "SERVING", [SYNC_SERVICE_NAME]: "SERVING" });
      health.addToServer(grpc);
      addReflection(grpc);
      const server = grpc;
      const port = await new Promise<number>((resolve, reject) =>
        server.bindAsync(`${formatHost(options.host)}:${options.port}`, ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
      );
      metricsServer = await serveMetrics(metrics.registry, options.metricsHost, options.metricsPort);
      log.info(
        {
          addr: `${formatHost(options.host)}:${port}`,
          metrics_addr: `${formatHost(options.metricsHost)}:${metricsServer.port}`,
          op_interval: `${options.workload.intervalMs}ms`,
          ops_per_interval: options.workload.opsPerInterval,
        },
        "server listening and continuously adding operations",
      );
      workload.start(firstBatch);
      return new SyncServer(grpc, db, workload, metricsServer, health, shuttingDown, options, port);
    } catch (err) {
      grpc?.forceShutdown();
      await metricsServer?.close();
      await db.close();
      throw err;
    }
  }

  /** Graceful shutdown; resolves once the database is closed. */
  async stop(): Promise<void> {
    const log = this.options.logger;
    log.info("shutting down");
    this.health.setStatus("", "NOT_SERVING");
    this.health.setStatus(SYNC_SERVICE_NAME, "NOT_SERVING");
    await this.workload.stop();
    const grace = this.options.shutdownGraceMs ?? 5000;
    const drained = new Promise<boolean>((resolve) => this.grpc.tryShutdown(() => resolve(true)));
    const timer = new Promise<boolean>((resolve) => setTimeout(() => resolve(false), grace).unref());
    if (!(await Promise.race([drained, timer]))) {
      log.warn({ grace_ms: grace }, "streams still open after the grace period; ending them");
      this.shuttingDown.abort();
      const ended = await Promise.race([drained, new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 1000).unref())]);
      if (!ended) this.grpc.forceShutdown();
    }
    await this.metricsServer.close();
    await this.db.close();
    log.info("database closed; bye");
  }
}

function formatHost(host: string): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
}
