/**
 * Position and location arithmetic for a Merkle Mountain Range.
 * Nodes are numbered in post-order ("positions"); leaves are also numbered in insertion order
 * ("locations"). Everything here is exact `bigint` arithmetic over the full u64 domain: valid up
 * to 2^62 leaves, and untrusted input is checked rather than trusted (no silent rounding).
 */
import { MmrError } from "./errors";

/** A node's 0-based index in post-order; also the size of an MMR (its node count). */
export type Position = bigint;
/** A leaf's 0-based index in insertion order; also an MMR's leaf count. */
export type Location = bigint;

/** Largest valid leaf location: an MMR holds at most 2^62 leaves. */
export const MAX_LOCATION: Location = (1n << 62n) - 1n;
/** Largest position any node can have. */
export const MAX_POSITION: Position = (1n << 63n) - 2n;
const U64_MAX = (1n << 64n) - 1n;

/** Number of significant bits of a non-negative bigint (`bitLength(0) = 0`). */
export function bitLength(x: bigint): number {
  return x === 0n ? 0 : x.toString(2).length;
}

/** Number of 1 bits of a non-negative bigint. */
export function popcount(x: bigint): number {
  let n = 0;
  for (let v = x; v > 0n; v &= v - 1n) n++;
  return n;
}

/** Number of consecutive 1 bits at the low end of a non-negative bigint. */
export function trailingOnes(x: bigint): number {
  let n = 0;
  for (let v = x; (v & 1n) === 1n; v >>= 1n) n++;
  return n;
}

function checkU64(x: bigint, what: string): void {
  if (x < 0n || x > U64_MAX) throw new MmrError("InvalidInput", `${what} ${x} is not a u64`);
}

/** Position of the leaf at `loc`: `2·loc − popcount(loc)`. Throws `LocationOverflow` above MAX_LOCATION. */
export function locationToPosition(loc: Location): Position {
  checkU64(loc, "location");
  if (loc > MAX_LOCATION) throw new MmrError("LocationOverflow", `location ${loc} > MAX_LOCATION`);
  return 2n * loc - BigInt(popcount(loc));
}

/** Size (node count) of an MMR holding `leaves` leaves; equals `locationToPosition(leaves)`. */
export function mmrSize(leaves: Location): Position {
  checkU64(leaves, "leaf count");
  if (leaves > MAX_LOCATION + 1n) throw new MmrError("LocationOverflow", `leaf count ${leaves} > 2^62`);
  return 2n * leaves - BigInt(popcount(leaves));
}

/**
 * Location of the leaf at `pos`. Throws `PositionOverflow` above MAX_POSITION and `NonLeaf` when
 * `pos` is an internal node.
 */
export function positionToLocation(pos: Position): Location {
  checkU64(pos, "position");
  if (pos > MAX_POSITION) throw new MmrError("PositionOverflow", `position ${pos} > MAX_POSITION`);
  if (pos === 0n) return 0n;
  const k = BigInt(bitLength(pos + 1n));
  let twoH = 1n << (k - 1n);
  let node = (1n << k) - 2n;
  let floor = 0n;
  while (twoH > 1n) {
    if (node === pos) throw new MmrError("NonLeaf", `position ${pos} is not a leaf`);
    const left = node - twoH;
    twoH >>= 1n;
    if (pos > left) {
      floor += twoH;
      node -= 1n;
    } else {
      node = left;
    }
  }
  return floor;
}

/** Whether `size` is the node count of some MMR (equivalently, whether it is a leaf position). */
export function isMmrSize(size: Position): boolean {
  if (size === 0n) return true;
  if (size < 0n || size > MAX_POSITION + 1n) return false;
  const k = BigInt(bitLength(size));
  let twoH = 1n << k;
  let node = twoH - 2n;
  while (twoH > 1n) {
    if (node < size) {
      if (twoH === 2n) return node === size - 1n;
      node += twoH - 1n;
      if (node < size) return false;
      continue;
    }
    twoH >>= 1n;
    node -= twoH;
  }
  return true;
}

/** Throws `InvalidSize` unless `size` is a valid MMR size. */
export function checkMmrSize(size: Position): void {
  if (!isMmrSize(size)) throw new MmrError("InvalidSize", `${size} is not a valid MMR size`);
}

/** Leaf count of an MMR with `size` nodes (throws `InvalidSize` for an invalid size). */
export function leafCount(size: Position): Location {
  checkMmrSize(size);
  return positionToLocation(size);
}

/** A peak of an MMR: its position and height (0 for a leaf). */
export interface Peak {
  readonly pos: Position;
  readonly height: number;
}

/**
 * The peaks of an MMR of `size` nodes, tallest (leftmost) first. Throws `InvalidSize` for an
 * invalid size rather than looping or returning a wrong answer.
 */
export function peaks(size: Position): Peak[] {
  checkMmrSize(size);
  const out: Peak[] = [];
  if (size === 0n) return out;
  let height = bitLength(size);
  let twoH = 1n << BigInt(height);
  let node = twoH - 2n;
  while (twoH > 1n) {
    if (node < size) {
      out.push({ pos: node, height: height - 1 });
      node += twoH - 1n;
    } else {
      twoH >>= 1n;
      height -= 1;
      node -= twoH;
    }
  }
  return out;
}

/** The largest valid MMR size `≤ x`. Throws `PositionOverflow` above MAX_POSITION. */
export function toNearestSize(x: Position): Position {
  checkU64(x, "size");
  if (x > MAX_POSITION) throw new MmrError("PositionOverflow", `position ${x} > MAX_POSITION`);
  // Largest n with mmrSize(n) ≤ x; mmrSize is monotonic, so binary search over n.
  let lo = 0n;
  let hi = x / 2n + 64n; // 2n − popcount(n) ≤ x implies n ≤ (x + 64) / 2
  while (lo < hi) {
    const mid = (lo + hi + 1n) >> 1n;
    if (2n * mid - BigInt(popcount(mid)) <= x) lo = mid;
    else hi = mid - 1n;
  }
  return 2n * lo - BigInt(popcount(lo));
}

/**
 * Positions of the pruned nodes still needed once every node below `boundary` is pruned: the
 * peaks of the largest MMR that fits below it, left to right.
 */
export function nodesToPin(boundary: Position): Position[] {
  return peaks(toNearestSize(boundary)).map((p) => p.pos);
}

/**
 * The `(parent, sibling)` pairs on the path from the peak at `peakPos` (of `height`) down to the
 * leaf at `leafPos`, top-down. The sibling is a right child exactly when `parent === sibling + 1`.
 */
export function pathToLeaf(leafPos: Position, peakPos: Position, height: number): Array<[Position, Position]> {
  const out: Array<[Position, Position]> = [];
  let node = peakPos;
  let twoH = 1n << BigInt(height);
  while (twoH > 1n) {
    const left = node - twoH;
    const right = node - 1n;
    twoH >>= 1n;
    if (left < leafPos) {
      out.push([node, left]);
      node = right;
    } else {
      out.push([node, right]);
      node = left;
    }
  }
  return out;
}

/**
 * Converts a u64 that must index real storage to a `number`, throwing instead of rounding when
 * it exceeds 2^53 − 1.
 */
export function toSafeNumber(x: bigint, what: string): number {
  if (x < 0n || x > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new MmrError("InvalidInput", `${what} ${x} is outside the supported range [0, 2^53)`);
  }
  return Number(x);
}
