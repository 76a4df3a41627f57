/**
 * The gRPC adapter of the sync service: decodes requests, applies per-client rate limits, maps
 * service errors to status codes (the one place codes are chosen), and streams batches and
 * target updates within byte budgets (`SendBudget`: each stream waits until its own queue and the
 * server's total are under their limits, and yields to the event loop between messages), stops
 * when the client cancels, its deadline passes, or the server shuts down, and ends a stream whose
 * client stopped reading for the stall timeout, freeing its slot and its queued bytes.
 */
import { type EventEmitter, getEventListeners } from "node:events";
import http2 from "node:http2";
import { type ServerUnaryCall, type ServerWritableStream, type ServiceError as GrpcServiceError, type sendUnaryData, status } from "@grpc/grpc-js";
import {
  GetOperationsRequest,
  type GetOperationsResponse,
  GetSyncTargetRequest,
  GetSyncTargetResponse,
  SyncServiceService,
  type SyncServiceServer,
  WatchSyncTargetRequest,
} from "../../gen/commonware/sync/v1/sync";
import { toProtoKind, toProtoTarget } from "../wire";
import type { Logger } from "../telemetry";
import { ServiceError } from "./errors";
import { Pushback, type RateLimiter } from "./limits";
import { BatchSource } from "./batch-source";
import { FRAME_HEADER_BYTES, FramedMessage, installFramedResponses } from "./framed-message";
import type { ServerMetrics } from "./metrics";
import type { SendBudget, StreamSender } from "./send-budget";
import type { SignedTarget, SyncService } from "./service";
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

/** What a stream writes: a serialized message, or a batch already in its gRPC frame. */
type Outgoing = Buffer | FramedMessage;

/**
 * The service definition with request decoders that never throw (grpc-js would answer a malformed
 * request with INTERNAL, but it is the client's mistake) and response encoders that count bytes.
 * Framed batches are counted when they are sent (`getOperations`): grpc-js writes them without
 * calling the encoder when `installFramedResponses` is in effect.
 */
export function syncServiceDefinition(metrics: ServerMetrics): typeof SyncServiceService {
  const counted =
    <T>(method: string, encode: (m: T) => Buffer) =>
    (message: T): Buffer => {
      const bytes = encode(message);
      metrics.bytesSent.inc({ method }, bytes.length);
      return bytes;
    };
  const countedOperations = counted("GetOperations", (m: GetOperationsResponse) => SyncServiceService.getOperations.responseSerialize(m));
  return {
    getSyncTarget: {
      ...SyncServiceService.getSyncTarget,
      requestDeserialize: lenientDecoder((b) => GetSyncTargetRequest.decode(b)),
      responseSerialize: counted("GetSyncTarget", SyncServiceService.getSyncTarget.responseSerialize),
    },
    getOperations: {
      ...SyncServiceService.getOperations,
      requestDeserialize: lenientDecoder((b) => GetOperationsRequest.decode(b)),
      // Batches arrive serialized and framed (see `getOperations`); anything else goes through ts-proto.
      responseSerialize: (m: GetOperationsResponse | FramedMessage): Buffer => (m instanceof FramedMessage ? m.message : countedOperations(m)),
    },
    watchSyncTarget: {
      ...SyncServiceService.watchSyncTarget,
      requestDeserialize: lenientDecoder((b) => WatchSyncTargetRequest.decode(b)),
      // Targets are serialized before they are written (their size counts toward the byte budget).
      responseSerialize: counted("WatchSyncTarget", (m: GetSyncTargetResponse | Buffer) =>
        Buffer.isBuffer(m) ? m : SyncServiceService.watchSyncTarget.responseSerialize(m),
      ),
    },
  } as unknown as typeof SyncServiceService;
}

