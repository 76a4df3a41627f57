/** The sync client: gRPC resolver, long-running `SyncClient` and its snapshot of synced data, metrics and progress display. */
export { GrpcResolver, type ConnectOptions, type ServerTarget } from "./resolver";
export {
  SyncClient,
  DEFAULT_CLIENT_TIMING,
  KindMismatchError,
  SyncFailuresError,
  type RunOptions,
  type SyncClientOptions,
  type SyncClientEvents,
} from "./client";
export { NotSyncedError, SyncedSnapshot, type EntryIterable } from "./snapshot";
export { clientTlsCredentials } from "./tls";
export { ClientMetrics } from "./metrics";
export { ProgressBar, type ProgressStreams } from "./progress";
export { MultiSourceResolver, SourceMetrics, type MultiSourceOptions, type SourceLogger } from "./multi-source";
export { DEFAULT_COOL_DOWN, SourceHealth, SourceState, type CoolDownPolicy } from "./source-health";
