/**
 * The sync server: opens the database, brings its workload to a consistent point, serves
 * `commonware.sync.v1.SyncService` (plus health and reflection) over gRPC, exposes Prometheus
 * metrics, and keeps adding operations. `stop` shuts down gracefully: stop accepting, let
 * streams finish within a grace period (then end them with UNAVAILABLE), sync and close the
 * database.
 */
import { Server, ServerCredentials } from "@grpc/grpc-js";
import { HealthImplementation } from "grpc-health-check";
import { type DirectoryLock, lockStorageDirectory } from "../journal";
import type { DbKindName } from "../qmdb";
import { type Logger, type MetricsServer, hex, serveMetrics } from "../telemetry";
import { syncServiceDefinition, syncServiceHandlers } from "./grpc";
import { ServerMetrics } from "./metrics";
import { addReflection } from "./reflection";
import { DEFAULT_LIMITS, type ServiceLimits, SyncService } from "./service";
import { DEFAULT_RATE_LIMITS, RateLimiter, type RateLimits } from "./limits";
import { DEFAULT_SEND_LIMITS, SendBudget, type SendLimits } from "./send-budget";
import type { TargetSigner } from "../sync";
import type { ServedSource, SourceFactory, TargetSource } from "./target-source";
import type { WorkloadOptions } from "./workload";
import { writerSource } from "./writer-source";

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
  /** Serve from this source instead of running the workload (a relay); the default is the writer. */
  readonly source?: SourceFactory;
  readonly limits?: ServiceLimits;
  /** Per-client rate limits and stream caps (default: no rate limits; 16 streams a client, 1024 in all). */
  readonly rateLimits?: RateLimits;
  /** Signs every served target when set. */
  readonly signer?: TargetSigner;
  /** TLS (default: plaintext). */
  readonly tls?: ServerTlsOptions;
  /** How long in-flight streams may run after shutdown begins (default 5 s). */
  readonly shutdownGraceMs?: number;
  /** Bytes queued to clients per stream and in total, and the stall timeout (default `DEFAULT_SEND_LIMITS`). */
  readonly sendLimits?: SendLimits;
  /** Connections with no open call for this long are closed (default 5 min). */
  readonly idleConnectionTimeoutMs?: number;
  /** Stops a start still in its initial load (`start` then rejects with `InitialLoadStopped`). */
  readonly signal?: AbortSignal;
  readonly logger: Logger;
}

/** Default of `ServerOptions.shutdownGraceMs`. */
export const DEFAULT_SHUTDOWN_GRACE_MS = 5000;

/** Default of `ServerOptions.idleConnectionTimeoutMs`. */
export const DEFAULT_IDLE_CONNECTION_TIMEOUT_MS = 5 * 60_000;

// Every connection is pinged this often and closed if the ping is not answered in time, so dead
// peers do not keep their connections (and whatever streams they hold) forever.
const KEEPALIVE_TIME_MS = 60_000;
const KEEPALIVE_TIMEOUT_MS = 20_000;

/** A running sync server. */
export class SyncServer {
  private constructor(
    private readonly grpc: Server,
    private readonly served: ServedSource,
    private readonly metricsServer: MetricsServer,
    private readonly health: HealthImplementation,
    private readonly shuttingDown: AbortController,
    private readonly stoppingWatches: AbortController,
    private readonly options: ServerOptions,
    /** The gRPC port actually bound. */
    readonly port: number,
    private readonly lock: DirectoryLock,
  ) {}

  /** The served source (e.g. to watch its `target` events in-process). */
  get database(): TargetSource {
    return this.served.source;
  }

  /** The metrics port actually bound. */
  get metricsPort(): number {
    return this.metricsServer.port;
  }

