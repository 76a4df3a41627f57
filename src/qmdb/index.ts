/**
 * The database layer: QMDB `any` and `immutable` over an authenticated operation log (journal +
 * MMR), their operation encodings, the test-operation generator and the sync log.
 */
export { AnyDb, ANY_KIND, ANY_LOG_ITEMS_PER_BLOB } from "./any";
export { ImmutableDb, IMMUTABLE_KIND, IMMUTABLE_ITEMS_PER_SECTION } from "./immutable";
export type { CommitOptions, Db } from "./db";
export { QmdbError, type QmdbErrorKind, isStorageDamage } from "./errors";
export {
  anyTestOperations,
  createAnyTestOperations,
  createImmutableTestOperations,
  createTestOperations,
  immutableTestOperations,
  testOperationCount,
  testOperations,
} from "./generator";
export { type DbKind, type DbKindName, type DbOptions, KindMismatchError, checkStoredKind } from "./kind";
export type { ProvenOperations } from "./log";
export * from "./operation";
export { SyncLog, type SyncLogOrigin } from "./sync-log";
export { type StorageReport, verifyStorage } from "./verify";
