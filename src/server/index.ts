/** The sync server: gRPC adapter, request logic, workload, metrics. */
export {
  SyncServer,
  SYNC_SERVICE_NAME,
  DEFAULT_SHUTDOWN_GRACE_MS,
  DEFAULT_IDLE_CONNECTION_TIMEOUT_MS,
  type ServerOptions,
  type ServerTlsOptions,
} from "./server";
export { DEFAULT_RATE_LIMITS, Pushback, RateLimiter, TokenBucket, type RateLimits } from "./limits";
export { DEFAULT_LIMITS, SyncService, type ServiceLimits, type OperationsRequest, type SignedTarget } from "./service";
export { ServiceError, type ServiceErrorKind } from "./errors";
export { ServedDatabase } from "./database";
export { BatchSource, DEFAULT_BATCH_CACHE_BYTES, Slicer, type BatchSourceOptions, type EncodedBatch } from "./batch-source";
export { InitialLoadStopped, type WorkloadOptions } from "./workload";
export type { ServedSource, SourceContext, SourceFactory, TargetSignature, TargetSource } from "./target-source";
export { writerSource } from "./writer-source";
export { DEFAULT_SEND_LIMITS, SendBudget, StreamSender, type MessageSink, type SendLimits } from "./send-budget";
