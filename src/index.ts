/**
 * commonware-sync for TypeScript: the library surface. Embed the sync engine (`syncDatabase`)
 * with any transport, or the gRPC `SyncClient`; open and serve QMDB databases; verify proofs.
 */
export { syncDatabase, SyncError, ResolverError, InvalidResponseError, DEFAULT_RETRY } from "./sync";
export type { SyncOptions, SyncResult, SyncTarget, SyncObserver, SyncLogger, RetryPolicy, Resolver, FetchRequest, FetchedBatch } from "./sync";
export { SyncClient, GrpcResolver, ClientMetrics, KindMismatchError, NotSyncedError, SyncedSnapshot, SyncFailuresError, clientTlsCredentials } from "./client";
export type { SyncClientOptions, SyncClientEvents, ConnectOptions, ServerTarget, RunOptions, EntryIterable } from "./client";
export { SyncServer, SyncService, DEFAULT_LIMITS } from "./server";
export type { ServerOptions, ServiceLimits } from "./server";
export { AnyDb, ImmutableDb, ANY_KIND, IMMUTABLE_KIND, createTestOperations, verifyStorage, type StorageReport } from "./qmdb";
export { DirectoryInUseError, StorageDirectoryError } from "./journal";
export type { AnyOperation, ImmutableOperation, Operation, DbKind, DbKindName, DbOptions } from "./qmdb";
export { verifyRangeInclusion, type Proof } from "./mmr";
// For users of the generated stubs: canonical operation bytes (what proofs cover) from typed messages.
export { encodeProtoOperation, fromProtoOperation, toProtoOperation, WireError } from "./wire";
// Scale-out: fetching from several sources at once, and relays that re-serve a verified copy.
export { MultiSourceResolver, SourceHealth, SourceMetrics } from "./client";
export type { MultiSourceOptions } from "./client";
export { relaySource, RelaySource } from "./relay";
export type { RelayOptions } from "./relay";
