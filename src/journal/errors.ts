/**
 * Journal errors: one class for the storage layer, its `kind` mirroring commonware's `journal::Error`
 * variants plus the handle states this port adds (`Closed`, `Poisoned`). Every error names the evidence:
 * the file, the byte offset and the item position when they are known (also as fields, for callers).
 * A failed disk operation poisons its handle; every later call then throws `Poisoned` with the first
 * failure as its `cause`.
 */

/** What went wrong; the names follow the Rust variants where one exists. */
export type JournalErrorKind =
  | "ItemPruned"
  | "ItemOutOfRange"
  | "ChecksumMismatch"
  | "Corruption"
  | "MissingBlob"
  | "InvalidBlobSize"
  | "InvalidBlobName"
  | "InvalidRewind"
  | "InvalidArgument"
  | "InvalidConfig"
  | "Io"
  | "Closed"
  | "Poisoned";

/** Evidence attached to a {@link JournalError}, besides the standard `cause`. */
export interface JournalErrorOptions extends ErrorOptions {
  /** Item position (or metadata version) the failure concerns. */
  readonly position?: number;
  /** Path of the blob file involved. */
  readonly file?: string;
  /** Byte offset inside `file`. */
  readonly offset?: number;
}

/** An error from the journal layer (fixed, variable, segmented journals, metadata and storage). */
export class JournalError extends Error {
  override name = "JournalError";
  readonly position: number | undefined;
  readonly file: string | undefined;
  readonly offset: number | undefined;

  constructor(
    readonly kind: JournalErrorKind,
    message: string,
    options?: JournalErrorOptions,
  ) {
    super(`${kind}: ${message}`, options);
    this.position = options?.position;
    this.file = options?.file;
    this.offset = options?.offset;
  }
}

/** True when `err` is a {@link JournalError} of the given kind (handy in `catch` blocks and tests). */
export function isJournalError(err: unknown, kind?: JournalErrorKind): err is JournalError {
  return err instanceof JournalError && (kind === undefined || err.kind === kind);
}

/** Throws `InvalidArgument` unless `value` is a safe non-negative integer (positions, sizes, counts). */
export function requireIndex(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new JournalError("InvalidArgument", `${what} must be a non-negative safe integer, got ${value}`);
  }
}
