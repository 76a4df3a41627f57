/**
 * The data of the last completed sync, readable while the client keeps syncing: every live key
 * and its value at the synced target, copied out of the database when a sync completes (the
 * local directory is rewritten by the next sync, so reads cannot follow it). Compact: keys and
 * values packed in one buffer (64 bytes a key) plus a hash table of row numbers sized for exactly
 * that many keys (4 bytes a slot, 3/4 of them used: about 5.3 bytes a key), about 70 bytes per
 * live key in all.
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
function slotHash(key: Uint8Array): number {
  let h = ((key[0]! << 24) | (key[1]! << 16) | (key[2]! << 8) | key[3]!) >>> 0;
  h ^= ((key[4]! << 24) | (key[5]! << 16) | (key[6]! << 8) | key[7]!) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

// The home slot of `key` in a table of `capacity` slots: ⌊hash · capacity / 2^32⌋, exactly.
function homeSlot(key: Uint8Array, capacity: number): number {
  const h = slotHash(key);
  return Math.floor(((h >>> 16) * capacity + Math.floor(((h & 0xffff) * capacity) / 65536)) / 65536);
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
    // At most 3/4 of the slots are used (linear probing slows down sharply beyond).
    const capacity = Math.max(16, Math.floor((count * 4) / 3) + 1);
    const slots = new Uint32Array(capacity); // row + 1; 0 = empty
    let n = 0;
    for (const [key, value] of entries) {
      if (n === count) throw new RangeError(`the database listed more than its ${count} live keys`);
      if (key.length !== KEY_BYTES || value.length !== KEY_BYTES) throw new RangeError("keys and values must be 32 bytes");
      rows.set(key, n * ROW_BYTES);
      rows.set(value, n * ROW_BYTES + KEY_BYTES);
      let i = homeSlot(key, capacity);
      while (slots[i] !== 0) i = i + 1 === capacity ? 0 : i + 1;
      slots[i] = ++n;
      if (n % ENTRIES_PER_YIELD === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    if (n !== count) throw new RangeError(`the database listed ${n} live keys, expected ${count}`);
    return new SyncedSnapshot(kind, target, rows, slots, n);
  }

  /** The value of `key` at the synced target (for `immutable`, the value set), or undefined. */
  get(key: Uint8Array): Uint8Array | undefined {
    if (key.length !== KEY_BYTES) return undefined;
    const capacity = this.slots.length;
    for (let i = homeSlot(key, capacity); this.slots[i] !== 0; i = i + 1 === capacity ? 0 : i + 1) {
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
