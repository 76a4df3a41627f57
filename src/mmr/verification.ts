/**
 * Range-proof verification. Rebuilds the peaks of every mountain that holds range leaves from the
 * elements and the proof's sibling digests, then compares `H(be64(size) ‖ peaks)` with the root.
 * Accepts and rejects exactly the proofs commonware 85d7d8f1fb does (including its two
 * independent digest cursors). While verifying it keeps every node it rebuilt, so a client can
 * adopt them instead of hashing the same operations again.
 */
import { equalBytes, toHex } from "../codec";
import { MmrError } from "./errors";
import { leafDigestsAt, nodeDigest, nodeDigestInto, rootDigest } from "./hasher";
import { DIGEST_BYTES, sha256Nodes } from "./sha256";
import { type Proof, nodesRequiredForRangeProof } from "./proof";
import { type Location, type Position, isMmrSize, locationToPosition, MAX_LOCATION, mmrSize, nodesToPin, peaks, trailingOnes } from "./position";

/** What a successful verification yields besides "valid". */
export interface VerifiedRange {
  /** Position of the first range leaf (`locationToPosition(startLoc)`). */
  readonly startPos: Position;
  /**
   * Digests (32 bytes each, back to back) of every node at positions
   * `[startPos, mmrSize(startLoc + n))`, in position order: exactly the nodes an MMR of
   * `startPos` nodes gains by appending the n elements.
   */
  readonly nodes: Uint8Array;
}

function invalid(message: string): MmrError {
  return new MmrError("InvalidProof", message);
}

/**
 * Hashes every node whose leaves all lie in the range `[startLoc, startLoc + n)` into `nodes`
 * (slot r = position `s + r`): the nodes an MMR of `s` nodes gains by appending the elements, minus
 * those that also cover leaves left of the range. Leaves go in one batched call, then each height
 * in one call, lowest first, so every child is ready before its parent.
 */
function hashCoveredNodes(elements: readonly Uint8Array[], startLoc: Location, s: Position, nodes: Uint8Array): void {
  const n = elements.length;
  const leafSlots = new Uint32Array(n);
  // bySlot[h − 1] holds the slots of covered nodes of height h; at most n / 2^h of them.
  const bySlot: Uint32Array[] = [];
  const counts: number[] = [];
  for (let h = 1; 2 ** h <= n; h++) {
    bySlot.push(new Uint32Array(Math.floor(n / 2 ** h)));
    counts.push(0);
  }
  const low0 = Number(startLoc & 0xffff_ffffn);
  let slot = 0;
  for (let k = 0; k < n; k++) {
    leafSlots[k] = slot;
    // Appending leaf startLoc + k merges once per trailing 1 bit of its location; the merge at
    // height h covers leaves [startLoc + k + 1 − 2^h, startLoc + k], inside the range iff k + 1 ≥ 2^h.
    // Trailing 1 bits of the location from its low 32 bits ((low + 1) & ~low isolates the lowest
    // 0 bit); only when those are all ones does the bigint location matter.
    const low = (low0 + k) >>> 0;
    const merges = low === 0xffff_ffff ? 32 + trailingOnes((startLoc + BigInt(k)) >> 32n) : 31 - Math.clz32((low + 1) & ~low);
    for (let h = 1; h <= merges && 2 ** h <= k + 1; h++) bySlot[h - 1]![counts[h - 1]!++] = slot + h;
    slot += 1 + merges;
  }
  leafDigestsAt(s, leafSlots, elements, nodes);
  for (let h = 1; h <= bySlot.length; h++) sha256Nodes(nodes, bySlot[h - 1]!.subarray(0, counts[h - 1]!), h, s);
}

