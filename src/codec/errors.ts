/**
 * Codec errors: one class for the whole layer, its `kind` mirroring commonware-codec's `Error` variants.
 * Decoding is strict, so every malformed input maps to exactly one kind; the message names the offset,
 * the offending value and the bound it broke. `Invalid` also covers out-of-range values given to `Writer`.
 */

/** The commonware-codec error variants (`Wrapped` has no counterpart: wrap with `{ cause }` instead). */
export type CodecErrorKind = "EndOfBuffer" | "ExtraData" | "InvalidVarint" | "InvalidUsize" | "InvalidBool" | "InvalidEnum" | "InvalidLength" | "Invalid";

/** A decode (or encode-range) failure; `kind` says which rule was broken. */
export class CodecError extends Error {
  override name = "CodecError";
  constructor(
    readonly kind: CodecErrorKind,
    message: string,
    options?: ErrorOptions,
  ) {
    super(`${kind}: ${message}`, options);
  }
}
