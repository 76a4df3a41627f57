/**
 * A direct protobuf codec for `GetOperationsResponse`, the hot message of a sync: the server
 * writes it straight from the canonical operation bytes in its log, and the client reads it
 * straight back into canonical operation bytes (packed in one buffer), without building an object
 * per operation. The bytes are ordinary protobuf, identical to what the generated code writes, so
 * any gRPC client can read them; the decoder accepts any valid encoding of the message (fields in
 * any order, unknown fields skipped) and is strict about everything the sync relies on.
 */
// Imported from the defining modules, not the layers' index files: CommonJS re-exports are getters,
// and this codec reads these bindings once per operation.
import type { DbKindName } from "../qmdb";
import {
  ANY_FLOOR_OFFSET,
  ANY_OPERATION_BYTES,
  ANY_TAG,
  COMMIT_FLAG_OFFSET,
  COMMIT_METADATA_OFFSET,
  IMMUTABLE_COMMIT_BYTES,
  IMMUTABLE_COMMIT_WITH_METADATA_BYTES,
  IMMUTABLE_SET_BYTES,
  IMMUTABLE_TAG,
  KEY_BYTES,
  OP_KEY_OFFSET,
  OP_VALUE_OFFSET,
  anyCommitFloor,
} from "../qmdb/operation";
import type { Proof } from "../mmr";
import { MAX_LOCATION } from "../mmr/position";
import { DIGEST_BYTES } from "../mmr/sha256";
import { varintSize } from "../codec/writer";
import { VARINT_TRUNCATED, readLenientVarint, readLenientVarintU64, writeVarintU32, writeVarintU64 } from "../codec/varint";
import { WireError } from "./convert";

// Protobuf wire types.
const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

// Field numbers of `proto/commonware/sync/v1/sync.proto` (the property test against the generated
// code keeps them honest).
const RESPONSE_START_LOC = 1;
const RESPONSE_PROOF = 2;
const RESPONSE_OPERATIONS = 3;
const PROOF_SIZE = 1;
const PROOF_DIGESTS = 2;
const OP_ANY_UPDATE = 1;
const OP_ANY_DELETE = 2;
const OP_ANY_COMMIT_FLOOR = 3;
const OP_IMMUTABLE_SET = 4;
const OP_IMMUTABLE_COMMIT = 5;
/** `key` of AnyUpdate/AnyDelete/ImmutableSet, `metadata` of the commits. */
const BODY_KEY = 1;
const BODY_METADATA = 1;
/** `value` of AnyUpdate/ImmutableSet, `floor_loc` of AnyCommitFloor. */
const BODY_VALUE = 2;
const BODY_FLOOR = 2;

/** The key byte of a field (all field numbers here are below 16, so one byte). */
const fieldKey = (field: number, wireType: number): number => (field << 3) | wireType;

const KEY_START_LOC = fieldKey(RESPONSE_START_LOC, WIRE_VARINT);
const KEY_PROOF = fieldKey(RESPONSE_PROOF, WIRE_LEN);
const KEY_OPERATION = fieldKey(RESPONSE_OPERATIONS, WIRE_LEN);
const KEY_PROOF_SIZE = fieldKey(PROOF_SIZE, WIRE_VARINT);
const KEY_PROOF_DIGEST = fieldKey(PROOF_DIGESTS, WIRE_LEN);
const KEY_DIGEST_FIELD = fieldKey(BODY_KEY, WIRE_LEN);
const KEY_VALUE_FIELD = fieldKey(BODY_VALUE, WIRE_LEN);
const KEY_FLOOR_FIELD = fieldKey(BODY_FLOOR, WIRE_VARINT);

/** A 32-byte field (key, value, metadata, digest): key byte, length byte, bytes. */
const DIGEST_FIELD_BYTES = 2 + KEY_BYTES;
/** Body of AnyUpdate / ImmutableSet: key and value fields. */
const KEY_VALUE_BODY_BYTES = 2 * DIGEST_FIELD_BYTES;
/** Body of AnyDelete: the key field. */
const KEY_BODY_BYTES = DIGEST_FIELD_BYTES;

