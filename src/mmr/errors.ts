/**
 * The MMR layer's single error type. `kind` mirrors commonware's `mmr::Error` variants; the
 * message names the failing value (position, location, size).
 */

/** What went wrong in the MMR layer. */
export type MmrErrorKind =
  | "InvalidInput"
  | "LocationOverflow"
  | "PositionOverflow"
  | "NonLeaf"
  | "InvalidSize"
  | "Empty"
  | "RangeOutOfBounds"
  | "LeafOutOfBounds"
  | "ElementPruned"
  | "InvalidProof"
  | "InvalidProofLength"
  | "RootMismatch"
  | "MissingDigest"
  | "InvalidPinnedNodes"
  | "Storage";

/** An error from the MMR layer; `kind` says which. */
export class MmrError extends Error {
  override name = "MmrError";
  constructor(
    readonly kind: MmrErrorKind,
    message: string,
    options?: ErrorOptions,
  ) {
    super(`${kind}: ${message}`, options);
  }
}
