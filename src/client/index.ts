/** The sync client: gRPC resolver, long-running `SyncClient`, metrics and progress display. */
export { GrpcResolver, type ConnectOptions, type ServerTarget } from "./resolver";
export { SyncClient, DEFAULT_CLIENT_TIMING, KindMismatchError, type SyncClientOptions, type SyncClientEvents } from "./client";
export { ClientMetrics } from "./metrics";
export { ProgressBar } from "./progress";
export { MultiSourceResolver, SourceMetrics, type MultiSourceOptions, type SourceLogger } from "./multi-source";
export { DEFAULT_COOL_DOWN, SourceHealth, SourceState, type CoolDownPolicy } from "./source-health";
