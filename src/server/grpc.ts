/**
 * The gRPC adapter of the sync service: decodes requests, maps service errors to status codes
 * (the one place codes are chosen), converts domain batches to protobuf, and streams them with
 * real backpressure (waits for 'drain' when the transport buffer is full, stops when the client
 * cancels or its deadline passes).
 */
import { once } from "node:events";
import { type ServerUnaryCall, type ServerWritableStream, type sendUnaryData, type ServiceError as GrpcServiceError, status } from "@grpc/grpc-js";
import {
  GetOperationsRequest, GetOperationsResponse, GetSyncTargetRequest, GetSyncTargetResponse, SyncServiceService, type SyncServiceServer,
} from "../../gen/commonware/sync/v1/sync";
import { encodeOperationsResponse, toProtoKind, toProtoTarget } from "../wire";
import type { Logger } from "../telemetry";
import { ServiceError } from "./errors";
import type { ServerMetrics } from "./metrics";
import type { SyncService } from "./service";

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
      // Batches arrive already serialized (see `pump`); anything else goes through ts-proto.
      responseSerialize: counted("GetOperations", (m: GetOperationsResponse | Buffer) =>
        Buffer.isBuffer(m) ? m : SyncServiceService.getOperations.responseSerialize(m),
      ),
    },
  } as unknown as typeof SyncServiceService;
}

const STATUS_OF: Record<ServiceError["kind"], status> = {
  InvalidArgument: status.INVALID_ARGUMENT,
  OutOfRange: status.OUT_OF_RANGE,
  Unavailable: status.UNAVAILABLE,
  Internal: status.INTERNAL,
};

function toStatus(err: unknown, log: Logger, method: string): Partial<GrpcServiceError> & { code: status; details: string } {
  if (err instanceof ServiceError) {
    if (err.kind === "Internal") log.error({ err, method }, "request failed");
    return { code: STATUS_OF[err.kind], details: err.kind === "Internal" ? "internal error" : err.message };
  }
  log.error({ err, method }, "request failed unexpectedly");
  return { code: status.INTERNAL, details: "internal error" };
}

function isUndecodable(req: unknown): req is Undecodable {
  return typeof req === "object" && req !== null && "undecodable" in req;
}

/** Handlers of `commonware.sync.v1.SyncService` over a `SyncService`. */
export function syncServiceHandlers(service: SyncService, metrics: ServerMetrics, log: Logger, shuttingDown: AbortSignal): SyncServiceServer {
  const finish = (method: string, started: bigint, code: status): void => {
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    metrics.rpcDuration.observe({ method, code: status[code] }, seconds);
    if (code !== status.OK) metrics.errors.inc({ method, code: status[code] });
  };

  return {
    getSyncTarget(call: ServerUnaryCall<GetSyncTargetRequest, GetSyncTargetResponse>, callback: sendUnaryData<GetSyncTargetResponse>): void {
      const started = process.hrtime.bigint();
      metrics.requests.inc({ method: "GetSyncTarget" });
      if (isUndecodable(call.request)) {
        finish("GetSyncTarget", started, status.INVALID_ARGUMENT);
        callback({ code: status.INVALID_ARGUMENT, details: `malformed request: ${call.request.undecodable}` });
        return;
      }
      const response: GetSyncTargetResponse = { database: toProtoKind(service.kind), target: toProtoTarget(service.target()) };
      finish("GetSyncTarget", started, status.OK);
      callback(null, response);
    },

    getOperations(call: ServerWritableStream<GetOperationsRequest, GetOperationsResponse>): void {
      const started = process.hrtime.bigint();
      metrics.requests.inc({ method: "GetOperations" });
      const ac = new AbortController();
      const onCancel = (): void => ac.abort();
      call.once("cancelled", onCancel);
      shuttingDown.addEventListener("abort", onCancel, { once: true });
      const fail = (err: unknown): void => {
        const st = toStatus(err, log, "GetOperations");
        finish("GetOperations", started, st.code);
        call.emit("error", st);
      };
      const request = call.request as GetOperationsRequest | Undecodable;
      if (isUndecodable(request)) {
        fail(new ServiceError("InvalidArgument", `malformed request: ${request.undecodable}`));
        return;
      }
      pump(call, service, request, ac.signal, metrics)
        .then(() => {
          if (ac.signal.aborted && !call.cancelled) {
            fail(new ServiceError("Unavailable", "server is shutting down; retry from the last verified location"));
            return;
          }
          finish("GetOperations", started, call.cancelled ? status.CANCELLED : status.OK);
          if (!call.cancelled) call.end();
        })
        .catch((err: unknown) => {
          if (call.cancelled) finish("GetOperations", started, status.CANCELLED);
          else fail(err);
        })
        .finally(() => shuttingDown.removeEventListener("abort", onCancel));
    },
  };
}

async function pump(
  call: ServerWritableStream<GetOperationsRequest, GetOperationsResponse>,
  service: SyncService,
  request: GetOperationsRequest,
  signal: AbortSignal,
  metrics: ServerMetrics,
): Promise<void> {
  for (const batch of service.batches(request, signal)) {
    // Serialize straight from the stored operation bytes (no per-operation objects).
    const message = encodeOperationsResponse(service.kind, batch.startLoc, batch.proof, batch.operations);
    metrics.operationsServed.inc(batch.operations.length);
    if (!call.write(message as unknown as GetOperationsResponse)) {
      try {
        await once(call, "drain", { signal });
      } catch (err) {
        if (signal.aborted) return;
        throw err;
      }
    }
  }
}
