/**
 * Journal layer: crash-safe, bit-compatible ports of commonware-storage's on-disk structures, the only
 * layer that touches `fs`. Fixed journal (`any` op log, MMR nodes), variable journal (`immutable` op
 * log) and the two-blob metadata store (MMR pins). Positions are safe-integer `number`s; the layers
 * above convert from their bigint locations at their boundary. Appends buffer; `sync` is durable.
 */
export type { Contiguous, ReplayVisitor } from "./contiguous";
export { JournalError, isJournalError, type JournalErrorKind, type JournalErrorOptions } from "./errors";
export { FixedJournal, type FixedConfig } from "./fixed";
export { Metadata, type MetadataConfig } from "./metadata";
export { DiskStorage, destroyPartition, type Blob, type OpenOptions, type Storage } from "./storage";
export {
  type StateValidator,
  bigintField,
  countField,
  hexField,
  readStateFile,
  removeStateFile,
  stateFileExists,
  stringField,
  writeStateFile,
} from "./state-file";
export { VariableJournal, type VariableConfig } from "./variable";
export {
  DirectoryInUseError,
  DirectoryLock,
  LOCK_FILE,
  StorageDirectoryError,
  ensureStorageDirectory,
  lockRoot,
  lockStorageDirectory,
  withDirectoryLock,
} from "./dir-lock";
