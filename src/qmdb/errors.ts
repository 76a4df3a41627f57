/**
 * The QMDB layer's single error type. `kind` mirrors commonware's `qmdb::Error` variants; lower
 * layer errors (journal, MMR, codec) are kept as `cause`.
 */

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