const STATUS_OF: Record<ServiceError["kind"], status> = {
  InvalidArgument: status.INVALID_ARGUMENT,
  OutOfRange: status.OUT_OF_RANGE,
  Unavailable: status.UNAVAILABLE,
  Stalled: status.DEADLINE_EXCEEDED,
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
 * else the remote IP address. Not the port: a client opening many connections is still one
 * client (rate limits and stream caps would otherwise multiply by its connection count).
 */
export function clientKey(call: Pick<ServerUnaryCall<unknown, unknown>, "getAuthContext" | "getPeer">): string {
  const cert = call.getAuthContext?.()?.sslPeerCertificate;
  if (cert !== undefined && typeof cert.fingerprint256 === "string" && cert.fingerprint256.length > 0) return `cert:${cert.fingerprint256}`;
  return `ip:${peerAddress(call.getPeer())}`;
}

/** The address of a grpc-js peer string ("1.2.3.4:port", "::1:port", "[::1]:port"), IPv4-mapped IPv6 as IPv4. */
export function peerAddress(peer: string): string {
  const address = peer.replace(/:\d+$/, "").replace(/^\[(.*)\]$/, "$1");
  return /^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(address) ? address.slice(7) : address;
}

/** How long a stalled stream's status gets to reach a client that resumes reading before the stream is reset. */
const STALLED_RESET_GRACE_MS = 1000;

/**
 * Abandons a stream's queued data with RST_STREAM (CANCEL), the only way to free it while the
 * client does not read. grpc-js has no public call for this: its server call keeps the HTTP/2
 * stream at `call.call.stream` (grpc-js 1.14, no interceptors). Returns false if it is not there.
 */
function resetStream(call: object): boolean {
  const h2 = (call as { call?: { stream?: { close?: unknown; closed?: boolean } } }).call?.stream;
  if (h2 === undefined || typeof h2.close !== "function") return false;
  if (h2.closed !== true) (h2.close as (code: number) => void)(http2.constants.NGHTTP2_CANCEL);
  return true;
}

/** Handlers of `commonware.sync.v1.SyncService` over a `SyncService`. */
export function syncServiceHandlers(
  service: SyncService,
  metrics: ServerMetrics,
  limiter: RateLimiter,
  budget: SendBudget,
  log: Logger,
  shuttingDown: AbortSignal,
  stoppingWatches: AbortSignal,
): SyncServiceServer {
  installFramedResponses();
  const batchSource = new BatchSource(service);
  metrics.sampleBatchCache = () => batchSource.cachedBytes;
  // A call the client cancelled itself (e.g. a watch it no longer needs) is timed but is not an error.
  const finish = (method: string, started: bigint, code: status): void => {
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    metrics.rpcDuration.observe({ method, code: status[code] }, seconds);
    if (code !== status.OK && code !== status.CANCELLED) metrics.errors.inc({ method, code: status[code] });
  };
  const streams = new StreamGauges(metrics);

  // The answer to target requests, and its serialized form for pushes: built once per served
  // target (`signedTarget` returns the same object until the target changes), not per call.
  let answer: { signed: SignedTarget; response: GetSyncTargetResponse; encoded?: Buffer } | undefined;
  const targetAnswer = (): NonNullable<typeof answer> => {
    const signed = service.signedTarget();
    if (answer?.signed !== signed) {
      const { target, signature, signer } = signed;
      const response = { database: toProtoKind(service.kind), target: toProtoTarget(target), signature: Buffer.from(signature), signer: Buffer.from(signer) };
      answer = { signed, response };
    }
    return answer;
  };
  const targetResponse = (): GetSyncTargetResponse => targetAnswer().response;
  const encodedTargetResponse = (): Buffer => {
    const a = targetAnswer();
    return (a.encoded ??= Buffer.from(GetSyncTargetResponse.encode(a.response).finish()));
  };

  // Open streams: ended through this set at shutdown (one listener on each shared signal, not
  // one per stream), and counted by the event-listener gauge.
  const open = new Set<{ method: string; signal: AbortSignal; call: EventEmitter; stop: () => void }>();
  shuttingDown.addEventListener("abort", () => [...open].forEach((s) => s.stop()), { once: true });
  stoppingWatches.addEventListener("abort", () => [...open].forEach((s) => s.method === "WatchSyncTarget" && s.stop()), { once: true });
  metrics.sampleListeners = () => {
    let signalListeners = 0;
    let callListeners = 0;
    for (const s of open) {
      signalListeners += getEventListeners(s.signal, "abort").length;
      for (const name of s.call.eventNames()) callListeners += s.call.listenerCount(name);
    }
    metrics.eventListeners.set({ emitter: "database" }, service.database.listenerCount("target"));
    metrics.eventListeners.set({ emitter: "shutdown_signal" }, getEventListeners(shuttingDown, "abort").length);
    metrics.eventListeners.set({ emitter: "watch_stop_signal" }, getEventListeners(stoppingWatches, "abort").length);
    metrics.eventListeners.set({ emitter: "stream_signals" }, signalListeners);
    metrics.eventListeners.set({ emitter: "stream_calls" }, callListeners);
  };

  /**
   * Runs a server stream: limits, byte budget, cancellation, stall and shutdown handling and
   * status reporting around `body`. The stream's slot is held until what it queued has been
   * sent, or the stream is gone.
   */
  const serveStream = <Req, Res>(
    method: string,
    call: ServerWritableStream<Req, Res>,
    body: (request: Req, client: string, signal: AbortSignal, sender: StreamSender<Outgoing>) => Promise<void>,
  ): void => {
    const started = process.hrtime.bigint();
    metrics.requests.inc({ method });
    const client = clientKey(call);
    const ac = new AbortController();
    const stop = (): void => ac.abort();
    if (shuttingDown.aborted || (method === "WatchSyncTarget" && stoppingWatches.aborted)) stop();
    let bodyDone = false;
    let stalled = false;
    const sender = budget.open<Outgoing>(call as unknown as { write(m: Outgoing, cb: () => void): unknown }, ac.signal, () => {
      stalled = true;
      ac.abort();
      if (bodyDone) endStalled();
    });
    const entry = { method, signal: ac.signal, call, stop };
    open.add(entry);
    call.once("cancelled", () => {
      stop();
      sender.close(); // the HTTP/2 stream is gone, and its queued data with it
    });
    let release = (): void => {};
    const fail = (err: unknown): void => {
      const st = toStatus(err, log, method);
      finish(method, started, st.code);
      call.emit("error", st);
    };
    // A stream that made no progress: tell a client that resumes reading why, then reset it.
    const endStalled = (): void => {
      const seconds = budget.limits.stallTimeoutMs / 1000;
      log.warn({ method, client, queued_bytes: sender.queuedBytes, stall_timeout_s: seconds }, "ended a stream whose client stopped reading");
      metrics.stalledStreams.inc({ method });
      if (!call.writableEnded)
        fail(new ServiceError("Stalled", `the stream made no progress for ${seconds} s (the client stopped reading); it was ended to free its slot`));
      setTimeout(
        () => {
          if (!resetStream(call)) log.error({ method }, "could not reset a stalled stream (grpc-js internals changed?)");
          sender.close();
        },
        Math.min(STALLED_RESET_GRACE_MS, budget.limits.stallTimeoutMs),
      ).unref();
    };
    const done = (): void => {
      sender.close();
      release();
      open.delete(entry);
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
    body(request, client, ac.signal, sender)
      .then(() => {
        if (stalled) return endStalled();
        if (call.cancelled) return finish(method, started, status.CANCELLED);
        if (shuttingDown.aborted && method === "GetOperations" && ac.signal.aborted) {
          return fail(new ServiceError("Unavailable", "server is shutting down; retry from the last verified location"));
        }
        finish(method, started, status.OK);
        call.end();
      })
      .catch((err: unknown) => {
        if (stalled) endStalled();
        else if (call.cancelled) finish(method, started, status.CANCELLED);
        else fail(err);
      })
      .then(() => {
        bodyDone = true;
        return sender.drained();
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
      serveStream("GetOperations", call, async (request, client, signal, sender) => {
        // Room in the byte budgets (and a turn of the event loop) before each batch is produced.
        await sender.ready();
        for await (const { framed, operations } of batchSource.batches(request, signal)) {
          limiter.chargeOperations(client, operations);
          metrics.operationsServed.inc(operations);
          metrics.bytesSent.inc({ method: "GetOperations" }, framed.length - FRAME_HEADER_BYTES);
          sender.send(framed);
          await sender.ready();
        }
      });
    },

    watchSyncTarget(call: ServerWritableStream<WatchSyncTargetRequest, GetSyncTargetResponse>): void {
      serveStream("WatchSyncTarget", call, async (_request, client, signal, sender) => {
        limiter.chargeTarget(client);
        // Coalescing: one target in flight at a time; while the reader is slow, newer targets
        // replace the pending one. One listener each on the database and the stream's signal,
        // for the life of the stream (none per commit).
        let pending = service.hasTarget; // a relay without a target yet sends its first when it has one
        let wake: (() => void) | undefined;
        const onChange = (): void => {
          pending = true;
          wake?.();
        };
        service.database.on("target", onChange);
        signal.addEventListener("abort", onChange, { once: true });
        try {
          while (!signal.aborted) {
            if (pending) {
              await sender.ready(0);
              if (signal.aborted) break;
              pending = false;
              sender.send(encodedTargetResponse());
              continue;
            }
            await new Promise<void>((resolve) => (wake = resolve));
            wake = undefined;
          }
        } finally {
          service.database.off("target", onChange);
          signal.removeEventListener("abort", onChange);
        }
      });
    },
  };
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
