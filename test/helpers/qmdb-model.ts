/**
 * Reference models of the two QMDB databases, written straight from docs/formats.md (operation encodings)
 * and docs/architecture.md (the two databases: `any` mutations and floor raising, `immutable`). They share no code with src/qmdb: their
 * own encoders, a plain `Map` snapshot and a literal floor-raising loop. Only the MMR is borrowed
 * (`MemMmr`, pinned elsewhere by the 200 stability roots) to turn the list of encoded operations
 * into a root. A model holds its committed state plus pending operations; `reopen()` drops the
 * pending ones, as recovery must.
 */
import { MemMmr } from "../../src/mmr";

const hexOf = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");

/** `any` Update: `D2 ‖ key ‖ value` (docs/formats.md). */
export function encodeAnyUpdate(key: Uint8Array, value: Uint8Array): Uint8Array {
  const out = new Uint8Array(65);
  out[0] = 0xd2;
  out.set(key, 1);
  out.set(value, 33);
  return out;
}

/** `any` Delete: `D1 ‖ key ‖ 32 × 00`. */
export function encodeAnyDelete(key: Uint8Array): Uint8Array {
  const out = new Uint8Array(65);
  out[0] = 0xd1;
  out.set(key, 1);
  return out;
}

/** `any` CommitFloor: `D3 ‖ has-metadata ‖ metadata-or-zeros(32) ‖ floor u64 BE ‖ 23 × 00`. */
export function encodeAnyCommitFloor(metadata: Uint8Array | undefined, floor: number): Uint8Array {
  const out = new Uint8Array(65);
  out[0] = 0xd3;
  if (metadata !== undefined) {
    out[1] = 1;
    out.set(metadata, 2);
  }
  new DataView(out.buffer).setBigUint64(34, BigInt(floor));
  return out;
}

/** `immutable` Set: `00 ‖ key ‖ value` (docs/formats.md). */
export function encodeImmutableSet(key: Uint8Array, value: Uint8Array): Uint8Array {
  const out = new Uint8Array(65);
  out.set(key, 1);
  out.set(value, 33);
  return out;
}

/** `immutable` Commit: `01 00` or `01 01 ‖ metadata`. */
export function encodeImmutableCommit(metadata: Uint8Array | undefined): Uint8Array {
  if (metadata === undefined) return Uint8Array.of(1, 0);
  const out = new Uint8Array(34);
  out[0] = 1;
  out[1] = 1;
  out.set(metadata, 2);
  return out;
}

/** What every model exposes to the checks. */
export interface ModelState {
  readonly opCount: number;
  rootHex(): string;
}

/** The operation list and its MMR, shared by both models. */
abstract class OpLog {
  protected ops: Uint8Array[];
  protected mmr: MemMmr;
  /** Location of the last commit; everything after it is pending. */
  lastCommit = 0;

  protected constructor(ops: Uint8Array[], mmr: MemMmr) {
    this.ops = ops;
    this.mmr = mmr;
  }

  get opCount(): number {
    return this.ops.length;
  }

  rootHex(): string {
    return hexOf(this.mmr.root());
  }

  protected append(op: Uint8Array): number {
    this.ops.push(op);
    this.mmr.add(op);
    return this.ops.length - 1;
  }

  /** Drops pending operations (those after the last commit). */
  protected truncateToCommit(): void {
    const keep = this.lastCommit + 1;
    if (this.ops.length === keep) return;
    this.ops.length = keep;
    if (this.mmr.prunedToPos === 0) {
      while (this.mmr.leaves > keep) this.mmr.pop();
    } else {
      this.mmr = new MemMmr();
      for (const op of this.ops) this.mmr.add(op);
    }
  }

  /** An MMR holding only the peaks (enough for appends and roots): cheap to copy. */
  protected peaksOnlyMmr(): MemMmr {
    return MemMmr.fromComponents({ prunedToPos: this.mmr.size, pinnedNodes: this.mmr.peakDigests() });
  }
}

/** The `any` database, literally as docs/architecture.md (the two databases) describes it. */
export class AnyModel extends OpLog implements ModelState {
  /** Active key (hex) → location of its latest Update. */
  private snapshot: Map<string, number>;
  private committedSnapshot: Map<string, number>;
  floor = 0;
  private steps = 0;

  constructor() {
    super([], new MemMmr());
    this.snapshot = new Map();
    this.committedSnapshot = new Map();
    this.append(encodeAnyCommitFloor(undefined, 0)); // a new db holds CommitFloor(None, 0)
  }

