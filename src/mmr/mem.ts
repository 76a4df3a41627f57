/**
 * An in-memory MMR. Holds the digests of positions `[prunedToPos, size)` plus the pinned digests
 * of pruned nodes that are still needed (the peaks left of the prune boundary), so the root,
 * appends and proofs for every retained leaf keep working after pruning. Nothing is persisted.
 */
import { DigestList } from "./digest-list";
import { DIGEST_BYTES } from "./sha256";
import { MmrError } from "./errors";
import { leafDigest, leafDigestInto, nodeDigest, nodeDigestInto, rootDigest } from "./hasher";
import { type NodeSource, type Proof, buildRangeProof } from "./proof";
import { type Location, type Position, checkMmrSize, isMmrSize, leafCount, locationToPosition, nodesToPin, pathToLeaf, peaks, toSafeNumber } from "./position";

/** Components from which an MMR can be rebuilt without rehashing. */
export interface MemMmrComponents {
  /** Digests of positions `[prunedToPos, prunedToPos + nodes.length)`. */
  readonly nodes?: readonly Uint8Array[];
  /** Prune boundary: every position below it is pruned. */
  readonly prunedToPos?: number;
  /** Digests of `nodesToPin(prunedToPos)`, in that order. */
  readonly pinnedNodes?: readonly Uint8Array[];
}

// Digests are hashed here, then copied into the node list: no allocation per node.
const SCRATCH = new Uint8Array(DIGEST_BYTES);

// Trailing 1 bits of a safe non-negative integer (beyond 32 bits, so no bitwise operators).
function trailingOnesNumber(x: number): number {
  let n = 0;
  while (x % 2 === 1) {
    n++;
    x = (x - 1) / 2;
  }
  return n;
}

/** An in-memory Merkle Mountain Range over the standard SHA-256 hasher. */
export class MemMmr implements NodeSource {
  private readonly nodes = new DigestList();
  private pinned = new Map<number, Uint8Array>();
  private pruned = 0;
  private leafTotal = 0;
  private cachedRoot: Uint8Array | undefined = undefined;

  /**
   * Rebuilds an MMR from its components. Throws `InvalidSize` if the resulting size is not a valid
   * MMR size and `InvalidPinnedNodes` if the pins do not match `nodesToPin(prunedToPos)`.
   */
  static fromComponents(components: MemMmrComponents): MemMmr {
    const mmr = new MemMmr();
    const prunedToPos = components.prunedToPos ?? 0;
    const nodes = components.nodes ?? [];
    const pins = components.pinnedNodes ?? [];
    const size = BigInt(prunedToPos + nodes.length);
    checkMmrSize(size);
    const pinPositions = nodesToPin(BigInt(prunedToPos));
    if (pinPositions.length !== pins.length) {
      throw new MmrError("InvalidPinnedNodes", `expected ${pinPositions.length} pinned nodes for boundary ${prunedToPos}, got ${pins.length}`);
    }
    pinPositions.forEach((p, i) => mmr.pinned.set(Number(p), Uint8Array.from(pins[i]!)));
    mmr.pruned = prunedToPos;
    for (const d of nodes) mmr.nodes.push(d);
    mmr.leafTotal = Number(leafCount(size));
    return mmr;
  }

  /** Number of nodes, pruned ones included. */
  get size(): number {
    return this.pruned + this.nodes.length;
  }

  /** Number of leaves (elements) ever added. */
  get leaves(): number {
    return this.leafTotal;
  }

  /** Every position below this is pruned. */
  get prunedToPos(): number {
    return this.pruned;
  }

  /** Digest at `pos`, from the retained nodes or the pinned ones; undefined if unavailable. */
  getNode(pos: number): Uint8Array | undefined {
    if (pos >= this.pruned) return pos < this.size ? this.nodes.get(pos - this.pruned) : undefined;
    return this.pinned.get(pos);
  }

  /**
   * Calls `visit` with the digests of positions `[from, to)` (all retained: `from` at or above the
   * prune boundary) packed back to back, in one or more views.
   */
  forEachNodeRange(from: number, to: number, visit: (flat: Uint8Array) => void): void {
    if (from < this.pruned || to > this.size)
      throw new MmrError("InvalidInput", `nodes [${from}, ${to}) are not all retained (retained: [${this.pruned}, ${this.size}))`);
    this.nodes.forEachRange(from - this.pruned, to - this.pruned, visit);
  }

  /** Appends an element (hashed as a leaf) and returns the leaf's position. */
  add(element: Uint8Array): number {
    leafDigestInto(this.size, element, SCRATCH, 0);
    return this.addLeafDigest(SCRATCH);
  }