/** Writes protobuf into a buffer sized in advance. */
class Out {
  pos = 0;
  constructor(readonly buf: Buffer) {}
  byte(b: number): void {
    this.buf[this.pos++] = b;
  }
  varint(v: number): void {
    this.pos += writeVarintU32(this.buf, this.pos, v);
  }
  varint64(v: bigint): void {
    this.pos += writeVarintU64(this.buf, this.pos, v);
  }
  bytes(b: Uint8Array, from = 0, to = b.length): void {
    this.buf.set(b.subarray(from, to), this.pos);
    this.pos += to - from;
  }
  /** A 32-byte field `key` holding `b[from, from + 32)`. */
  digestField(key: number, b: Uint8Array, from: number): void {
    this.byte(key);
    this.byte(KEY_BYTES);
    this.bytes(b, from, from + KEY_BYTES);
  }
}

// Size of the `Operation` message body for a canonical encoded operation.
function operationBodySize(op: Uint8Array): number {
  switch (op[0]) {
    case ANY_TAG.update:
      return 2 + KEY_VALUE_BODY_BYTES; // any_update { key, value }
    case ANY_TAG.delete:
      return 2 + KEY_BODY_BYTES; // any_delete { key }
    case ANY_TAG.commitFloor: {
      const inner = commitMetadataSize(op) + floorFieldSize(op);
      return 1 + varintSize(inner) + inner;
    }
    default:
      throw new WireError("operation", `cannot encode operation with tag 0x${op[0]?.toString(16)}`);
  }
}

// Size of a commit's optional metadata field (absent when the flag is 0).
function commitMetadataSize(op: Uint8Array): number {
  return op[COMMIT_FLAG_OFFSET] === 1 ? DIGEST_FIELD_BYTES : 0;
}

// Size of `floor_loc` (omitted when 0, as proto3 does).
function floorFieldSize(op: Uint8Array): number {
  const floor = anyCommitFloor(op);
  return floor === 0n ? 0 : 1 + varintSize(floor);
}

function immutableBodySize(op: Uint8Array): number {
  if (op[0] === IMMUTABLE_TAG.set) return 2 + KEY_VALUE_BODY_BYTES; // immutable_set { key, value }
  const inner = commitMetadataSize(op);
  return 1 + varintSize(inner) + inner; // immutable_commit { metadata? }
}

/**
 * Serializes a `GetOperationsResponse` from canonical operation encodings of a database of
 * `kind`. Byte-identical to the generated `GetOperationsResponse.encode`. With `headroom`, the
 * message starts that many (unwritten) bytes into the returned buffer, room for a transport's
 * frame header so that the message is never copied to be framed.
 */
export function encodeOperationsResponse(kind: DbKindName, startLoc: bigint, proof: Proof, operations: readonly Uint8Array[], headroom = 0): Buffer {
  const bodySize = kind === "any" ? operationBodySize : immutableBodySize;
  const proofBody = (proof.size === 0n ? 0 : 1 + varintSize(proof.size)) + proof.digests.length * (2 + DIGEST_BYTES);
  let total = (startLoc === 0n ? 0 : 1 + varintSize(startLoc)) + 1 + varintSize(proofBody) + proofBody;
  const sizes = new Array<number>(operations.length);
  for (let i = 0; i < operations.length; i++) {
    const s = bodySize(operations[i]!);
    sizes[i] = s;
    total += 1 + varintSize(s) + s;
  }
  const out = new Out(Buffer.allocUnsafe(headroom + total));
  out.pos = headroom;
  if (startLoc !== 0n) {
    out.byte(KEY_START_LOC);
    out.varint64(startLoc);
  }
  out.byte(KEY_PROOF);
  out.varint(proofBody);
  if (proof.size !== 0n) {
    out.byte(KEY_PROOF_SIZE);
    out.varint64(proof.size);
  }
  for (const d of proof.digests) {
    out.byte(KEY_PROOF_DIGEST);
    out.byte(DIGEST_BYTES);
    out.bytes(d);
  }
  for (let i = 0; i < operations.length; i++) {
    const op = operations[i]!;
    out.byte(KEY_OPERATION);
    out.varint(sizes[i]!);
    if (kind === "any") writeAnyOperation(out, op);
    else writeImmutableOperation(out, op);
  }
  if (out.pos !== headroom + total) throw new Error(`encoded ${out.pos - headroom} bytes, expected ${total}`);
  return out.buf;
}

