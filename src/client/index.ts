/** The sync client: gRPC resolver, long-running `SyncClient` and its snapshot of synced data, metrics and progress display. */
export { GrpcResolver, type ConnectOptions, type ServerTarget } from "./resolver";
export { SyncClient, KindMismatchError, SyncFailuresError, type RunOptions, type SyncClientOptions, type SyncClientEvents } from "./client";
export { NotSyncedError, SyncedSnapshot, type EntryIterable } from "./snapshot";
export { clientTlsCredentials } from "./tls";
export { ClientMetrics } from "./metrics";
export { ProgressBar, type ProgressStreams } from "./progress";
