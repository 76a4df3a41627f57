/**
 * Strict decoder for the commonware-codec byte format: fixed-width integers are big-endian, `bool` is
 * `00`/`01`, varints are canonical LEB128, a `usize` length is a varint u32 checked against a caller
 * bound, `Option<T>` is a bool tag then `T`, `Vec<T>` is a length then the items. Every read checks the
 * remaining bytes first, so nothing is allocated on the word of an unchecked length. `decode` also
 * requires the whole input to be consumed (`ExtraData` otherwise).
 */
import { CodecError } from "./errors";
import { VARINT_INVALID, VARINT_TRUNCATED, readVarintU32 } from "./varint";

/**
 * A forward-only cursor over one byte array. Reads throw {@link CodecError}, leaving the cursor at the
 * start of the primitive (byte, varint, length, run of bytes) that failed.
 */
export class Reader {
  private readonly buf: Uint8Array;
  private readonly view: DataView;
  private pos: number;

  constructor(bytes: Uint8Array) {
    this.buf = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = 0;
  }

  /** Bytes consumed so far. */
  get offset(): number {
    return this.pos;
  }

  /** Bytes not yet consumed. */
  get remaining(): number {
    return this.buf.length - this.pos;
  }

  /** Throws `ExtraData` unless every byte has been consumed. */
  finish(): void {
    const n = this.remaining;
    if (n !== 0) throw new CodecError("ExtraData", `${n} bytes left after offset ${this.pos}`);
  }

  u8(): number {
    return this.buf[this.take(1)]!;
  }

  /** Big-endian u16. */
  u16(): number {
    return this.view.getUint16(this.take(2));
  }

  /** Big-endian u32. */
  u32(): number {
    return this.view.getUint32(this.take(4));
  }

  /** Big-endian u64 (e.g. a `Location` as written by qmdb sync). */
  u64(): bigint {
    return this.view.getBigUint64(this.take(8));
  }

  /** One byte, `00` or `01`; anything else is `InvalidBool`. */
  bool(): boolean {
    const at = this.pos;
    const b = this.u8();
    if (b > 1) throw this.rewind(at, new CodecError("InvalidBool", `byte 0x${hex(b)} at offset ${at} is neither 00 nor 01`));
    return b === 1;
  }

  /** The next `n` raw bytes as a view that aliases the input (no copy). */
  bytes(n: number): Uint8Array {
    const at = this.take(n);
    return this.buf.subarray(at, at + n);
  }

  /** The next `n` raw bytes (`[u8; N]`) as a copy the caller owns. */
  fixed(n: number): Uint8Array<ArrayBuffer> {
    const at = this.take(n);
    return this.buf.slice(at, at + n);
  }

  /** `Vec<u8>`/`Bytes`: a length ≤ `maxBytes`, then that many bytes as a view (see {@link bytes}). */
  varBytes(maxBytes: number): Uint8Array {
    const at = this.pos;
    const n = this.length(maxBytes);
    if (n > this.remaining) throw this.rewind(at, endOfBuffer(n, this.pos, this.remaining));
    return this.bytes(n);
  }

  /**
   * A `usize` length: a varint u32 that must be ≤ `maxInclusive` (`InvalidLength` otherwise). The bound
   * is the caller's, as with commonware's `RangeCfg`.
   */
  length(maxInclusive: number): number {
    const at = this.pos;
    const n = this.varintU32();
    if (n > maxInclusive) {
      throw this.rewind(at, new CodecError("InvalidLength", `length ${n} at offset ${at} exceeds max ${maxInclusive}`));
    }
    return n;
  }

  /** Canonical LEB128 u32: at most 5 bytes, the 5th ≤ `0x0f`, no `0x00` byte after the first. */
  varintU32(): number {
    const start = this.pos;
    const packed = readVarintU32(this.buf, start, this.buf.length);
    if (packed === VARINT_TRUNCATED) throw endOfBuffer(1, this.buf.length, 0, "the rest of a u32 varint");
    if (packed === VARINT_INVALID) {
      // Say which rule broke (error path only): a 0x00 continuation byte, or a 5th byte above 0x0f.
      for (let i = 1; i < 5; i++) if (this.buf[start + i] === 0) throw zeroByte("u32", start, i);
      throw overflow("u32", start, this.buf[start + 4]!);
    }
    this.pos = start + (packed % 8);
    return Math.floor(packed / 8);
  }

