/**
 * Range proofs: which node digests prove that a run of consecutive leaves `[start, end)` sits in
 * an MMR of a given size, and how to gather them from any node store. Digest order follows
 * commonware: first the peaks of mountains holding no range leaf (left to right), then the
 * siblings needed to rebuild the other peaks, by decreasing parent position.
 */
import { decode, Reader, varintSize, Writer } from "../codec";
import { MmrError } from "./errors";
import { DIGEST_BYTES } from "./sha256";
import { type Location, type Position, checkMmrSize, locationToPosition, MAX_LOCATION, pathToLeaf, peaks, toSafeNumber } from "./position";

/** An MMR range proof: the node count it is against and the digests that complete it. */
export interface Proof {
  /** Size (node count, not leaf count) of the MMR the proof is against. */
  readonly size: Position;
  /** Peak and sibling digests, 32 bytes each, in commonware order. */
  readonly digests: readonly Uint8Array[];
}

/** Read access to an MMR's nodes, for proof generation. */
export interface NodeSource {
  /** Current size (node count). */
  readonly size: number;
  /** Digest of the node at `pos`, or undefined when it is pruned (and not pinned). */
  getNode(pos: number): Uint8Array | undefined;
}

/**
 * Positions of the digests a proof of leaves `[start, end)` in an MMR of `size` nodes contains, in
 * proof order. Errors (in this order): `InvalidSize`, `Empty` (start ≥ end), `LocationOverflow`,
 * `RangeOutOfBounds` (the last leaf is beyond the MMR).
 */
export function nodesRequiredForRangeProof(size: Position, start: Location, end: Location): Position[] {
  checkMmrSize(size);
  if (start >= end) throw new MmrError("Empty", `empty range [${start}, ${end})`);
  if (start > MAX_LOCATION || end - 1n > MAX_LOCATION) {
    throw new MmrError("LocationOverflow", `range [${start}, ${end}) exceeds MAX_LOCATION`);
  }
  const s = locationToPosition(start);
  const e = locationToPosition(end - 1n);
  if (e >= size) throw new MmrError("RangeOutOfBounds", `range end ${end} is beyond the MMR of size ${size}`);

  const positions: Position[] = [];
  let startPeak: { pos: Position; height: number } | undefined;
  let endPeak: { pos: Position; height: number } | undefined;
  for (const peak of peaks(size)) {
    if (startPeak === undefined && peak.pos >= s) startPeak = peak;
    if (startPeak === undefined || endPeak !== undefined) {
      positions.push(peak.pos); // a mountain left of the start or right of the end
    } else if (peak.pos >= e) {
      endPeak = peak;
    } // else: a mountain between start and end, fully covered by the range
  }
  // startPeak and endPeak exist because s ≤ e < size.
  const sp = startPeak!;
  const ep = endPeak!;
  if (s === e) {
    for (const [, sibling] of pathToLeaf(s, sp.pos, sp.height)) positions.push(sibling);
    return positions;
  }
  const siblings: Array<[Position, Position]> = [];
  for (const pair of pathToLeaf(e, ep.pos, ep.height)) if (pair[0] === pair[1] + 1n) siblings.push(pair);
  for (const pair of pathToLeaf(s, sp.pos, sp.height)) if (pair[0] !== pair[1] + 1n) siblings.push(pair);
  if (sp.pos === ep.pos) siblings.sort((a, b) => (a[0] > b[0] ? -1 : a[0] < b[0] ? 1 : 0));
  for (const [, sibling] of siblings) positions.push(sibling);
  return positions;
}

/**
 * A proof of leaves `[start, end)` against the MMR as it was at `size` nodes (a historical proof
 * when `size` is below the source's current size). Node digests never change once written, so
 * the current store serves any earlier size. Throws `ElementPruned` if a needed node is gone.
 */
export function buildRangeProof(source: NodeSource, size: Position, start: Location, end: Location): Proof {
  if (size > BigInt(source.size)) {
    throw new MmrError("RangeOutOfBounds", `historical size ${size} exceeds the current size ${source.size}`);
  }
  const positions = nodesRequiredForRangeProof(size, start, end);
  const digests = positions.map((p) => {
    const d = source.getNode(toSafeNumber(p, "position"));
    if (d === undefined) throw new MmrError("ElementPruned", `node at position ${p} is pruned`);
    return d;
  });
  return { size, digests };
}

/** Encodes a proof as commonware does: `varint(size) ‖ varint(count) ‖ digests`. */
export function encodeProof(proof: Proof): Uint8Array {
  const w = new Writer(varintSize(proof.size) + varintSize(proof.digests.length) + DIGEST_BYTES * proof.digests.length);
  w.varintU64(proof.size).length(proof.digests.length);
  for (const d of proof.digests) {
    if (d.length !== DIGEST_BYTES) throw new MmrError("InvalidInput", `digest of ${d.length} bytes in proof`);
    w.bytes(d);
  }
  return w.finish();
}

/** Reads a proof, allowing at most `maxDigests` digests (checked before anything is allocated). */
export function readProof(r: Reader, maxDigests: number): Proof {
  const size = r.varintU64();
  const digests = r.vec(maxDigests, (rr) => rr.fixed(DIGEST_BYTES), DIGEST_BYTES);
  return { size, digests };
}

/**
 * Decodes a whole buffer as a proof. Strict: truncation, trailing bytes, non-canonical varints and
 * more than `maxDigests` digests are `CodecError`s. The size is not checked here; verification
 * rejects invalid sizes.
 */
export function decodeProof(bytes: Uint8Array, maxDigests: number): Proof {
  return decode(bytes, (r) => readProof(r, maxDigests));
}