  /** Opens the database, prepares it and starts serving. */
  static async start(options: ServerOptions): Promise<SyncServer> {
    const log = options.logger;
    log.info({ db: options.kind, storage_dir: options.storageDir }, "initializing database");
    // One owner per directory, locked before anything in it is read (held until `stop`).
    const lock = lockStorageDirectory(options.storageDir);
    const metrics = new ServerMetrics();
    const open = options.source ?? writerSource(options.workload);
    const shuttingDown = new AbortController();
    const stoppingWatches = new AbortController();
    // The source reports when it cannot serve (recovering from a storage failure); once shutdown
    // has begun, health stays NOT_SERVING.
    let health: HealthImplementation | undefined;
    const setServing = (serving: boolean): void => {
      if (health === undefined || stoppingWatches.signal.aborted) return;
      for (const service of ["", SYNC_SERVICE_NAME]) health.setStatus(service, serving ? "SERVING" : "NOT_SERVING");
    };
    let served: Awaited<ReturnType<typeof open>>;
    try {
      served = await open({ kind: options.kind, storageDir: options.storageDir, logger: log, metrics, signal: options.signal, setServing });
    } catch (err) {
      lock.release();
      throw err;
    }
    const db = served.source;
    let grpc: Server | undefined;
    let metricsServer: MetricsServer | undefined;
    try {
      const service = new SyncService(db, options.limits ?? DEFAULT_LIMITS, options.signer);
      const limiter = new RateLimiter(options.rateLimits ?? DEFAULT_RATE_LIMITS);
      const budget = new SendBudget(options.sendLimits ?? DEFAULT_SEND_LIMITS, (bytes) => metrics.queuedResponseBytes.set(bytes));
      grpc = new Server({
        "grpc.max_send_message_length": 16 * 1024 * 1024,
        "grpc.max_connection_idle_ms": options.idleConnectionTimeoutMs ?? DEFAULT_IDLE_CONNECTION_TIMEOUT_MS,
        "grpc.keepalive_time_ms": KEEPALIVE_TIME_MS,
        "grpc.keepalive_timeout_ms": KEEPALIVE_TIMEOUT_MS,
      });
      grpc.addService(syncServiceDefinition(metrics), syncServiceHandlers(service, metrics, limiter, budget, log, shuttingDown.signal, stoppingWatches.signal));
      // A relay is NOT_SERVING until it has reached its first target.
      const initial = db.target === undefined ? "NOT_SERVING" : "SERVING";
      const healthService = new HealthImplementation({ "": initial, [SYNC_SERVICE_NAME]: initial });
      health = healthService;
      if (db.target === undefined) {
        const onFirst = (): void => {
          db.off("target", onFirst);
          if (shuttingDown.signal.aborted) return;
          setServing(true);
        };
        db.on("target", onFirst);
      }
      healthService.addToServer(grpc);
      addReflection(grpc);
      const server = grpc;
      const port = await new Promise<number>((resolve, reject) =>
        server.bindAsync(`${formatHost(options.host)}:${options.port}`, serverCredentials(options.tls), (err, p) => (err ? reject(err) : resolve(p))),
      );
      metricsServer = await serveMetrics(metrics.registry, options.metricsHost, options.metricsPort);
      log.info(
        {
          addr: `${formatHost(options.host)}:${port}`,
          metrics_addr: `${formatHost(options.metricsHost)}:${metricsServer.port}`,
          ...served.description,
          tls: options.tls === undefined ? "off" : options.tls.clientCa === undefined ? "on" : "mutual",
          target_signing_key: options.signer === undefined ? undefined : hex(options.signer.publicKey),
        },
        "server listening and continuously adding operations",
      );
      served.start();
      return new SyncServer(grpc, served, metricsServer, healthService, shuttingDown, stoppingWatches, options, port, lock);
    } catch (err) {
      grpc?.forceShutdown();
      await metricsServer?.close();
      await served.close().finally(() => lock.release());
      throw err;
    }
  }

  /** Graceful shutdown; resolves once the database is closed. */
  async stop(): Promise<void> {
    const log = this.options.logger;
    log.info("shutting down");
    this.health.setStatus("", "NOT_SERVING");
    this.health.setStatus(SYNC_SERVICE_NAME, "NOT_SERVING");
    this.stoppingWatches.abort(); // target watches never end by themselves: end them now, with OK
    await this.served.stop();
    const grace = this.options.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS;
    const drained = new Promise<boolean>((resolve) => this.grpc.tryShutdown(() => resolve(true)));
    const timer = new Promise<boolean>((resolve) => setTimeout(() => resolve(false), grace).unref());
    if (!(await Promise.race([drained, timer]))) {
      log.warn({ grace_ms: grace }, "streams still open after the grace period; ending them");
      this.shuttingDown.abort();
      const ended = await Promise.race([drained, new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 1000).unref())]);
      if (!ended) this.grpc.forceShutdown();
    }
    await this.metricsServer.close();
    try {
      await this.served.close();
    } finally {
      this.lock.release();
    }
    log.info("database closed; bye");
  }
}

/** TLS material of the server (PEM). */
export interface ServerTlsOptions {
  readonly cert: Buffer;
  readonly key: Buffer;
  /** When set, only clients with a certificate issued by this CA are accepted (mutual TLS). */
  readonly clientCa?: Buffer;
}

function serverCredentials(tls: ServerTlsOptions | undefined): ServerCredentials {
  if (tls === undefined) return ServerCredentials.createInsecure();
  return ServerCredentials.createSsl(tls.clientCa ?? null, [{ private_key: tls.key, cert_chain: tls.cert }], tls.clientCa !== undefined);
}

function formatHost(host: string): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
}
