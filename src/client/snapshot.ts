/**
 * The data of the last completed sync, readable while the client keeps syncing: every live key
 * and its value at the synced target, copied out of the database when a sync completes (the
 * local directory is rewritten by the next sync, so reads cannot follow it). Compact: keys and
 * values packed in one buffer (64 bytes a key) plus a hash table of row numbers (8 bytes a key at
 * most), about 72 bytes per live key in all (measured at 1 million keys).
 */
import { equalBytes } from "../codec";
import type { DbKindName } from "../qmdb";
import type { SyncTarget } from "../sync";

const KEY_BYTES = 32;
const ROW_BYTES = 2 * KEY_BYTES;
/** Entries copied between two yields to the event loop while a snapshot is built. */
const ENTRIES_PER_YIELD = 16_384;

/** `get`/`entries` were called before a sync completed (or with snapshots turned off). */
export class NotSyncedError extends Error {
  override name = "NotSyncedError";
}

// The first 8 bytes of a key, mixed (keys are usually digests, but need not be).
function slotHash(key: Uint8Array, offset: number): number {
  let h = ((key[offset]! << 24) | (key[offset + 1]! << 16) | (key[offset + 2]! << 8) | key[offset + 3]!) >>> 0;
  h ^= ((key[offset + 4]! << 24) | (key[offset + 5]! << 16) | (key[offset + 6]! << 8) | key[offset + 7]!) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** An iterable of `[key, value]` pairs usable with both `for … of` and `for await … of`. */
export interface EntryIterable extends Iterable<[key: Uint8Array, value: Uint8Array]>, AsyncIterable<[key: Uint8Array, value: Uint8Array]> {}

/** An immutable copy of the live keys and values at one synced target. */
export class SyncedSnapshot {
  private constructor(
    /** The database kind. */
    readonly kind: DbKindName,
    /** The target the sync reached: the snapshot is the database at `target.upperBound` operations. */
    readonly target: SyncTarget,
    private readonly rows: Uint8Array,
    private readonly slots: Uint32Array,
    /** Number of live keys. */
    readonly size: number,
  ) {}

  /** Op count of the synced database. */
  get opCount(): bigint {
    return this.target.upperBound;
  }

  /** Root of the synced database (equals the target's root). */
  get root(): Uint8Array {
    return this.target.root;
  }

  /**
   * Copies `entries` (live keys and values of the database synced to `target`), yielding to the
   * event loop every few thousand entries.
   */
  static async build(kind: DbKindName, target: SyncTarget, count: number, entries: Iterable<[Uint8Array, Uint8Array]>): Promise<SyncedSnapshot> {
    const rows = new Uint8Array(count * ROW_BYTES);
    let capacity = 16;
    while (capacity < count * 2) capacity *= 2;
    const slots = new Uint32Array(capacity); // row + 1; 0 = empty
    const mask = capacity - 1;
    let n = 0;
    for (const [key, value] of entries) {
      if (n === count) throw new RangeError(`the database listed more than its ${count} live keys`);
      if (key.length !== KEY_BYTES || value.length !== KEY_BYTES) throw new RangeError("keys and values must be 32 bytes");
      rows.set(key, n * ROW_BYTES);
      rows.set(value, n * ROW_BYTES + KEY_BYTES);
      let i = slotHash(key, 0) & mask;
      while (slots[i] !== 0) i = (i + 1) & mask;
      slots[i] = ++n;
      if (n % ENTRIES_PER_YIELD === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    if (n !== count) throw new RangeError(`the database listed ${n} live keys, expected ${count}`);
    return new SyncedSnapshot(kind, target, rows, slots, n);
  }

  /** The value of `key` at the synced target (for `immutable`, the value set), or undefined. */
  get(key: Uint8Array): Uint8Array | undefined {
    if (key.length !== KEY_BYTES) return undefined;
    const mask = this.slots.length - 1;
    for (let i = slotHash(key, 0) & mask; this.slots[i] !== 0; i = (i + 1) & mask) {
      const at = (this.slots[i]! - 1) * ROW_BYTES;
      if (equalBytes(this.rows.subarray(at, at + KEY_BYTES), key)) return this.rows.slice(at + KEY_BYTES, at + ROW_BYTES);
    }
    return undefined;
  }

  /** Whether `key` is live at the synced target. */
  has(key: Uint8Array): boolean {
    return this.get(key) !== undefined;
  }

  /** Every live key and its value, in log order (copies). Iterable with `for … of` and `for await … of`. */
  entries(): EntryIterable {
    const rows = this.rows;
    const size = this.size;
    function* pairs(): Generator<[Uint8Array, Uint8Array]> {
      for (let r = 0; r < size; r++) yield [rows.slice(r * ROW_BYTES, r * ROW_BYTES + KEY_BYTES), rows.slice(r * ROW_BYTES + KEY_BYTES, (r + 1) * ROW_BYTES)];
    }
    return {
      [Symbol.iterator]: pairs,
      async *[Symbol.asyncIterator]() {
        yield* pairs();
      },
    };
  }

  /** Same as `entries()`. */
  [Symbol.iterator](): Iterator<[Uint8Array, Uint8Array]> {
    return this.entries()[Symbol.iterator]();
  }
}
