/**
 * Contiguous journal: an append-only log whose items are addressed by *position*, their 0-based
 * insertion index, which pruning never changes (commonware's `Contiguous` traits, merged).
 * Invariant: `pruningBoundary ≤ size`; positions in `[pruningBoundary, size)` are readable.
 * Durability: `append` buffers; `commit`/`sync` make earlier appends survive a crash (`sync` also
 * spares recovery work on the next open). Each implementation documents its own byte format.
 */
import { JournalError, requireIndex } from "./errors";
import { pruned } from "./framing";

/** Called once per item by `replay`; `item` is only valid during the call. Return `false` to stop. */
export type ReplayVisitor = (pos: number, item: Uint8Array) => boolean | void;

export interface Contiguous {
  /** Number of items ever appended (minus rewound ones); the next `append` gets this position. */
  readonly size: number;
  /** First readable position, or `undefined` when nothing is retained. */
  readonly oldestRetainedPos: number | undefined;
  /** Positions below this are pruned (equals `size` when nothing is retained). */
  readonly pruningBoundary: number;
  /** Append a copy of `item`, returning its position (buffered: not durable until `commit`/`sync`). */
  append(item: Uint8Array): number;
  /** The item at `pos` (a fresh copy); `ItemPruned` / `ItemOutOfRange` outside the readable range. */
  read(pos: number): Uint8Array;
  /** Items `[start, start + count)` (fresh copies, possibly views of one buffer), read in as few syscalls as possible. */
  readMany(start: number, count: number): Uint8Array[];
  /** Visit items from `startPos` in order, reading in large chunks; do not mutate the journal meanwhile. */
  replay(startPos: number, visit: ReplayVisitor): void;
  /**
   * Waits while more than `maxBlobs` filled blobs (or sections) still wait for their fsync, whose
   * bytes stay in memory until then: a writer that never syncs calls it to bound that memory.
   */
  waitForBacklog(maxBlobs: number): Promise<void>;
  /** Make all earlier appends durable (the cheapest way). */
  commit(): Promise<void>;
  /** Make all earlier appends durable, leaving nothing for recovery to repair. */
  sync(): Promise<void>;
  /** Drop items at positions `≥ size` (durable after the next `sync`). */
  rewind(size: number): Promise<void>;
  /** The pruning boundary `prune(minPos)` would leave (it removes whole blobs/sections only). */
  prunedBoundary(minPos: number): number;
  /** Remove whole blobs/sections below `minPos`; `true` if anything was removed. */
  prune(minPos: number): Promise<boolean>;
  /** Sync and release the handle. */
  close(): Promise<void>;
  /** Delete everything the journal stored (works on a poisoned handle too). */
  destroy(): Promise<void>;
}

/** The position bookkeeping every contiguous journal exposes: its size and pruning boundary. */
export abstract class ContiguousPositions {
  protected constructor(
    protected _size: number,
    /** First retained position (for the variable journal, a multiple of `itemsPerSection` or the size). */
    protected _pruningBoundary: number,
  ) {}

  /** Number of items ever appended (minus rewound ones); the next `append` gets this position. */
  get size(): number {
    return this._size;
  }

  /** First readable position, or `undefined` when nothing is retained. */
  get oldestRetainedPos(): number | undefined {
    return this._pruningBoundary === this._size ? undefined : this._pruningBoundary;
  }

  /** Items below this position are gone; `size` when nothing is retained. */
  get pruningBoundary(): number {
    return this._pruningBoundary;
  }

  /** Validates `rewind(size)`: `false` when there is nothing to do (already at `size`). */
  protected checkRewind(size: number): boolean {
    requireIndex(size, "size");
    if (size > this._size) {
      throw new JournalError("InvalidRewind", `cannot rewind to ${size}, size is ${this._size}`, { position: size });
    }
    if (size === this._size) return false;
    if (size < this._pruningBoundary) throw pruned(size, this._pruningBoundary);
    return true;
  }
}
