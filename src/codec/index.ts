/**
 * commonware-codec, the byte format every other layer encodes with: big-endian fixed-width integers,
 * canonical LEB128 varints, varint-u32 lengths, bool-tagged options and length-prefixed vectors.
 * Decoding is strict (one encoding per value, bounded lengths, no trailing bytes); every failure is a
 * {@link CodecError} whose `kind` mirrors the Rust variant.
 */
export { CodecError, type CodecErrorKind } from './errors';
export { Reader, decode, decodeVec } from './reader';
export { Writer, encodeVec, varintSize } from './writer';
