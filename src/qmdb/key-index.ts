/**
 * A compact index from keys to log locations, in the spirit of commonware's `EightCap`
 * translator: only the first 8 bytes of each key are stored, in an open-addressing table of
 * typed arrays (16 bytes a slot, no per-key objects). Several keys may share a prefix, so a lookup
 * confirms a candidate by reading its full key from the log through a caller-given function.
 * Deletion uses backward shifting, so the table never accumulates tombstones.
 */

import { equalBytes } from "../codec";

const EMPTY = -1;
const MIN_CAPACITY = 16;

function mix(hi: number, lo: number): number {
  // Keys are usually digests, but need not be: mix both halves so any prefix spreads.
  let h = Math.imul(hi ^ (lo >>> 15), 0x85ebca6b) ^ lo;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

function prefixHi(key: Uint8Array): number {
  return ((key[0]! << 24) | (key[1]! << 16) | (key[2]! << 8) | key[3]!) >>> 0;
}

function prefixLo(key: Uint8Array): number {
  return ((key[4]! << 24) | (key[5]! << 16) | (key[6]! << 8) | key[7]!) >>> 0;
}

/** A multimap from 8-byte key prefixes to locations; full keys are resolved through the log. */
export class KeyIndex {
  private his: Uint32Array;
  private los: Uint32Array;
  private locs: Float64Array;
  private mask: number;
  private count = 0;

  constructor(capacity = MIN_CAPACITY) {
    let cap = MIN_CAPACITY;
    while (cap < capacity) cap *= 2;
    this.his = new Uint32Array(cap);
    this.los = new Uint32Array(cap);
    this.locs = new Float64Array(cap).fill(EMPTY);
    this.mask = cap - 1;
  }

  /** Number of keys indexed. */
  get size(): number {
    return this.count;
  }

  /** Bytes held by the table's arrays. */
  get byteLength(): number {
    return this.his.byteLength + this.los.byteLength + this.locs.byteLength;
  }

  /**
   * Location of `key`, or -1. `keyAt(loc)` must return the full key of the operation at `loc`;
   * it is called only for locations whose key shares `key`'s 8-byte prefix.
   */
  get(key: Uint8Array, keyAt: (loc: number) => Uint8Array): number {
    const slot = this.findSlot(key, keyAt);
    return slot < 0 ? -1 : this.locs[slot]!;
  }

  /** Whether `key` is indexed at exactly `loc` (no log read needed). */
  hasAt(key: Uint8Array, loc: number): boolean {
    return this.findSlotAt(key, loc) >= 0;
  }

  /** Indexes `key` at `loc`, replacing its previous location. Returns true if the key is new. */
  set(key: Uint8Array, loc: number, keyAt: (loc: number) => Uint8Array): boolean {
    const slot = this.findSlot(key, keyAt);
    if (slot >= 0) {
      this.locs[slot] = loc;
      return false;
    }
    this.insertNew(key, loc);
    return true;
  }

  /** Indexes `key` at `loc`; the caller knows the key is not indexed yet. */
  insertNew(key: Uint8Array, loc: number): void {
    if ((this.count + 1) * 4 > (this.mask + 1) * 3) this.grow();
    this.place(prefixHi(key), prefixLo(key), loc);
    this.count++;
  }

  /** Moves `key` from `oldLoc` to `newLoc` (no log read needed). Returns false if absent. */
  move(key: Uint8Array, oldLoc: number, newLoc: number): boolean {
    const slot = this.findSlotAt(key, oldLoc);
    if (slot < 0) return false;
    this.locs[slot] = newLoc;
    return true;
  }

  /** Removes `key`. Returns its former location, or -1 if it was absent. */
  remove(key: Uint8Array, keyAt: (loc: number) => Uint8Array): number {
    const slot = this.findSlot(key, keyAt);
    if (slot < 0) return -1;
    const loc = this.locs[slot]!;
    this.removeSlot(slot);
    return loc;
  }

  /** Removes every key whose location is below `minLoc`. */
  retainFrom(minLoc: number): void {
    const his = this.his;
    const los = this.los;
    const locs = this.locs;
    // Nothing to remove (the usual case when a synced log's index is adopted): no new tables.
    if (!locs.some((loc) => loc !== EMPTY && loc < minLoc)) return;
    this.his = new Uint32Array(his.length);
    this.los = new Uint32Array(los.length);
    this.locs = new Float64Array(locs.length).fill(EMPTY);
    this.count = 0;
    for (let j = 0; j < locs.length; j++) {
      if (locs[j] === EMPTY || locs[j]! < minLoc) continue;
      this.place(his[j]!, los[j]!, locs[j]!);
      this.count++;
    }
  }

  /** Every indexed location, in ascending order (a copy: later changes to the index do not affect it). */
  sortedLocations(): Float64Array {
    const out = new Float64Array(this.count);
    let n = 0;
    for (let j = 0; j < this.locs.length; j++) if (this.locs[j] !== EMPTY) out[n++] = this.locs[j]!;
    return out.sort();
  }

  /** Removes every key. */
  clear(): void {
    this.locs.fill(EMPTY);
    this.count = 0;
  }

  private findSlot(key: Uint8Array, keyAt: (loc: number) => Uint8Array): number {
    const hi = prefixHi(key);
    const lo = prefixLo(key);
    for (let i = mix(hi, lo) & this.mask; this.locs[i] !== EMPTY; i = (i + 1) & this.mask) {
      if (this.his[i] === hi && this.los[i] === lo && equalBytes(keyAt(this.locs[i]!), key)) return i;
    }
    return -1;
  }

  private findSlotAt(key: Uint8Array, loc: number): number {
    const hi = prefixHi(key);
    const lo = prefixLo(key);
    for (let i = mix(hi, lo) & this.mask; this.locs[i] !== EMPTY; i = (i + 1) & this.mask) {
      if (this.locs[i] === loc && this.his[i] === hi && this.los[i] === lo) return i;
    }
    return -1;
  }

  // Backward-shift deletion for linear probing: pull later entries of the cluster into the gap
  // when their home slot does not lie cyclically in (gap, current].
  private removeSlot(slot: number): void {
    let gap = slot;
    let i = (slot + 1) & this.mask;
    while (this.locs[i] !== EMPTY) {
      const home = mix(this.his[i]!, this.los[i]!) & this.mask;
      const movable = gap <= i ? home <= gap || home > i : home <= gap && home > i;
      if (movable) {
        this.his[gap] = this.his[i]!;
        this.los[gap] = this.los[i]!;
        this.locs[gap] = this.locs[i]!;
        gap = i;
      }
      i = (i + 1) & this.mask;
    }
    this.locs[gap] = EMPTY;
    this.count--;
  }

  private grow(): void {
    const his = this.his;
    const los = this.los;
    const locs = this.locs;
    const cap = (this.mask + 1) * 2;
    this.his = new Uint32Array(cap);
    this.los = new Uint32Array(cap);
    this.locs = new Float64Array(cap).fill(EMPTY);
    this.mask = cap - 1;
    for (let j = 0; j < locs.length; j++) if (locs[j] !== EMPTY) this.place(his[j]!, los[j]!, locs[j]!);
  }

  private place(hi: number, lo: number, loc: number): void {
    let i = mix(hi, lo) & this.mask;
    while (this.locs[i] !== EMPTY) i = (i + 1) & this.mask;
    this.his[i] = hi;
    this.los[i] = lo;
    this.locs[i] = loc;
  }
}
