/**
 * CRC-32 (IEEE 802.3, zlib's `crc32`, the `crc32fast` crate's) of a byte range, by
 * slicing-by-8. Journal records are 8–70 bytes, where a native call costs more than the
 * arithmetic: this is 3–5× faster than `node:zlib`'s `crc32` on 32- and 65-byte inputs
 * (measured 36 vs 193 ns and 68 vs 198 ns a call).
 */

const TABLES = new Int32Array(256 * 8);
for (let i = 0; i < 256; i++) {
  let c = i;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  TABLES[i] = c;
}
for (let i = 0; i < 256; i++) {
  for (let t = 1; t < 8; t++) {
    const prev = TABLES[(t - 1) * 256 + i]!;
    TABLES[t * 256 + i] = (prev >>> 8) ^ TABLES[prev & 0xff]!;
  }
}

/**
 * CRC-32 of `bytes[start, end)` (default: all of it), as an unsigned 32-bit number. Taking a range
 * spares the journals a view per record.
 */
export function crc32(bytes: Uint8Array, start = 0, end = bytes.length): number {
  const T = TABLES;
  let c = -1;
  let i = start;
  for (; i + 8 <= end; i += 8) {
    c ^= bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
    c =
      T[1792 + (c & 0xff)]! ^
      T[1536 + ((c >>> 8) & 0xff)]! ^
      T[1280 + ((c >>> 16) & 0xff)]! ^
      T[1024 + (c >>> 24)]! ^
      T[768 + bytes[i + 4]!]! ^
      T[512 + bytes[i + 5]!]! ^
      T[256 + bytes[i + 6]!]! ^
      T[bytes[i + 7]!]!;
  }
  for (; i < end; i++) c = T[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}
