/**
 * commonware-codec, the byte format every other layer encodes with: big-endian fixed-width integers,
 * canonical LEB128 varints, varint-u32 lengths, bool-tagged options and length-prefixed vectors.
 * Decoding is strict (one encoding per value, bounded lengths, no trailing bytes); every failure is a
 * {@link CodecError} whose `kind` mirrors the Rust variant.
 */
export { CodecError, type CodecErrorKind } from "./errors";
export { Reader, decode } from "./reader";
export { Writer, varintSize } from "./writer";
export {
  MAX_VARINT_U32_BYTES,
  VARINT_INVALID,
  VARINT_TRUNCATED,
  type VarintCursor,
  readLenientVarint,
  readLenientVarintU64,
  readVarintU32,
  varintU32Size,
  writeVarintU32,
  writeVarintU64,
} from "./varint";
export { equalBytes, toHex } from "./bytes";
