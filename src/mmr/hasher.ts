/**
 * The "standard" MMR hasher (commonware `Standard<Sha256>`):
 *   leaf  = SHA256(be64(pos) ‖ element)
 *   node  = SHA256(be64(pos) ‖ left ‖ right)
 *   root  = SHA256(be64(size) ‖ peak_1 ‖ … ‖ peak_k)   (peaks left to right)
 * Positions are written as 8 big-endian bytes. Inputs are assembled directly in the hash
 * module's input buffer (no concatenation); the `…Into` forms write the digest into a caller's
 * buffer, the others return a fresh 32-byte array. `leafDigestsAt` hashes many leaves in one batched
 * call (`sha256Many`) into a flat digest buffer; `sha256Nodes` does the same for the nodes of one
 * height.
 */
import { DIGEST_BYTES, hashInputInto, inputBuffer, sha256Many, splitPosition, writePositionAt } from "./sha256";

function writePosition(buf: Uint8Array, pos: number | bigint): void {
  const [hi, lo] = splitPosition(pos);
  writePositionAt(buf, 0, hi, lo);
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

// Scratch for `leafDigestsAt`, reused between calls and grown as needed: the hash inputs back to
// back, their boundaries, and the digests before they are scattered to their slots.
let batchInput = new Uint8Array(0);
let batchOffsets = new Uint32Array(0);
let batchDigests = new Uint8Array(0);

function batchScratch(inputBytes: number, count: number): void {
  if (batchInput.length < inputBytes) batchInput = new Uint8Array(Math.max(inputBytes, 2 * batchInput.length));
  if (batchOffsets.length < count + 1) batchOffsets = new Uint32Array(Math.max(count + 1, 2 * batchOffsets.length));
  if (batchDigests.length < count * DIGEST_BYTES) batchDigests = new Uint8Array(Math.max(count * DIGEST_BYTES, 2 * batchDigests.length));
}

function copyDigest(src: Uint8Array, from: number, dst: Uint8Array, to: number): void {
  for (let i = 0; i < DIGEST_BYTES; i++) dst[to + i] = src[from + i]!;
}

/**
 * Batched `leafDigestInto` over a flat digest buffer whose slot r (bytes `[32 r, 32 r + 32)`) holds
 * the node at position `base + r`: leaf i holds `elements[i]` at position `base + slots[i]` and its
 * digest goes to slot `slots[i]`. All leaves are hashed in one `sha256Many` call.
 */
export function leafDigestsAt(base: number | bigint, slots: Uint32Array, elements: readonly Uint8Array[], digests: Uint8Array): void {
  const n = elements.length;
  if (slots.length < n) throw new RangeError(`${n} leaves but ${slots.length} slots`);
  let bytes = 0;
  for (let i = 0; i < n; i++) bytes += 8 + elements[i]!.length;
  batchScratch(bytes, n);
  const [hi, lo] = splitPosition(base);
  const input = batchInput;
  const offsets = batchOffsets;
  let at = 0;
  offsets[0] = 0;
  for (let i = 0; i < n; i++) {
    const element = elements[i]!;
    const slot = slots[i]!;
    if ((slot + 1) * DIGEST_BYTES > digests.length) throw new RangeError(`leaf slot ${slot} outside the digest buffer`);
    writePositionAt(input, at, hi, lo + slot);
    input.set(element, at + 8);
    at += 8 + element.length;
    offsets[i + 1] = at;
  }
  sha256Many(input.subarray(0, at), offsets.subarray(0, n + 1), batchDigests.subarray(0, n * DIGEST_BYTES));
  for (let i = 0; i < n; i++) copyDigest(batchDigests, i * DIGEST_BYTES, digests, slots[i]! * DIGEST_BYTES);
}
