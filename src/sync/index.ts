/**
 * The sync engine: transport-agnostic, verified, resumable, moving-target sync of a QMDB
 * database from an untrusted resolver.
 */
export {
  syncDatabase,
  syncOpenLog,
  checkTarget,
  DEFAULT_RETRY,
  DEFAULT_SYNC,
  MAX_PROOF_DIGESTS,
  type OpenLogSyncOptions,
  type RetryPolicy,
  type SyncLogger,
  type SyncObserver,
  type SyncOptions,
  type SyncResult,
  type SyncTarget,
} from "./engine";
export { InvalidResponseError, ResolverError, SyncError, type SyncErrorKind } from "./errors";
export type { FetchedBatch, FetchRequest, Resolver } from "./resolver";
export { TargetSigner, TargetVerifier, TargetAuthError, targetSigningMessage } from "./signed-target";
