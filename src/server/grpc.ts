/**
 * The gRPC adapter of the sync service: decodes requests, applies per-client rate limits, maps
 * service errors to status codes (the one place codes are chosen), and streams batches and
 * target updates with real backpressure (waits for 'drain' when the transport buffer is full,
 * stops when the client cancels, its deadline passes, or the server shuts down).
 */
import { once } from "node:events";
import {
  type ServerUnaryCall, type ServerWritableStream, type ServiceError as GrpcServiceError, type sendUnaryData, status,
} from "@grpc/grpc-js";
import {
  GetOperationsRequest, type GetOperationsResponse, GetSyncTargetRequest, GetSyncTargetResponse, SyncServiceService, type SyncServiceServer,
  WatchSyncTargetRequest,
} from "../../gen/commonware/sync/v1/sync";
import { toProtoKind, toProtoTarget } from "../wire";
import type { Logger } from "../telemetry";
import { ServiceError } from "./errors";
import { Pushback, type RateLimiter } from "./limits";
import { BatchSource } from "./batch-source";
import type { ServerMetrics } from "./metrics";
import type { SyncService } from "./service";
import { retryMetadata } from "./status";

/** A request whose bytes could not be decoded (surfaced as INVALID_ARGUMENT, not INTERNAL). */
interface Undecodable {
  readonly undecodable: string;
}

function lenientDecoder<T>(decode: (b: Uint8Array) => T): (b: Buffer) => T | Undecodable {
  return (bytes) => {
    try {
      return decode(bytes);
    } catch (err) {
      return { undecodable: err instanceof Error ? err.message : String(err) };
    }
  };
}

function isUndecodable(req: unknown): req is Undecodable {
  return typeof req === "object" && req !== null && "undecodable" in req;
}

/**
 * The service definition with request decoders that never throw (grpc-js would answer a malformed
 * request with INTERNAL, but it is the client's mistake) and response encoders that count bytes.
 */
export function syncServiceDefinition(metrics: ServerMetrics): typeof SyncServiceService {
  const counted = <T>(method: string, encode: (m: T) => Buffer) => (message: T): Buffer => {
    const bytes = encode(message);
    metrics.bytesSent.inc({ method }, bytes.length);
    return bytes;
  };
  return {
    getSyncTarget: {
      ...SyncServiceService.getSyncTarget,
      requestDeserialize: lenientDecoder((b) => GetSyncTargetRequest.decode(b)),
      responseSerialize: counted("GetSyncTarget", SyncServiceService.getSyncTarget.responseSerialize),
    },
    getOperations: {
      ...SyncServiceService.getOperations,
      requestDeserialize: lenientDecoder((b) => GetOperationsRequest.decode(b)),
      // Batches arrive already serialized (see `pumpOperations`); anything else goes through ts-proto.
      responseSerialize: counted("GetOperations", (m: GetOperationsResponse | Buffer) =>
        Buffer.isBuffer(m) ? m : SyncServiceService.getOperations.responseSerialize(m),
      ),
    },
    watchSyncTarget: {
      ...SyncServiceService.watchSyncTarget,
      requestDeserialize: lenientDecoder((b) => WatchSyncTargetRequest.decode(b)),
      responseSerialize: counted("WatchSyncTarget", SyncServiceService.watchSyncTarget.responseSerialize),
    },
  } as unknown as typeof SyncServiceService;
}

const STATUS_OF: Record<ServiceError["kind"], status> = {
  InvalidArgument: status.INVALID_ARGUMENT,
  OutOfRange: status.OUT_OF_RANGE,
  Unavailable: status.UNAVAILABLE,
  Internal: status.INTERNAL,
};

type GrpcStatus = Partial<GrpcServiceError> & { code: status; details: string };

function toStatus(err: unknown, log: Logger, method: string): GrpcStatus {
  if (err instanceof Pushback) {
    return { code: status.RESOURCE_EXHAUSTED, details: err.message, metadata: retryMetadata(status.RESOURCE_EXHAUSTED, err.message, err.retryAfterMs) };
  }
  if (err instanceof ServiceError) {
    if (err.kind === "Internal") log.error({ err, method }, "request failed");
    return { code: STATUS_OF[err.kind], details: err.kind === "Internal" ? "internal error" : err.message };
  }
  log.error({ err, method }, "request failed unexpectedly");
  return { code: status.INTERNAL, details: "internal error" };
}

/**
 * Who is calling: the TLS client certificate's fingerprint when there is one (a stable identity),
 * else the connection's address and port.
 */
export function clientKey(call: Pick<ServerUnaryCall<unknown, unknown>, "getAuthContext" | "getPeer">): string {
  const cert = call.getAuthContext?.()?.sslPeerCertificate;
  if (cert !== undefined && typeof cert.fingerprint256 === "string" && cert.fingerprint256.length > 0) return `cert:${cert.fingerprint256}`;
  return call.getPeer();
}