  /** Appends an already-hashed leaf digest (e.g. one recovered from disk) and its new parents. */
  addLeafDigest(digest: Uint8Array): number {
    const pos = this.size;
    this.nodes.push(digest);
    let size = pos + 1;
    let twoH = 2;
    for (let merges = trailingOnesNumber(this.leafTotal); merges > 0; merges--, twoH *= 2) {
      const left = this.getNode(size - twoH)!;
      const right = this.getNode(size - 1)!;
      nodeDigestInto(size, left, right, SCRATCH, 0);
      this.nodes.push(SCRATCH);
      size++;
    }
    this.leafTotal++;
    this.cachedRoot = undefined;
    return pos;
  }

  /**
   * Appends node digests computed elsewhere (e.g. by verifying a range proof that starts at the
   * current size), 32 bytes each back to back. The caller vouches for them; the resulting size
   * must be a valid MMR size.
   */
  appendNodes(digests: Uint8Array): void {
    if (digests.length % DIGEST_BYTES !== 0) throw new MmrError("InvalidInput", `${digests.length} bytes is not a whole number of digests`);
    const newSize = BigInt(this.size + digests.length / DIGEST_BYTES);
    checkMmrSize(newSize);
    this.nodes.pushAll(digests);
    this.leafTotal = Number(leafCount(newSize));
    this.cachedRoot = undefined;
  }

  /**
   * Replaces the element of the leaf at `loc` and recomputes its ancestors up to its peak. Throws
   * `LeafOutOfBounds` or `ElementPruned`.
   */
  updateLeaf(loc: Location, element: Uint8Array): void {
    if (loc < 0n || loc >= BigInt(this.leafTotal)) throw new MmrError("LeafOutOfBounds", `leaf ${loc} ≥ leaf count ${this.leafTotal}`);
    const leafPos = locationToPosition(loc);
    if (leafPos < BigInt(this.pruned)) throw new MmrError("ElementPruned", `leaf ${loc} is pruned`);
    const peak = peaks(BigInt(this.size)).find((p) => p.pos >= leafPos)!;
    const path = pathToLeaf(leafPos, peak.pos, peak.height).reverse(); // bottom-up
    let pos = Number(leafPos);
    let digest = leafDigest(pos, element);
    this.setNode(pos, digest);
    for (const [parent, sibling] of path) {
      const p = Number(parent);
      const sib = this.getNode(Number(sibling))!;
      digest = parent === sibling + 1n ? nodeDigest(p, digest, sib) : nodeDigest(p, sib, digest);
      this.setNode(p, digest);
      pos = p;
    }
    this.cachedRoot = undefined;
  }

  private setNode(pos: number, digest: Uint8Array): void {
    this.nodes.get(pos - this.pruned).set(digest);
  }

  /** Digests of the current peaks, left to right. */
  peakDigests(): Uint8Array[] {
    return peaks(BigInt(this.size)).map((p) => this.getNode(Number(p.pos))!);
  }

  /** The root: `H(be64(size) ‖ peaks)`. */
  root(): Uint8Array {
    this.cachedRoot ??= rootDigest(this.size, this.peakDigests());
    return this.cachedRoot;
  }

  /** Removes the last leaf (and its parents). Throws `Empty` or `ElementPruned`. */
  pop(): void {
    if (this.size === 0) throw new MmrError("Empty", "cannot pop from an empty MMR");
    let newSize = this.size - 1;
    while (!isMmrSize(BigInt(newSize))) newSize--;
    if (newSize < this.pruned) throw new MmrError("ElementPruned", `popping would cross the prune boundary ${this.pruned}`);
    this.nodes.truncate(newSize - this.pruned);
    this.leafTotal--;
    this.cachedRoot = undefined;
  }

  /**
   * Prunes every node below `pos`, pinning the ones still needed. The root is unchanged and every
   * leaf at or after `pos` stays provable. Requires `prunedToPos ≤ pos ≤ size`.
   */
  pruneToPos(pos: number): void {
    if (pos < this.pruned || pos > this.size) {
      throw new MmrError("InvalidInput", `prune position ${pos} outside [${this.pruned}, ${this.size}]`);
    }
    const pins = new Map<number, Uint8Array>();
    for (const p of nodesToPin(BigInt(pos))) {
      const n = Number(p);
      pins.set(n, Uint8Array.from(this.getNode(n)!));
    }
    this.nodes.dropFront(pos - this.pruned);
    this.pinned = pins;
    this.pruned = pos;
  }

  /** Prunes every node. */
  pruneAll(): void {
    this.pruneToPos(this.size);
  }

  /** Proof of leaves `[start, end)` against the current root. */
  rangeProof(start: Location, end: Location): Proof {
    return buildRangeProof(this, BigInt(this.size), start, end);
  }

  /** Proof of leaves `[start, end)` against the root the MMR had at `size` nodes. */
  historicalRangeProof(size: Position, start: Location, end: Location): Proof {
    toSafeNumber(size, "historical size");
    return buildRangeProof(this, size, start, end);
  }
}