/** Rebuilds the root a proof implies for `elements` at `startLoc`, and the nodes it recomputed. */
function reconstruct(proof: Proof, elements: readonly Uint8Array[], startLoc: Location): { root: Uint8Array; range: VerifiedRange } {
  const { size, digests } = proof;
  if (!isMmrSize(size)) throw invalid(`proof size ${size} is not a valid MMR size`);
  const n = elements.length;
  if (n === 0) {
    if (startLoc !== 0n) throw invalid(`no elements at start location ${startLoc}`);
    return { root: rootDigest(size, []), range: { startPos: 0n, nodes: new Uint8Array(0) } };
  }
  if (startLoc < 0n || startLoc + BigInt(n) - 1n > MAX_LOCATION) {
    throw invalid(`range [${startLoc}, ${startLoc + BigInt(n)}) exceeds MAX_LOCATION`);
  }
  const s = locationToPosition(startLoc);
  const e = n === 1 ? s : locationToPosition(startLoc + BigInt(n) - 1n);
  if (e >= size) throw invalid(`range ends at position ${e}, beyond proof size ${size}`);
  const sizeEnd = mmrSize(startLoc + BigInt(n));
  // Every rebuilt node below `sizeEnd` lands in one flat buffer (32 bytes each, by position − s):
  // no allocation per hash.
  const nodes = new Uint8Array(Number(sizeEnd - s) * DIGEST_BYTES);

  let front = 0;
  let back = digests.length - 1;
  let usedFront = 0;
  let usedLeaves = 0;

  hashCoveredNodes(elements, startLoc, s, nodes);

  const takeBack = (): Uint8Array => {
    if (back < 0) throw invalid("proof has too few sibling digests");
    return digests[back--]!;
  };

  const rebuild = (pos: Position, height: number): Uint8Array => {
    const twoH = 1n << BigInt(height);
    const leftmost = pos + 2n - 2n * twoH;
    if (leftmost >= s && pos - BigInt(height) <= e) {
      // Fully covered: hashed above.
      usedLeaves += 2 ** height;
      const at = Number(pos - s) * DIGEST_BYTES;
      return nodes.subarray(at, at + DIGEST_BYTES);
    }
    // A partially covered node (height ≥ 1): recurse into the covered side(s) first, then take
    // the missing siblings from the back of the proof.
    const left = pos - twoH;
    const right = pos - 1n;
    let l = left >= s ? rebuild(left, height - 1) : undefined;
    let r = left < e ? rebuild(right, height - 1) : undefined;
    l ??= takeBack();
    r ??= takeBack();
    if (pos < sizeEnd) {
      const at = Number(pos - s) * DIGEST_BYTES;
      nodeDigestInto(pos, l, r, nodes, at);
      return nodes.subarray(at, at + DIGEST_BYTES);
    }
    return nodeDigest(pos, l, r);
  };

  const peakDigests: Uint8Array[] = [];
  for (const peak of peaks(size)) {
    const leftmost = peak.pos + 2n - (2n << BigInt(peak.height));
    if (peak.pos >= s && leftmost <= e) {
      peakDigests.push(rebuild(peak.pos, peak.height));
    } else {
      if (front >= digests.length) throw invalid("proof has too few peak digests");
      peakDigests.push(digests[front++]!);
      usedFront++;
    }
  }
  if (usedLeaves < n) throw invalid(`${n - usedLeaves} elements were not used`);
  // Every digest must be consumed: the back cursor's next digest must be the last peak taken
  // from the front (commonware compares values, not indices).
  if (back >= 0 && (usedFront === 0 || !equalBytes(digests[back]!, digests[usedFront - 1]!))) {
    throw invalid("proof has unused digests");
  }
  return { root: rootDigest(size, peakDigests), range: { startPos: s, nodes } };
}

/** The root implied by a proof for `elements` at `startLoc`. Throws `InvalidProof` if malformed. */
export function reconstructRoot(proof: Proof, elements: readonly Uint8Array[], startLoc: Location): Uint8Array {
  return reconstruct(proof, elements, startLoc).root;
}

/** Whether `proof` shows that `elements` sit at `[startLoc, startLoc + n)` under `root`. */
export function verifyRangeInclusion(proof: Proof, elements: readonly Uint8Array[], startLoc: Location, root: Uint8Array): boolean {
  try {
    return equalBytes(reconstruct(proof, elements, startLoc).root, root);
  } catch (err) {
    if (err instanceof MmrError) return false;
    throw err;
  }
}

/**
 * Verifies like `verifyRangeInclusion` and returns the nodes rebuilt on the way. Throws
 * `InvalidProof` for a malformed proof and `RootMismatch` (with both roots) for a wrong one.
 */
export function verifyRangeAndCollect(proof: Proof, elements: readonly Uint8Array[], startLoc: Location, root: Uint8Array): VerifiedRange {
  let result;
  try {
    result = reconstruct(proof, elements, startLoc);
  } catch (err) {
    if (err instanceof MmrError && err.kind !== "InvalidProof") throw new MmrError("InvalidProof", err.message, { cause: err });
    throw err;
  }
  if (!equalBytes(result.root, root)) {
    throw new MmrError("RootMismatch", `proof implies root ${toHex(result.root)}, expected ${toHex(root)}`);
  }
  return result.range;
}

/**
 * The pinned nodes for pruning boundary `locationToPosition(start)` (the peaks left of the first
 * range leaf), taken from a proof of `[start, end)`. Does not verify the proof: verify it first.
 */
export function extractPinnedNodes(proof: Proof, start: Location, end: Location): Uint8Array[] {
  const pins = nodesToPin(locationToPosition(start));
  const required = nodesRequiredForRangeProof(proof.size, start, end);
  if (required.length !== proof.digests.length) {
    throw new MmrError("InvalidProofLength", `proof has ${proof.digests.length} digests, expected ${required.length}`);
  }
  const index = new Map<Position, number>();
  required.forEach((p, i) => index.set(p, i));
  return pins.map((p) => {
    const i = index.get(p);
    if (i === undefined) throw new MmrError("MissingDigest", `proof lacks pinned node ${p}`);
    return proof.digests[i]!;
  });
}
