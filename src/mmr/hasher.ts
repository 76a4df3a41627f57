/**
 * The "standard" MMR hasher (commonware `Standard<Sha256>`):
 *   leaf  = SHA256(be64(pos) ‖ element)
 *   node  = SHA256(be64(pos) ‖ left ‖ right)
 *   root  = SHA256(be64(size) ‖ peak_1 ‖ … ‖ peak_k)   (peaks left to right)
 * Positions are written as 8 big-endian bytes. Each call hashes one reused scratch buffer, so no
 * input is concatenated; results are fresh buffers the caller may keep.
 */
import { DIGEST_BYTES, sha256 } from "./sha256";

const TWO_32 = 0x1_0000_0000;
let scratch = new Uint8Array(8 + 2 * DIGEST_BYTES);
let view = new DataView(scratch.buffer);

function ensureScratch(bytes: number): void {
  if (scratch.length >= bytes) return;
  scratch = new Uint8Array(Math.max(bytes, scratch.length * 2));
  view = new DataView(scratch.buffer);
}

// A `number` position must be a safe integer (checked by callers at the storage boundary);
// positions beyond 2^53 travel as `bigint`.
function writePosition(pos: number | bigint): void {
  if (typeof pos === "number") {
    view.setUint32(0, Math.floor(pos / TWO_32));
    view.setUint32(4, pos >>> 0);
  } else {
    view.setBigUint64(0, pos);
  }
}

/** Digest of the leaf at `pos` holding `element`. */
export function leafDigest(pos: number | bigint, element: Uint8Array): Uint8Array {
  const len = 8 + element.length;
  ensureScratch(len);
  writePosition(pos);
  scratch.set(element, 8);
  return sha256(scratch.subarray(0, len));
}

/** Digest of the internal node at `pos` with children `left` and `right`. */
export function nodeDigest(pos: number | bigint, left: Uint8Array, right: Uint8Array): Uint8Array {
  writePosition(pos);
  scratch.set(left, 8);
  scratch.set(right, 8 + DIGEST_BYTES);
  return sha256(scratch.subarray(0, 8 + 2 * DIGEST_BYTES));
}

/** Root of an MMR of `size` nodes whose peak digests, left to right, are `peakDigests`. */
export function rootDigest(size: number | bigint, peakDigests: readonly Uint8Array[]): Uint8Array {
  const len = 8 + DIGEST_BYTES * peakDigests.length;
  ensureScratch(len);
  writePosition(size);
  let off = 8;
  for (const d of peakDigests) {
    scratch.set(d, off);
    off += DIGEST_BYTES;
  }
  return sha256(scratch.subarray(0, len));
}