  /**
   * Canonical LEB128 u64: at most 10 bytes, the 10th exactly `0x01`, no `0x00` byte after the first.
   * Accumulates into two exact numbers (28 low bits, ≤ 36 high bits) and builds at most one bigint,
   * instead of a bigint shift-or per byte.
   */
  varintU64(): bigint {
    const buf = this.buf;
    const start = this.pos;
    let pos = start;
    let lo = 0;
    let hi = 0;
    for (let i = 0; ; i++) {
      if (pos >= buf.length) throw endOfBuffer(1, pos, 0);
      const b = buf[pos++]!;
      if (i > 0 && b === 0) throw zeroByte("u64", start, i);
      if (i === 9 && b > 0x01) throw overflow("u64", start, b);
      if (i < 4) lo |= (b & 0x7f) << (7 * i);
      else hi += (b & 0x7f) * 2 ** (7 * (i - 4));
      if (b < 0x80) {
        this.pos = pos;
        return hi === 0 ? BigInt(lo) : (BigInt(hi) << 28n) | BigInt(lo);
      }
    }
  }

  /** `Option<T>`: a bool tag (`00` None, `01` Some; other bytes are `InvalidBool`, as in Rust), then `T`. */
  option<T>(readItem: (r: Reader) => T): T | undefined {
    return this.bool() ? readItem(this) : undefined;
  }

  /**
   * `Vec<T>`: a length ≤ `maxLen`, then the items. Before reading any item the remaining input must hold
   * `length × minItemBytes` bytes (give the exact size for fixed-size items), so a forged length fails fast.
   */
  vec<T>(maxLen: number, readItem: (r: Reader) => T, minItemBytes = 1): T[] {
    const at = this.pos;
    const n = this.length(maxLen);
    const need = n * minItemBytes;
    if (need > this.remaining) {
      throw this.rewind(at, endOfBuffer(need, this.pos, this.remaining, `${n} items of ≥ ${minItemBytes} bytes`));
    }
    const out: T[] = [];
    for (let i = 0; i < n; i++) out.push(readItem(this));
    return out;
  }

  /** Moves the cursor back to `at` (where a failed read began) and returns `err` for the caller to throw. */
  private rewind(at: number, err: CodecError): CodecError {
    this.pos = at;
    return err;
  }

  /** Reserves `n` bytes and returns their start offset. */
  private take(n: number): number {
    const at = this.pos;
    if (!(Number.isInteger(n) && n >= 0)) throw new CodecError("Invalid", `byte count ${n} is not a non-negative integer`);
    if (n > this.buf.length - at) throw endOfBuffer(n, at, this.buf.length - at);
    this.pos = at + n;
    return at;
  }
}

/** Decodes a whole buffer with `read`, then requires it to be fully consumed (`ExtraData` otherwise). */
export function decode<T>(bytes: Uint8Array, read: (r: Reader) => T): T {
  const r = new Reader(bytes);
  const value = read(r);
  r.finish();
  return value;
}

function endOfBuffer(need: number, at: number, have: number, what = `${need} bytes`): CodecError {
  return new CodecError("EndOfBuffer", `need ${what} at offset ${at}, ${have} remain`);
}

function zeroByte(type: string, start: number, index: number): CodecError {
  return new CodecError("InvalidVarint", `${type} varint at offset ${start}: byte ${index} is 0x00 (non-canonical)`);
}

function overflow(type: string, start: number, b: number): CodecError {
  const last = type === "u32" ? "≤ 0x0f" : "0x01";
  return new CodecError("InvalidVarint", `${type} varint at offset ${start} overflows: last byte 0x${hex(b)}, must be ${last}`);
}

function hex(b: number): string {
  return b.toString(16).padStart(2, "0");
}
