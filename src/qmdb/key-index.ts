/**
 * A compact index from keys to log locations, in the spirit of commonware's `EightCap`
 * translator: only the first 8 bytes of each key are stored, in an open-addressing table of
 * typed arrays (12 bytes a slot, no per-key objects). Several keys may share a prefix, so a lookup
 * confirms a candidate by reading its full key from the log through a caller-given function.
 * Deletion uses backward shifting, so the table never accumulates tombstones.
 *
 * A slot holds the prefix's two halves and `location + 1` (0 = empty) side by side in one
 * `Uint32Array` (a probe touches one cache line, not three); an array for the high part of
 * locations is allocated only once some location reaches 2^32 − 1, so ordinary logs pay 12 bytes a slot and
 * larger ones 16. The capacity is any size (not only powers of two), so a table sized for a known
 * number of keys (`reserve`) holds them at the maximum load without waste.
 */

import { equalBytes } from "../codec";
import { QmdbError } from "./errors";

const MIN_CAPACITY = 16;
const TWO_32 = 2 ** 32;

// At most 3/4 of the slots are used (linear probing slows down sharply beyond).
function capacityFor(keys: number): number {
  return Math.max(MIN_CAPACITY, Math.floor((keys * 4) / 3) + 1);
}

function mix(hi: number, lo: number): number {
  // Keys are usually digests, but need not be: mix both halves so any prefix spreads.
  let h = Math.imul(hi ^ (lo >>> 15), 0x85ebca6b) ^ lo;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

function prefixHi(key: Uint8Array, at = 0): number {
  return ((key[at]! << 24) | (key[at + 1]! << 16) | (key[at + 2]! << 8) | key[at + 3]!) >>> 0;
}

function prefixLo(key: Uint8Array, at = 0): number {
  return ((key[at + 4]! << 24) | (key[at + 5]! << 16) | (key[at + 6]! << 8) | key[at + 7]!) >>> 0;
}

/** Whether `key` holds the bytes `bytes[start, end)`. */
function equalRange(key: Uint8Array, bytes: Uint8Array, start: number, end: number): boolean {
  if (key.length !== end - start) return false;
  for (let i = start; i < end; i++) if (key[i - start] !== bytes[i]) return false;
  return true;
}

/** A multimap from 8-byte key prefixes to locations; full keys are resolved through the log. */
export class KeyIndex {
  // Slot i is [3i, 3i + 3): prefix high half, prefix low half, low 32 bits of `location + 1`
  // (0: empty slot).
  private slots: Uint32Array;
  // High bits of `location + 1`, once a location needs them.
  private locsHi: Uint32Array | undefined = undefined;
  private cap: number;
  private count = 0;

  /** An empty index with room for `expectedKeys` keys before it first grows. */
  constructor(expectedKeys = 0) {
    this.cap = capacityFor(expectedKeys);
    this.slots = new Uint32Array(3 * this.cap);
  }

  /** Number of keys indexed. */
  get size(): number {
    return this.count;
  }

  /** Bytes held by the table's arrays. */
  get byteLength(): number {
    return this.slots.byteLength + (this.locsHi?.byteLength ?? 0);
  }

  /** Makes room for `keys` keys in all (a known final size: no repeated doubling on the way). */
  reserve(keys: number): void {
    const cap = capacityFor(keys);
    if (cap > this.cap) this.rehash(cap);
  }

  /**
   * Location of `key`, or -1. `keyAt(loc)` must return the full key of the operation at `loc`;
   * it is called only for locations whose key shares `key`'s 8-byte prefix.
   */
  get(key: Uint8Array, keyAt: (loc: number) => Uint8Array): number {
    const slot = this.findSlot(key, keyAt);
    return slot < 0 ? -1 : this.locAt(slot);
  }

  /** Whether `key` is indexed at exactly `loc` (no log read needed). */
  hasAt(key: Uint8Array, loc: number): boolean {
    return this.findSlotAt(key, loc) >= 0;
  }

  /** Indexes `key` at `loc`, replacing its previous location. Returns true if the key is new. */
  set(key: Uint8Array, loc: number, keyAt: (loc: number) => Uint8Array): boolean {
    return this.setRange(key, 0, key.length, loc, keyAt);
  }

  /**
   * {@link set} for the key `bytes[start, end)` (inside an encoded operation): no view of it is made,
   * which indexing a million synced operations notices.
   */
  setRange(bytes: Uint8Array, start: number, end: number, loc: number, keyAt: (loc: number) => Uint8Array): boolean {
    const hi = prefixHi(bytes, start);
    const lo = prefixLo(bytes, start);
    let i = this.home(hi, lo);
    for (; this.used(i); i = this.next(i)) {
      if (this.slots[3 * i] === hi && this.slots[3 * i + 1] === lo && equalRange(keyAt(this.locAt(i)), bytes, start, end)) {
        this.setLoc(i, loc);
        return false;
      }
    }
    // The probe stopped at the free slot the key belongs in, unless the table must grow first.
    if (this.full()) this.insert(hi, lo, loc);
    else this.fill(i, hi, lo, loc);
    this.count++;
    return true;
  }

  /** Indexes `key` at `loc`; the caller knows the key is not indexed yet. */
  insertNew(key: Uint8Array, loc: number): void {
    this.insert(prefixHi(key), prefixLo(key), loc);
    this.count++;
  }

  /** Moves `key` from `oldLoc` to `newLoc` (no log read needed). Returns false if absent. */
  move(key: Uint8Array, oldLoc: number, newLoc: number): boolean {
    const slot = this.findSlotAt(key, oldLoc);
    if (slot < 0) return false;
    this.setLoc(slot, newLoc);
    return true;
  }

  /** Removes `key`. Returns its former location, or -1 if it was absent. */
  remove(key: Uint8Array, keyAt: (loc: number) => Uint8Array): number {
    const slot = this.findSlot(key, keyAt);
    if (slot < 0) return -1;
    const loc = this.locAt(slot);
    this.removeSlot(slot);
    return loc;
  }

  /** Removes every key whose location is below `minLoc`. */
  retainFrom(minLoc: number): void {
    // Nothing to remove (the usual case when a synced log's index is adopted): no new tables.
    let below = false;
    for (let j = 0; j < this.cap && !below; j++) below = this.used(j) && this.locAt(j) < minLoc;
    if (below) this.rehash(this.cap, minLoc);
  }

  /** Every indexed location, in ascending order (a copy: later changes to the index do not affect it). */
  sortedLocations(): Float64Array {
    const out = new Float64Array(this.count);
    let n = 0;
    for (let j = 0; j < this.cap; j++) if (this.used(j)) out[n++] = this.locAt(j);
    return out.sort();
  }

  /** Removes every key. */
  clear(): void {
    this.slots.fill(0);
    this.locsHi = undefined;
    this.count = 0;
  }

  // Home slot of a prefix: ⌊mix · cap / 2^32⌋, computed exactly in two 16-bit halves.
  private home(hi: number, lo: number): number {
    const h = mix(hi, lo);
    return Math.floor(((h >>> 16) * this.cap + Math.floor(((h & 0xffff) * this.cap) / 65536)) / 65536);
  }

  private next(i: number): number {
    return i + 1 === this.cap ? 0 : i + 1;
  }

  private used(i: number): boolean {
    return this.slots[3 * i + 2] !== 0 || (this.locsHi !== undefined && this.locsHi[i] !== 0);
  }

  private locAt(i: number): number {
    const hi = this.locsHi;
    return (hi === undefined ? this.slots[3 * i + 2]! : this.slots[3 * i + 2]! + hi[i]! * TWO_32) - 1;
  }

  // Locations are journal positions: non-negative safe integers.
  private setLoc(i: number, loc: number): void {
    const v = loc + 1;
    this.slots[3 * i + 2] = v; // ToUint32: the low 32 bits
    if (v >= TWO_32 || this.locsHi !== undefined) this.setLocHi(i, v);
  }

  private setLocHi(i: number, v: number): void {
    if (!Number.isSafeInteger(v)) throw new QmdbError("InvalidOperation", `location ${v - 1} cannot be indexed`);
    this.locsHi ??= new Uint32Array(this.cap);
    this.locsHi[i] = Math.floor(v / TWO_32);
  }

  private full(): boolean {
    return (this.count + 1) * 4 > this.cap * 3;
  }

  private findSlot(key: Uint8Array, keyAt: (loc: number) => Uint8Array): number {
    const hi = prefixHi(key);
    const lo = prefixLo(key);
    for (let i = this.home(hi, lo); this.used(i); i = this.next(i)) {
      if (this.slots[3 * i] === hi && this.slots[3 * i + 1] === lo && equalBytes(keyAt(this.locAt(i)), key)) return i;
    }
    return -1;
  }

  private findSlotAt(key: Uint8Array, loc: number): number {
    const hi = prefixHi(key);
    const lo = prefixLo(key);
    for (let i = this.home(hi, lo); this.used(i); i = this.next(i)) {
      if (this.locAt(i) === loc && this.slots[3 * i] === hi && this.slots[3 * i + 1] === lo) return i;
    }
    return -1;
  }

  // Backward-shift deletion for linear probing: pull later entries of the cluster into the gap
  // when their home slot does not lie cyclically in (gap, current].
  private removeSlot(slot: number): void {
    let gap = slot;
    let i = this.next(slot);
    while (this.used(i)) {
      const home = this.home(this.slots[3 * i]!, this.slots[3 * i + 1]!);
      const movable = gap <= i ? home <= gap || home > i : home <= gap && home > i;
      if (movable) {
        this.slots[3 * gap] = this.slots[3 * i]!;
        this.slots[3 * gap + 1] = this.slots[3 * i + 1]!;
        this.slots[3 * gap + 2] = this.slots[3 * i + 2]!;
        if (this.locsHi !== undefined) this.locsHi[gap] = this.locsHi[i]!;
        gap = i;
      }
      i = this.next(i);
    }
    this.slots[3 * gap + 2] = 0;
    if (this.locsHi !== undefined) this.locsHi[gap] = 0;
    this.count--;
  }

  private insert(hi: number, lo: number, loc: number): void {
    if (this.full()) this.rehash(this.cap * 2);
    let i = this.home(hi, lo);
    while (this.used(i)) i = this.next(i);
    this.fill(i, hi, lo, loc);
  }

  private fill(i: number, hi: number, lo: number, loc: number): void {
    this.slots[3 * i] = hi;
    this.slots[3 * i + 1] = lo;
    this.setLoc(i, loc);
  }

  // Moves every entry (whose location is at least `minLoc`) into new tables of `cap` slots.
  private rehash(cap: number, minLoc = 0): void {
    const { slots, locsHi } = this;
    const old = this.cap;
    this.cap = cap;
    this.slots = new Uint32Array(3 * cap);
    this.locsHi = locsHi === undefined ? undefined : new Uint32Array(cap);
    this.count = 0;
    for (let j = 0; j < old; j++) {
      const v = locsHi === undefined ? slots[3 * j + 2]! : slots[3 * j + 2]! + locsHi[j]! * TWO_32;
      if (v === 0 || v - 1 < minLoc) continue;
      const hi = slots[3 * j]!;
      const lo = slots[3 * j + 1]!;
      let i = this.home(hi, lo);
      while (this.used(i)) i = this.next(i);
      this.fill(i, hi, lo, v - 1);
      this.count++;
    }
  }
}
