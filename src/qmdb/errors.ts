/**
 * The QMDB layer's single error type. `kind` mirrors commonware's `qmdb::Error` variants; lower
 * layer errors (journal, MMR, codec) are kept as `cause`.
 */

import { CodecError } from "../codec";
import { JournalError, type JournalErrorKind } from "../journal";
import { MmrError } from "../mmr";

/** What went wrong in the database layer. */
export type QmdbErrorKind =
  | "InvalidOperation"
  | "KeyExists"
  | "PruneBeyondMinRequired"
  | "RangeOutOfBounds"
  | "OperationPruned"
  | "InvalidSyncState"
  | "Corruption"
  | "Closed"
  | "Poisoned";

/** An error from the database layer; `kind` says which. */
export class QmdbError extends Error {
  override name = "QmdbError";
  constructor(
    readonly kind: QmdbErrorKind,
    message: string,
    options?: ErrorOptions,
  ) {
    super(`${kind}: ${message}`, options);
  }
}

/** Journal errors that mean the stored bytes are damaged (not a failed operation such as `Io`). */
const DAMAGE: ReadonlySet<JournalErrorKind> = new Set([
  "ChecksumMismatch",
  "Corruption",
  "MissingBlob",
  "InvalidBlobSize",
  "InvalidBlobName",
  "ItemPruned",
  "ItemOutOfRange",
]);

/**
 * Whether `err` says a database's files are damaged (bad checksums, missing or malformed files, a
 * log that cannot be what was written), as opposed to an I/O failure (a full disk) or misuse.
 * A copy that can be fetched again (a sync client's) is best wiped and re-fetched.
 */
export function isStorageDamage(err: unknown): boolean {
  const cause = err instanceof JournalError && err.kind === "Poisoned" ? err.cause : err;
  if (cause instanceof JournalError) return DAMAGE.has(cause.kind);
  if (cause instanceof QmdbError) return cause.kind === "Corruption" || (cause.cause !== undefined && isStorageDamage(cause.cause));
  if (cause instanceof MmrError) return cause.kind === "MissingDigest" || cause.kind === "ElementPruned" || cause.kind === "InvalidPinnedNodes";
  if (cause instanceof CodecError) return true; // a stored operation that does not decode
  return false;
}