function writeAnyOperation(out: Out, op: Uint8Array): void {
  switch (op[0]) {
    case ANY_TAG.update:
      out.byte(fieldKey(OP_ANY_UPDATE, WIRE_LEN));
      out.byte(KEY_VALUE_BODY_BYTES);
      writeKeyValue(out, op);
      return;
    case ANY_TAG.delete:
      out.byte(fieldKey(OP_ANY_DELETE, WIRE_LEN));
      out.byte(KEY_BODY_BYTES);
      out.digestField(KEY_DIGEST_FIELD, op, OP_KEY_OFFSET);
      return;
    default: {
      const inner = commitMetadataSize(op) + floorFieldSize(op);
      out.byte(fieldKey(OP_ANY_COMMIT_FLOOR, WIRE_LEN));
      out.varint(inner);
      if (op[COMMIT_FLAG_OFFSET] === 1) out.digestField(KEY_DIGEST_FIELD, op, COMMIT_METADATA_OFFSET);
      const floor = anyCommitFloor(op);
      if (floor !== 0n) {
        out.byte(KEY_FLOOR_FIELD);
        out.varint64(floor);
      }
    }
  }
}

function writeImmutableOperation(out: Out, op: Uint8Array): void {
  if (op[0] === IMMUTABLE_TAG.set) {
    out.byte(fieldKey(OP_IMMUTABLE_SET, WIRE_LEN));
    out.byte(KEY_VALUE_BODY_BYTES);
    writeKeyValue(out, op);
    return;
  }
  out.byte(fieldKey(OP_IMMUTABLE_COMMIT, WIRE_LEN));
  if (op[COMMIT_FLAG_OFFSET] === 1) {
    out.byte(DIGEST_FIELD_BYTES);
    out.digestField(KEY_DIGEST_FIELD, op, COMMIT_METADATA_OFFSET);
  } else {
    out.byte(0);
  }
}

