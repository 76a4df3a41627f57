/**
 * A direct protobuf codec for `GetOperationsResponse`, the hot message of a sync: the server
 * writes it straight from the canonical operation bytes in its log, and the client reads it
 * straight back into canonical operation bytes (packed in one buffer), without building an object
 * per operation. The bytes are ordinary protobuf, identical to what the generated code writes, so
 * any gRPC client can read them; the decoder accepts any valid encoding of the message (fields in
 * any order, unknown fields skipped) and is strict about everything the sync relies on.
 */
import { ANY_OPERATION_BYTES, type DbKindName } from "../qmdb";
import { DIGEST_BYTES, type Proof } from "../mmr";
import { WireError } from "./convert";

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

// Canonical `any` tags and `immutable` tags (first byte of an encoded operation).
const ANY_DELETE = 0xd1;
const ANY_UPDATE = 0xd2;
const ANY_COMMIT_FLOOR = 0xd3;
const IMM_SET = 0x00;
const IMM_COMMIT = 0x01;

function varintSize(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

/** Writes protobuf into a buffer sized in advance. */
class Out {
  pos = 0;
  constructor(readonly buf: Buffer) {}
  byte(b: number): void {
    this.buf[this.pos++] = b;
  }
  varint(v: number): void {
    while (v >= 0x80) {
      this.buf[this.pos++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buf[this.pos++] = v;
  }
  varint64(v: bigint): void {
    while (v >= 0x80n) {
      this.buf[this.pos++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.buf[this.pos++] = Number(v);
  }
  bytes(b: Uint8Array, from = 0, to = b.length): void {
    this.buf.set(b.subarray(from, to), this.pos);
    this.pos += to - from;
  }
}

function varint64Size(v: bigint): number {
  let n = 1;
  while (v >= 0x80n) {
    v >>= 7n;
    n++;
  }
  return n;
}

// Size of the `Operation` message body for a canonical encoded operation.
function operationBodySize(op: Uint8Array): number {
  switch (op[0]) {
    case ANY_UPDATE:
      return 2 + 68; // any_update { key, value }
    case ANY_DELETE:
      return 2 + 34; // any_delete { key }
    case ANY_COMMIT_FLOOR: {
      const inner = (op[1] === 1 ? 34 : 0) + floorFieldSize(op);
      return 1 + varintSize(inner) + inner;
    }
    default:
      throw new WireError("operation", `cannot encode operation with tag 0x${op[0]?.toString(16)}`);
  }
}

function floorOf(op: Uint8Array): bigint {
  return new DataView(op.buffer, op.byteOffset + 34, 8).getBigUint64(0);
}

function floorFieldSize(op: Uint8Array): number {
  const floor = floorOf(op);
  return floor === 0n ? 0 : 1 + varint64Size(floor);
}

function immutableBodySize(op: Uint8Array): number {
  if (op[0] === IMM_SET) return 2 + 68; // immutable_set { key, value }
  const inner = op[1] === 1 ? 34 : 0;
  return 1 + varintSize(inner) + inner; // immutable_commit { metadata? }
}

/**
 * Serializes a `GetOperationsResponse` from canonical operation encodings of a database of
 * `kind`. Byte-identical to the generated `GetOperationsResponse.encode`.
 */
export function encodeOperationsResponse(kind: DbKindName, startLoc: bigint, proof: Proof, operations: readonly Uint8Array[]): Buffer {
  const bodySize = kind === "any" ? operationBodySize : immutableBodySize;
  const proofBody = (proof.size === 0n ? 0 : 1 + varint64Size(proof.size)) + proof.digests.length * (2 + DIGEST_BYTES);
  let total = (startLoc === 0n ? 0 : 1 + varint64Size(startLoc)) + 1 + varintSize(proofBody) + proofBody;
  const sizes = new Array<number>(operations.length);
  for (let i = 0; i < operations.length; i++) {
    const s = bodySize(operations[i]!);
    sizes[i] = s;
    total += 1 + varintSize(s) + s;
  }
  const out = new Out(Buffer.allocUnsafe(total));
  if (startLoc !== 0n) {
    out.byte(0x08);
    out.varint64(startLoc);
  }
  out.byte(0x12);
  out.varint(proofBody);
  if (proof.size !== 0n) {
    out.byte(0x08);
    out.varint64(proof.size);
  }
  for (const d of proof.digests) {
    out.byte(0x12);
    out.byte(DIGEST_BYTES);
    out.bytes(d);
  }
  for (let i = 0; i < operations.length; i++) {
    const op = operations[i]!;
    out.byte(0x1a);
    out.varint(sizes[i]!);
    if (kind === "any") writeAnyOperation(out, op);
    else writeImmutableOperation(out, op);
  }
  if (out.pos !== total) throw new Error(`encoded ${out.pos} bytes, expected ${total}`);
  return out.buf;
}

function writeAnyOperation(out: Out, op: Uint8Array): void {
  switch (op[0]) {
    case ANY_UPDATE:
      out.byte(0x0a);
      out.byte(68);
      writeKeyValue(out, op);
      return;
    case ANY_DELETE:
      out.byte(0x12);
      out.byte(34);
      out.byte(0x0a);
      out.byte(32);
      out.bytes(op, 1, 33);
      return;
    default: {
      const inner = (op[1] === 1 ? 34 : 0) + floorFieldSize(op);
      out.byte(0x1a);
      out.varint(inner);
      if (op[1] === 1) {
        out.byte(0x0a);
        out.byte(32);
        out.bytes(op, 2, 34);
      }
      const floor = floorOf(op);
      if (floor !== 0n) {
        out.byte(0x10);
        out.varint64(floor);
      }
    }
  }
}

function writeImmutableOperation(out: Out, op: Uint8Array): void {
  if (op[0] === IMM_SET) {
    out.byte(0x22);
    out.byte(68);
    writeKeyValue(out, op);
    return;
  }
  out.byte(0x2a);
  if (op[1] === 1) {
    out.byte(34);
    out.byte(0x0a);
    out.byte(32);
    out.bytes(op, 2, 34);
  } else {
    out.byte(0);
  }
}

function writeKeyValue(out: Out, op: Uint8Array): void {
  out.byte(0x0a);
  out.byte(32);
  out.bytes(op, 1, 33);
  out.byte(0x12);
  out.byte(32);
  out.bytes(op, 33, 65);
}

/** A decoded batch: canonical operation encodings (views into one buffer) and the proof. */
export interface DecodedBatch {
  readonly startLoc: bigint;
  readonly proof: Proof;
  readonly operations: Uint8Array[];
}

/** Limits on what one message may contain. */
export interface DecodeLimits {
  readonly maxDigests: number;
  readonly maxOperations: number;
}

/** Reads protobuf from a buffer, refusing anything truncated or malformed. Reusable via `reset`. */
class In {
  pos: number;
  /** Payload bounds of the last field read by `len`. */
  lenStart = 0;
  lenEnd = 0;
  constructor(
    public buf: Uint8Array,
    start: number,
    public end: number,
  ) {
    this.pos = start;
  }
  reset(buf: Uint8Array, start: number, end: number): this {
    this.buf = buf;
    this.pos = start;
    this.end = end;
    return this;
  }
  more(): boolean {
    return this.pos < this.end;
  }
  varint(field: string): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 8; i++) {
      if (this.pos >= this.end) throw new WireError(field, "truncated varint");
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * mul;
      if (b < 0x80) {
        if (result > Number.MAX_SAFE_INTEGER) throw new WireError(field, "varint too large");
        return result;
      }
      mul *= 128;
    }
    throw new WireError(field, "varint too large");
  }
  varint64(field: string): bigint {
    let result = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new WireError(field, "truncated varint");
      const b = this.buf[this.pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) {
        if (result >= 1n << 64n) throw new WireError(field, "varint exceeds 64 bits");
        return result;
      }
      shift += 7n;
    }
    throw new WireError(field, "varint exceeds 10 bytes");
  }
  // Reads a length-delimited field; its payload is [lenStart, lenEnd).
  len(field: string): void {
    const n = this.varint(field);
    const start = this.pos;
    if (n > this.end - start) throw new WireError(field, `length ${n} runs past the end of the message`);
    this.pos = start + n;
    this.lenStart = start;
    this.lenEnd = start + n;
  }
  skip(wireType: number, field: string): void {
    if (wireType === WIRE_VARINT) this.varint64(field);
    else if (wireType === WIRE_I64) this.advance(8, field);
    else if (wireType === WIRE_LEN) this.len(field);
    else if (wireType === WIRE_I32) this.advance(4, field);
    else throw new WireError(field, `unsupported wire type ${wireType}`);
  }
  private advance(n: number, field: string): void {
    if (n > this.end - this.pos) throw new WireError(field, "truncated field");
    this.pos += n;
  }
}

/**
 * Parses a `GetOperationsResponse` into canonical operations of a database of `kind`. Throws
 * `WireError` for malformed protobuf, a wrong or repeated operation variant, keys/values/digests
 * that are not 32 bytes, floors above 2^62 − 1, or more digests/operations than `limits` allow.
 */
export function decodeOperationsResponse(bytes: Uint8Array, kind: DbKindName, limits: DecodeLimits): DecodedBatch {
  const r = new In(bytes, 0, bytes.length);
  let startLoc = 0n;
  let proof: Proof | undefined;
  const opRanges: number[] = [];
  while (r.more()) {
    const tag = r.varint("tag");
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (field === 1 && wire === WIRE_VARINT) startLoc = r.varint64("start_loc");
    else if (field === 2 && wire === WIRE_LEN) {
      r.len("proof");
      proof = decodeProof(bytes, r.lenStart, r.lenEnd, limits.maxDigests);
    } else if (field === 3 && wire === WIRE_LEN) {
      r.len("operations");
      opRanges.push(r.lenStart, r.lenEnd);
      if (opRanges.length / 2 > limits.maxOperations) throw new WireError("operations", `more than ${limits.maxOperations} operations`);
    } else r.skip(wire, `field ${field}`);
  }
  const count = opRanges.length / 2;
  // Every operation decodes to at most 65 bytes; allocate once, bounded by the message size.
  const packed = new Uint8Array(count * ANY_OPERATION_BYTES);
  const operations = new Array<Uint8Array>(count);
  for (let i = 0; i < count; i++) {
    const at = i * ANY_OPERATION_BYTES;
    let n: number;
    try {
      n = decodeOperation(bytes, opRanges[2 * i]!, opRanges[2 * i + 1]!, kind, packed, at);
    } catch (err) {
      // Field names are only built on this (error) path.
      if (err instanceof WireError) throw new WireError(`operations[${i}]${err.field.slice("operation".length)}`, err.message.slice(err.field.length + 2));
      throw err;
    }
    operations[i] = packed.subarray(at, at + n);
  }
  return { startLoc, proof: proof ?? { size: 0n, digests: [] }, operations };
}

function decodeProof(bytes: Uint8Array, start: number, end: number, maxDigests: number): Proof {
  const r = new In(bytes, start, end);
  let size = 0n;
  const digests: Uint8Array[] = [];
  while (r.more()) {
    const tag = r.varint("proof tag");
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (field === 1 && wire === WIRE_VARINT) size = r.varint64("proof.size");
    else if (field === 2 && wire === WIRE_LEN) {
      r.len("proof.digests");
      const s = r.lenStart;
      const e = r.lenEnd;
      if (e - s !== DIGEST_BYTES) throw new WireError(`proof.digests[${digests.length}]`, `must be ${DIGEST_BYTES} bytes, got ${e - s}`);
      if (digests.length >= maxDigests) throw new WireError("proof.digests", `more than ${maxDigests} digests`);
      digests.push(bytes.slice(s, e));
    } else r.skip(wire, `proof field ${field}`);
  }
  return { size, digests };
}

// Scratch readers for operations (decoding is synchronous, so one of each suffices).
const opReader = new In(new Uint8Array(0), 0, 0);
const NAME = "operation";

// Decodes one `Operation` at [start, end) into canonical bytes at out[at..]; returns their length.
function decodeOperation(bytes: Uint8Array, start: number, end: number, kind: DbKindName, out: Uint8Array, at: number): number {
  const r = opReader.reset(bytes, start, end);
  let variant = 0;
  let bodyStart = 0;
  let bodyEnd = 0;
  while (r.more()) {
    const tag = r.varint(NAME);
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (field >= 1 && field <= 5 && wire === WIRE_LEN) {
      if (variant !== 0) throw new WireError(NAME, "must set exactly one operation variant, got more");
      variant = field;
      r.len(NAME);
      bodyStart = r.lenStart;
      bodyEnd = r.lenEnd;
    } else r.skip(wire, NAME);
  }
  if (variant === 0) throw new WireError(NAME, "must set exactly one operation variant, got 0");
  const isAny = variant <= 3;
  if (isAny !== (kind === "any")) throw new WireError(NAME, `is not an operation of a${kind === "any" ? "n any" : "n immutable"} database`);
  const f = fields.read(bytes, bodyStart, bodyEnd);
  switch (variant) {
    case 1: // any_update
      out[at] = ANY_UPDATE;
      f.digest(1, "key", out, at + 1);
      f.digest(2, "value", out, at + 33);
      return ANY_OPERATION_BYTES;
    case 2: // any_delete
      out[at] = ANY_DELETE;
      f.digest(1, "key", out, at + 1);
      out.fill(0, at + 33, at + 65);
      return ANY_OPERATION_BYTES;
    case 3: {
      // any_commit_floor
      out[at] = ANY_COMMIT_FLOOR;
      out.fill(0, at + 1, at + 65);
      if (f.has(1)) {
        out[at + 1] = 1;
        f.digest(1, "metadata", out, at + 2);
      }
      const floor = f.varint2;
      if (floor > (1n << 62n) - 1n) throw new WireError(`${NAME}.floor_loc`, `${floor} exceeds the largest location 2^62 − 1`);
      new DataView(out.buffer, out.byteOffset + at + 34, 8).setBigUint64(0, floor);
      return ANY_OPERATION_BYTES;
    }
    case 4: // immutable_set
      out[at] = IMM_SET;
      f.digest(1, "key", out, at + 1);
      f.digest(2, "value", out, at + 33);
      return 65;
    default: // immutable_commit
      out[at] = IMM_COMMIT;
      if (f.has(1)) {
        out[at + 1] = 1;
        f.digest(1, "metadata", out, at + 2);
        return 34;
      }
      out[at + 1] = 0;
      return 2;
  }
}

/** Fields 1 and 2 of a small message body, located once (the last occurrence of a field wins). */
class Fields {
  private bytes: Uint8Array = new Uint8Array(0);
  private start1 = -1;
  private end1 = -1;
  private start2 = -1;
  private end2 = -1;
  /** Field 2 as a varint (`floor_loc`), 0 if absent. */
  varint2 = 0n;
  private readonly r = new In(new Uint8Array(0), 0, 0);

  read(bytes: Uint8Array, start: number, end: number): this {
    this.bytes = bytes;
    this.start1 = this.end1 = this.start2 = this.end2 = -1;
    this.varint2 = 0n;
    const r = this.r.reset(bytes, start, end);
    while (r.more()) {
      const tag = r.varint(NAME);
      const field = Math.floor(tag / 8);
      const wire = tag & 7;
      if (field === 1 && wire === WIRE_LEN) {
        r.len(NAME);
        this.start1 = r.lenStart;
        this.end1 = r.lenEnd;
      } else if (field === 2 && wire === WIRE_LEN) {
        r.len(NAME);
        this.start2 = r.lenStart;
        this.end2 = r.lenEnd;
      } else if (field === 2 && wire === WIRE_VARINT) {
        this.varint2 = r.varint64(NAME);
      } else r.skip(wire, NAME);
    }
    return this;
  }

  has(field: 1 | 2): boolean {
    return (field === 1 ? this.start1 : this.start2) >= 0;
  }

  digest(field: 1 | 2, what: string, out: Uint8Array, at: number): void {
    const s = field === 1 ? this.start1 : this.start2;
    const e = field === 1 ? this.end1 : this.end2;
    if (s < 0 || e - s !== 32) throw new WireError(`${NAME}.${what}`, `must be 32 bytes, got ${s < 0 ? 0 : e - s}`);
    out.set(this.bytes.subarray(s, e), at);
  }
}

const fields = new Fields();
