/**
 * The "standard" MMR hasher (commonware `Standard<Sha256>`):
 *   leaf  = SHA256(be64(pos) ‖ element)
 *   node  = SHA256(be64(pos) ‖ left ‖ right)
 *   root  = SHA256(be64(size) ‖ peak_1 ‖ … ‖ peak_k)   (peaks left to right)
 * Positions are written as 8 big-endian bytes. Inputs are assembled directly in the hash
 * module's input buffer (no concatenation); the `…Into` forms write the digest into a caller's
 * buffer, the others return a fresh 32-byte array.
 */
import { DIGEST_BYTES, hashInputInto, inputBuffer } from "./sha256";

const TWO_32 = 0x1_0000_0000;

// A `number` position must be a safe integer (checked by callers at the storage boundary);
// positions beyond 2^53 travel as `bigint`.
function writePosition(buf: Uint8Array, pos: number | bigint): void {
  let hi: number;
  let lo: number;
  if (typeof pos === "number") {
    hi = Math.floor(pos / TWO_32);
    lo = pos >>> 0;
  } else {
    hi = Number(pos >> 32n);
    lo = Number(pos & 0xffff_ffffn);
  }
  buf[0] = hi >>> 24;
  buf[1] = (hi >>> 16) & 0xff;
  buf[2] = (hi >>> 8) & 0xff;
  buf[3] = hi & 0xff;
  buf[4] = lo >>> 24;
  buf[5] = (lo >>> 16) & 0xff;
  buf[6] = (lo >>> 8) & 0xff;
  buf[7] = lo & 0xff;
}

/** Writes the digest of the leaf at `pos` holding `element` into `out[offset..]`. */
export function leafDigestInto(pos: number | bigint, element: Uint8Array, out: Uint8Array, offset: number): void {
  const len = 8 + element.length;
  const buf = inputBuffer(len);
  writePosition(buf, pos);
  buf.set(element, 8);
  hashInputInto(len, out, offset);
}

/** Writes the digest of the internal node at `pos` with children `left`, `right` into `out[offset..]`. */
export function nodeDigestInto(pos: number | bigint, left: Uint8Array, right: Uint8Array, out: Uint8Array, offset: number): void {
  const buf = inputBuffer(8 + 2 * DIGEST_BYTES);
  writePosition(buf, pos);
  buf.set(left, 8);
  buf.set(right, 8 + DIGEST_BYTES);
  hashInputInto(8 + 2 * DIGEST_BYTES, out, offset);
}

/**
 * Like `nodeDigestInto`, with both children read from `src` at byte offsets `leftAt`/`rightAt`
 * (digests stored back to back), so no view is created per hash.
 */
export function nodeDigestFromInto(pos: number | bigint, src: Uint8Array, leftAt: number, rightAt: number, out: Uint8Array, offset: number): void {
  const buf = inputBuffer(8 + 2 * DIGEST_BYTES);
  writePosition(buf, pos);
  for (let i = 0; i < DIGEST_BYTES; i++) {
    buf[8 + i] = src[leftAt + i]!;
    buf[8 + DIGEST_BYTES + i] = src[rightAt + i]!;
  }
  hashInputInto(8 + 2 * DIGEST_BYTES, out, offset);
}

/** Digest of the leaf at `pos` holding `element`. */
export function leafDigest(pos: number | bigint, element: Uint8Array): Uint8Array {
  const out = new Uint8Array(DIGEST_BYTES);
  leafDigestInto(pos, element, out, 0);
  return out;
}

/** Digest of the internal node at `pos` with children `left` and `right`. */
export function nodeDigest(pos: number | bigint, left: Uint8Array, right: Uint8Array): Uint8Array {
  const out = new Uint8Array(DIGEST_BYTES);
  nodeDigestInto(pos, left, right, out, 0);
  return out;
}

/** Root of an MMR of `size` nodes whose peak digests, left to right, are `peakDigests`. */
export function rootDigest(size: number | bigint, peakDigests: readonly Uint8Array[]): Uint8Array {
  const len = 8 + DIGEST_BYTES * peakDigests.length;
  const buf = inputBuffer(len);
  writePosition(buf, size);
  let off = 8;
  for (const d of peakDigests) {
    buf.set(d, off);
    off += DIGEST_BYTES;
  }
  const out = new Uint8Array(DIGEST_BYTES);
  hashInputInto(len, out, 0);
  return out;
}
