/** The sync client: gRPC resolver, long-running `SyncClient`, metrics and progress display. */
export { GrpcResolver, type ConnectOptions, type ServerTarget } from "./resolver";
export { SyncClient, DEFAULT_CLIENT_TIMING, KindMismatchError, type SyncClientOptions, type SyncClientEvents } from "./client";
export { ClientMetrics } from "./metrics";
export { ProgressBar } from "./progress";