  get activeKeys(): number {
    return this.snapshot.size;
  }

  get(key: Uint8Array): Uint8Array | undefined {
    const loc = this.snapshot.get(hexOf(key));
    return loc === undefined ? undefined : this.ops[loc]!.slice(33, 65);
  }

  update(key: Uint8Array, value: Uint8Array): void {
    const k = hexOf(key);
    if (this.snapshot.has(k)) this.steps++;
    this.snapshot.set(k, this.append(encodeAnyUpdate(key, value)));
  }

  delete(key: Uint8Array): boolean {
    const k = hexOf(key);
    if (!this.snapshot.has(k)) return false;
    this.snapshot.delete(k);
    this.append(encodeAnyDelete(key));
    this.steps++;
    return true;
  }

  commit(metadata?: Uint8Array): void {
    if (this.snapshot.size === 0) {
      this.floor = this.ops.length;
    } else {
      for (let i = 0; i < this.steps + 1; i++) this.raiseOneStep();
    }
    this.steps = 0;
    this.lastCommit = this.append(encodeAnyCommitFloor(metadata, this.floor));
    this.committedSnapshot = new Map(this.snapshot);
  }

  /** What recovery must produce: the state of the last commit, pending operations gone. */
  reopen(): void {
    this.truncateToCommit();
    this.snapshot = new Map(this.committedSnapshot);
    this.floor = Number(new DataView(this.ops[this.lastCommit]!.buffer).getBigUint64(34));
    this.steps = 0;
  }

  /** An independent copy (its MMR keeps only peaks, so it cannot drop pending operations). */
  clone(): AnyModel {
    const c = Object.create(AnyModel.prototype) as AnyModel;
    c.ops = this.ops.slice();
    c.mmr = this.peaksOnlyMmr();
    c.lastCommit = this.lastCommit;
    c.snapshot = new Map(this.snapshot);
    c.committedSnapshot = new Map(this.committedSnapshot);
    c.floor = this.floor;
    c.steps = this.steps;
    return c;
  }

  // §5.4 raise_one_step: scan from the floor for the first active Update and move it to the tip.
  private raiseOneStep(): void {
    const tip = this.ops.length;
    for (;;) {
      if (this.floor >= tip) throw new Error(`model: no active operation below the tip ${tip}`);
      const loc = this.floor;
      this.floor += 1;
      const op = this.ops[loc]!;
      if (op[0] !== 0xd2) continue;
      const k = hexOf(op.subarray(1, 33));
      if (this.snapshot.get(k) !== loc) continue;
      this.snapshot.set(k, this.append(op));
      return;
    }
  }
}

/** The `immutable` database (docs/architecture.md), with `set` of an existing key refused. */
export class ImmutableModel extends OpLog implements ModelState {
  /** Key (hex) → location of its Set and its value. */
  private keys: Map<string, { loc: number; value: Uint8Array }>;

  constructor() {
    super([], new MemMmr());
    this.keys = new Map();
    this.append(encodeImmutableCommit(undefined));
  }

  has(key: Uint8Array): boolean {
    return this.keys.has(hexOf(key));
  }

  /** The value, or undefined if unset or set below `oldestRetained` (pruned keys are forgotten). */
  get(key: Uint8Array, oldestRetained = 0): Uint8Array | undefined {
    const e = this.keys.get(hexOf(key));
    return e === undefined || e.loc < oldestRetained ? undefined : e.value;
  }

  /** Every key set so far (committed or pending), with its location and value. */
  entries(): IterableIterator<[string, { loc: number; value: Uint8Array }]> {
    return this.keys.entries();
  }

  set(key: Uint8Array, value: Uint8Array): void {
    if (this.has(key)) throw new Error(`model: key ${hexOf(key)} already set`);
    this.keys.set(hexOf(key), { loc: this.append(encodeImmutableSet(key, value)), value: value.slice() });
  }

  commit(metadata?: Uint8Array): void {
    this.lastCommit = this.append(encodeImmutableCommit(metadata));
  }

  reopen(): void {
    this.truncateToCommit();
    for (const [k, e] of this.keys) if (e.loc > this.lastCommit) this.keys.delete(k);
  }

  clone(): ImmutableModel {
    const c = Object.create(ImmutableModel.prototype) as ImmutableModel;
    c.ops = this.ops.slice();
    c.mmr = this.peaksOnlyMmr();
    c.lastCommit = this.lastCommit;
    c.keys = new Map(this.keys);
    return c;
  }
}
