/**
 * The one LEB128 implementation, allocation-free at an offset of a caller's buffer: 7 bits per byte,
 * least significant group first, high bit = "more". Used by `Writer`/`Reader`, journal replay and the
 * protobuf batch codec. The commonware decoder (`readVarintU32`) is canonical: a 0x00 byte after the
 * first is rejected, and a 5th byte may only carry the top 4 bits. Protobuf decoders accept
 * non-canonical forms, so the lenient readers below do too (but never more than 64 bits).
 */

/** Largest varint-u32 encoding. */
export const MAX_VARINT_U32_BYTES = 5;

/** Decoding ran past `end` (a torn entry). */
export const VARINT_TRUNCATED = -1;
/** Non-canonical or overflowing encoding (corruption). */
export const VARINT_INVALID = -2;

/** Encoded size of a u32 `value`. */
export function varintU32Size(value: number): number {
  return value < 0x80 ? 1 : value < 0x4000 ? 2 : value < 0x20_0000 ? 3 : value < 0x1000_0000 ? 4 : 5;
}

/** Write `value` (a u32, or any safe non-negative integer) at `buf[at]`; returns the number of bytes written. */
export function writeVarintU32(buf: Uint8Array, at: number, value: number): number {
  let n = 0;
  let v = value;
  while (v >= 0x80) {
    buf[at + n++] = (v & 0x7f) | 0x80;
    v = Math.floor(v / 0x80);
  }
  buf[at + n++] = v;
  return n;
}

/**
 * Decode a varint u32 from `buf[at, end)`. Returns `value × 8 + length` (length ≤ 5, so this stays far
 * below 2^53), or {@link VARINT_TRUNCATED} / {@link VARINT_INVALID}. The packed result avoids allocating
 * a result object per entry during replay.
 */
export function readVarintU32(buf: Uint8Array, at: number, end: number): number {
  let value = 0;
  for (let i = 0; i < MAX_VARINT_U32_BYTES; i++) {
    if (at + i >= end) return VARINT_TRUNCATED;
    const b = buf[at + i];
    if (i > 0 && b === 0) return VARINT_INVALID;
    if (i === MAX_VARINT_U32_BYTES - 1 && b > 0x0f) return VARINT_INVALID;
    value += (b & 0x7f) * 2 ** (7 * i);
    if ((b & 0x80) === 0) return value * 8 + i + 1;
  }
  return VARINT_INVALID;
}

const TWO_28 = 1n << 28n;
const MASK_28 = TWO_28 - 1n;

/**
 * Write `value` (a u64, not range-checked here) at `buf[at]`; returns the number of bytes written.
 * Values ≥ 2^28 emit their low 28 bits as four continuation bytes, then the high part (≤ 36 bits)
 * as a number: one bigint mask and shift instead of a bigint operation per byte.
 */
export function writeVarintU64(buf: Uint8Array, at: number, value: bigint): number {
  if (value < TWO_28) return writeVarintU32(buf, at, Number(value));
  let lo = Number(value & MASK_28);
  for (let i = 0; i < 4; i++, lo >>>= 7) buf[at + i] = (lo & 0x7f) | 0x80;
  return 4 + writeVarintU32(buf, at + 4, Number(value >> 28n));
}

/** A read position in `buf[pos, end)`, advanced by the lenient readers. */
export interface VarintCursor {
  readonly buf: Uint8Array;
  pos: number;
  readonly end: number;
}

/**
 * Read a protobuf varint that must fit a safe integer (lengths, tags). Returns the value, or
 * {@link VARINT_TRUNCATED} / {@link VARINT_INVALID} (above 2^53 − 1) without advancing further.
 */
export function readLenientVarint(c: VarintCursor): number {
  let result = 0;
  let mul = 1;
  for (let i = 0; i < 8; i++) {
    if (c.pos >= c.end) return VARINT_TRUNCATED;
    const b = c.buf[c.pos++]!;
    result += (b & 0x7f) * mul;
    if (b < 0x80) return result > Number.MAX_SAFE_INTEGER ? VARINT_INVALID : result;
    mul *= 128;
  }
  return VARINT_INVALID;
}

/**
 * Read a protobuf varint as a u64 (at most 10 bytes). Returns the value, or `BigInt(VARINT_TRUNCATED)`
 * / `BigInt(VARINT_INVALID)` (more than 10 bytes or 64 bits).
 */
export function readLenientVarintU64(c: VarintCursor): bigint {
  let result = 0n;
  let shift = 0n;
  for (let i = 0; i < 10; i++) {
    if (c.pos >= c.end) return BigInt(VARINT_TRUNCATED);
    const b = c.buf[c.pos++]!;
    result |= BigInt(b & 0x7f) << shift;
    if (b < 0x80) return result >= 1n << 64n ? BigInt(VARINT_INVALID) : result;
    shift += 7n;
  }
  return BigInt(VARINT_INVALID);
}