/** Handlers of `commonware.sync.v1.SyncService` over a `SyncService`. */
export function syncServiceHandlers(
  service: SyncService,
  metrics: ServerMetrics,
  limiter: RateLimiter,
  log: Logger,
  shuttingDown: AbortSignal,
  stoppingWatches: AbortSignal,
): SyncServiceServer {
  const batchSource = new BatchSource(service);
  // A call the client cancelled itself (e.g. a watch it no longer needs) is timed but is not an error.
  const finish = (method: string, started: bigint, code: status): void => {
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    metrics.rpcDuration.observe({ method, code: status[code] }, seconds);
    if (code !== status.OK && code !== status.CANCELLED) metrics.errors.inc({ method, code: status[code] });
  };
  const streams = new StreamGauges(metrics);

  const targetResponse = (): GetSyncTargetResponse => {
    const { target, signature, signer } = service.signedTarget();
    return { database: toProtoKind(service.kind), target: toProtoTarget(target), signature: Buffer.from(signature), signer: Buffer.from(signer) };
  };

  /** Runs a server stream: limits, cancellation, shutdown and status reporting around `body`. */
  const serveStream = <Req, Res>(
    method: string,
    call: ServerWritableStream<Req, Res>,
    body: (request: Req, client: string, signal: AbortSignal) => Promise<void>,
  ): void => {
    const started = process.hrtime.bigint();
    metrics.requests.inc({ method });
    const client = clientKey(call);
    const ac = new AbortController();
    const onCancel = (): void => ac.abort();
    call.once("cancelled", onCancel);
    shuttingDown.addEventListener("abort", onCancel, { once: true });
    let release = (): void => {};
    const fail = (err: unknown): void => {
      const st = toStatus(err, log, method);
      finish(method, started, st.code);
      call.emit("error", st);
    };
    const done = (): void => {
      release();
      shuttingDown.removeEventListener("abort", onCancel);
    };
    const request = call.request as Req | Undecodable;
    if (isUndecodable(request)) {
      fail(new ServiceError("InvalidArgument", `malformed request: ${request.undecodable}`));
      done();
      return;
    }
    try {
      const releaseSlot = limiter.openStream(client);
      const closeGauge = streams.open(method, client);
      release = () => {
        closeGauge();
        releaseSlot();
      };
    } catch (err) {
      fail(err);
      done();
      return;
    }
    body(request, client, ac.signal)
      .then(() => {
        if (call.cancelled) return finish(method, started, status.CANCELLED);
        if (shuttingDown.aborted && method === "GetOperations" && ac.signal.aborted) {
          return fail(new ServiceError("Unavailable", "server is shutting down; retry from the last verified location"));
        }
        finish(method, started, status.OK);
        call.end();
      })
      .catch((err: unknown) => {
        if (call.cancelled) finish(method, started, status.CANCELLED);
        else fail(err);
      })
      .finally(done);
  };

  return {
    getSyncTarget(call: ServerUnaryCall<GetSyncTargetRequest, GetSyncTargetResponse>, callback: sendUnaryData<GetSyncTargetResponse>): void {
      const started = process.hrtime.bigint();
      metrics.requests.inc({ method: "GetSyncTarget" });
      let response: GetSyncTargetResponse;
      try {
        if (isUndecodable(call.request)) throw new ServiceError("InvalidArgument", `malformed request: ${call.request.undecodable}`);
        limiter.chargeTarget(clientKey(call));
        response = targetResponse();
      } catch (err) {
        const st = toStatus(err, log, "GetSyncTarget");
        finish("GetSyncTarget", started, st.code);
        callback(st);
        return;
      }
      finish("GetSyncTarget", started, status.OK);
      callback(null, response);
    },

    getOperations(call: ServerWritableStream<GetOperationsRequest, GetOperationsResponse>): void {
      serveStream("GetOperations", call, async (request, client, signal) => {
        for await (const { message, operations } of batchSource.batches(request, signal)) {
          limiter.chargeOperations(client, operations);
          metrics.operationsServed.inc(operations);
          if (!call.write(message as unknown as GetOperationsResponse)) await drained(call, signal);
        }
      });
    },

    watchSyncTarget(call: ServerWritableStream<WatchSyncTargetRequest, GetSyncTargetResponse>): void {
      serveStream("WatchSyncTarget", call, async (_request, client, signal) => {
        limiter.chargeTarget(client);
        // Coalescing: while the transport is full, only the newest target is kept for later.
        let pending = service.hasTarget; // a relay without a target yet sends its first when it has one
        let wake: (() => void) | undefined;
        const onTarget = (): void => {
          pending = true;
          wake?.();
        };
        service.database.on("target", onTarget);
        const onStop = (): void => wake?.();
        stoppingWatches.addEventListener("abort", onStop, { once: true });
        try {
          while (!signal.aborted && !stoppingWatches.aborted) {
            if (pending) {
              pending = false;
              if (!call.write(targetResponse())) await drained(call, signal);
              continue;
            }
            await new Promise<void>((resolve) => {
              wake = resolve;
              signal.addEventListener("abort", () => resolve(), { once: true });
            });
            wake = undefined;
          }
        } finally {
          service.database.off("target", onTarget);
          stoppingWatches.removeEventListener("abort", onStop);
        }
      });
    },
  };
}

// Waits for the transport buffer to drain; returns early (without error) if `signal` aborts.
async function drained(call: NodeJS.EventEmitter, signal: AbortSignal): Promise<void> {
  try {
    await once(call, "drain", { signal });
  } catch (err) {
    if (!signal.aborted) throw err;
  }
}

/** Keeps `server_active_streams{method}` and `server_connected_clients` current. */
class StreamGauges {
  private readonly perClient = new Map<string, number>();

  constructor(private readonly metrics: ServerMetrics) {}

  /** Counts a stream of `client` as open; returns the function that counts it closed (once). */
  open(method: string, client: string): () => void {
    this.metrics.activeStreams.inc({ method });
    this.perClient.set(client, (this.perClient.get(client) ?? 0) + 1);
    this.metrics.connectedClients.set(this.perClient.size);
    let closed = false;
    return () => {
      if (closed) return;
      closed = true;
      this.metrics.activeStreams.dec({ method });
      const left = (this.perClient.get(client) ?? 1) - 1;
      if (left === 0) this.perClient.delete(client);
      else this.perClient.set(client, left);
      this.metrics.connectedClients.set(this.perClient.size);
    };
  }
}