function writeKeyValue(out: Out, op: Uint8Array): void {
  out.digestField(KEY_DIGEST_FIELD, op, OP_KEY_OFFSET);
  out.digestField(KEY_VALUE_FIELD, op, OP_VALUE_OFFSET);
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
    const v = readLenientVarint(this);
    if (v < 0) throw new WireError(field, v === VARINT_TRUNCATED ? "truncated varint" : "varint too large");
    return v;
  }
  varint64(field: string): bigint {
    const v = readLenientVarintU64(this);
    if (v < 0n) throw new WireError(field, v === BigInt(VARINT_TRUNCATED) ? "truncated varint" : "varint exceeds 64 bits");
    return v;
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
export function decodeOperationsResponse(input: Uint8Array, kind: DbKindName, limits: DecodeLimits): DecodedBatch {
  // A plain view: gRPC hands over a Buffer, whose element reads and views cost more.
  const bytes = new Uint8Array(input.buffer, input.byteOffset, input.length);
  const r = new In(bytes, 0, bytes.length);
  let startLoc = 0n;
  let proof: Proof | undefined;
  const opRanges: number[] = [];
  while (r.more()) {
    const tag = r.varint("tag");
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (field === RESPONSE_START_LOC && wire === WIRE_VARINT) startLoc = r.varint64("start_loc");
    else if (field === RESPONSE_PROOF && wire === WIRE_LEN) {
      r.len("proof");
      proof = decodeProof(bytes, r.lenStart, r.lenEnd, limits.maxDigests);
    } else if (field === RESPONSE_OPERATIONS && wire === WIRE_LEN) {
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
    if (field === PROOF_SIZE && wire === WIRE_VARINT) size = r.varint64("proof.size");
    else if (field === PROOF_DIGESTS && wire === WIRE_LEN) {
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
    if (field >= OP_ANY_UPDATE && field <= OP_IMMUTABLE_COMMIT && wire === WIRE_LEN) {
      if (variant !== 0) throw new WireError(NAME, "must set exactly one operation variant, got more");
      variant = field;
      r.len(NAME);
      bodyStart = r.lenStart;
      bodyEnd = r.lenEnd;
    } else r.skip(wire, NAME);
  }
  if (variant === 0) throw new WireError(NAME, "must set exactly one operation variant, got 0");
  const isAny = variant <= OP_ANY_COMMIT_FLOOR;
  if (isAny !== (kind === "any")) throw new WireError(NAME, `is not an operation of a${kind === "any" ? "n any" : "n immutable"} database`);
  const f = fields.read(bytes, bodyStart, bodyEnd);
  switch (variant) {
    case OP_ANY_UPDATE:
      out[at] = ANY_TAG.update;
      f.digest(BODY_KEY, "key", out, at + OP_KEY_OFFSET);
      f.digest(BODY_VALUE, "value", out, at + OP_VALUE_OFFSET);
      return ANY_OPERATION_BYTES;
    case OP_ANY_DELETE:
      out[at] = ANY_TAG.delete;
      f.digest(BODY_KEY, "key", out, at + OP_KEY_OFFSET);
      out.fill(0, at + OP_VALUE_OFFSET, at + ANY_OPERATION_BYTES);
      return ANY_OPERATION_BYTES;
    case OP_ANY_COMMIT_FLOOR: {
      out[at] = ANY_TAG.commitFloor;
      out.fill(0, at + 1, at + ANY_OPERATION_BYTES);
      if (f.has(BODY_METADATA)) {
        out[at + COMMIT_FLAG_OFFSET] = 1;
        f.digest(BODY_METADATA, "metadata", out, at + COMMIT_METADATA_OFFSET);
      }
      const floor = f.varint2;
      if (floor > MAX_LOCATION) throw new WireError(`${NAME}.floor_loc`, `${floor} exceeds the largest location 2^62 − 1`);
      new DataView(out.buffer, out.byteOffset + at + ANY_FLOOR_OFFSET, 8).setBigUint64(0, floor);
      return ANY_OPERATION_BYTES;
    }
    case OP_IMMUTABLE_SET:
      out[at] = IMMUTABLE_TAG.set;
      f.digest(BODY_KEY, "key", out, at + OP_KEY_OFFSET);
      f.digest(BODY_VALUE, "value", out, at + OP_VALUE_OFFSET);
      return IMMUTABLE_SET_BYTES;
    default: // OP_IMMUTABLE_COMMIT
      out[at] = IMMUTABLE_TAG.commit;
      if (f.has(BODY_METADATA)) {
        out[at + COMMIT_FLAG_OFFSET] = 1;
        f.digest(BODY_METADATA, "metadata", out, at + COMMIT_METADATA_OFFSET);
        return IMMUTABLE_COMMIT_WITH_METADATA_BYTES;
      }
      out[at + COMMIT_FLAG_OFFSET] = 0;
      return IMMUTABLE_COMMIT_BYTES;
  }
}

/** Fields 1 and 2 of an operation body, located once (the last occurrence of a field wins). */
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
      if (field === BODY_KEY && wire === WIRE_LEN) {
        r.len(NAME);
        this.start1 = r.lenStart;
        this.end1 = r.lenEnd;
      } else if (field === BODY_VALUE && wire === WIRE_LEN) {
        r.len(NAME);
        this.start2 = r.lenStart;
        this.end2 = r.lenEnd;
      } else if (field === BODY_FLOOR && wire === WIRE_VARINT) {
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
    if (s < 0 || e - s !== KEY_BYTES) throw new WireError(`${NAME}.${what}`, `must be ${KEY_BYTES} bytes, got ${s < 0 ? 0 : e - s}`);
    // A byte loop: cheaper than allocating a view to copy 32 bytes.
    const bytes = this.bytes;
    for (let i = 0; i < KEY_BYTES; i++) out[at + i] = bytes[s + i]!;
  }
}

const fields = new Fields();
