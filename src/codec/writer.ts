/**
 * Encoder for the commonware-codec byte format (the inverse of `Reader`): big-endian fixed-width integers,
 * `bool` as `00`/`01`, minimal LEB128 varints, `usize` lengths as varint u32, `Option<T>` as a bool tag then
 * `T`, `Vec<T>` as a length then the items. Inputs are range-checked here, once (`Invalid` otherwise): a
 * u64 must lie in 0..2^64−1, a u32 or length in 0..2^32−1. The buffer grows by doubling; presize it with
 * the exact size (see `varintSize`) to encode without copying or slack.
 */
import { CodecError } from "./errors";
import { writeVarintU32, writeVarintU64 } from "./varint";

const U32_MAX = 0xffff_ffff;
const U64_MAX = (1n << 64n) - 1n;
const TWO_28 = 1n << 28n;
const EMPTY = new Uint8Array(0);
const EMPTY_VIEW = new DataView(EMPTY.buffer);

/** An append-only byte builder. Each method returns `this`, so calls chain. */
export class Writer {
  private buf: Uint8Array<ArrayBuffer>;
  private view: DataView;
  private pos: number;

  /** @param capacityBytes initial buffer size; give the exact encoded size to avoid any regrowth. */
  constructor(capacityBytes = 64) {
    checkUint(capacityBytes, Number.MAX_SAFE_INTEGER, "capacity");
    this.buf = new Uint8Array(capacityBytes);
    this.view = new DataView(this.buf.buffer);
    this.pos = 0;
  }

  /** Bytes written so far. */
  get offset(): number {
    return this.pos;
  }

  /**
   * Returns the bytes written and resets the writer to empty. The result is a view of the internal buffer
   * (no copy); the writer never touches that buffer again.
   */
  finish(): Uint8Array<ArrayBuffer> {
    const out = this.buf.subarray(0, this.pos);
    this.buf = EMPTY;
    this.view = EMPTY_VIEW;
    this.pos = 0;
    return out;
  }

  u8(v: number): this {
    checkUint(v, 0xff, "u8");
    this.reserve(1);
    this.buf[this.pos++] = v;
    return this;
  }

  /** Big-endian u16. */
  u16(v: number): this {
    checkUint(v, 0xffff, "u16");
    this.reserve(2);
    this.view.setUint16(this.pos, v);
    this.pos += 2;
    return this;
  }

  /** Big-endian u32. */
  u32(v: number): this {
    checkUint(v, U32_MAX, "u32");
    this.reserve(4);
    this.view.setUint32(this.pos, v);
    this.pos += 4;
    return this;
  }

  /** Big-endian u64 (fixed 8 bytes). */
  u64(v: bigint): this {
    checkU64(v);
    this.reserve(8);
    this.view.setBigUint64(this.pos, v);
    this.pos += 8;
    return this;
  }

  bool(v: boolean): this {
    this.reserve(1);
    this.buf[this.pos++] = v ? 1 : 0;
    return this;
  }

  /** Raw bytes, no length prefix (`[u8; N]`, digests). */
  bytes(b: Uint8Array): this {
    this.reserve(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }

  /** `Vec<u8>`/`Bytes`: the length as a varint, then the raw bytes. */
  varBytes(b: Uint8Array): this {
    return this.length(b.length).bytes(b);
  }

  /** A `usize` length: varint of a u32 (commonware panics above `u32::MAX`; this throws `Invalid`). */
  length(n: number): this {
    checkUint(n, U32_MAX, "length");
    this.varNumber(n);
    return this;
  }

  /** Minimal LEB128 of a u32. */
  varintU32(v: number): this {
    checkUint(v, U32_MAX, "u32");
    this.varNumber(v);
    return this;
  }

  /** Minimal LEB128 of a u64. */
  varintU64(v: bigint): this {
    checkU64(v);
    this.reserve(10);
    this.pos += writeVarintU64(this.buf, this.pos, v);
    return this;
  }

  /** `Option<T>`: `00` for `undefined`, else `01` then the item. */
  option<T>(v: T | undefined, writeItem: (w: Writer, item: T) => void): this {
    if (v === undefined) return this.bool(false);
    this.bool(true);
    writeItem(this, v);
    return this;
  }

  /** `Vec<T>`: the length, then each item. */
  vec<T>(items: readonly T[], writeItem: (w: Writer, item: T) => void): this {
    this.length(items.length);
    for (const item of items) writeItem(this, item);
    return this;
  }

  /** LEB128 of a safe non-negative integer (callers have range-checked it); at most 8 bytes. */
  private varNumber(v: number): void {
    this.reserve(8);
    this.pos += writeVarintU32(this.buf, this.pos, v);
  }

  /** Ensures room for `n` more bytes, doubling the buffer when short. */
  private reserve(n: number): void {
    const need = this.pos + n;
    if (need <= this.buf.length) return;
    const next = new Uint8Array(Math.max(need, this.buf.length * 2, 64));
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
}

/**
 * The LEB128 size of `v` in bytes: `max(1, ceil(bitlen(v) / 7))`. A `number` must be a safe
 * non-negative integer, a `bigint` a u64; otherwise `Invalid`.
 */
export function varintSize(v: bigint | number): number {
  if (typeof v === "bigint") {
    checkU64(v);
    if (v >= TWO_28) return 4 + varintSize(Number(v >> 28n));
    v = Number(v);
  } else {
    checkUint(v, Number.MAX_SAFE_INTEGER, "varint");
  }
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

function checkUint(v: number, max: number, what: string): void {
  if (!(Number.isInteger(v) && v >= 0 && v <= max)) throw new CodecError("Invalid", `${what} ${v} is outside 0..${max}`);
}

function checkU64(v: bigint): void {
  if (v < 0n || v > U64_MAX) throw new CodecError("Invalid", `u64 ${v} is outside 0..${U64_MAX}`);
}
