/**
 * Allocation-free LEB128 for u32 values (commonware-codec `UInt<u32>`) at an offset of a caller's
 * buffer, for hot loops (journal replay) and for `Reader`: 7 bits per byte, least significant group
 * first, high bit = "more". Decoding is canonical: a 0x00 byte after the first is rejected, and a 5th
 * byte may only carry the top 4 bits (so at most 5 bytes, last ≤ 0x0f).
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

/** Write `value` (a u32) at `buf[at]`; returns the number of bytes written. */
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
