/**
 * The operations both databases log, and their exact commonware encodings (these bytes are the
 * MMR leaf elements, so they decide every root).
 * `any` (fixed 65 bytes, zero padded): Update `D2‖key‖value`, Delete `D1‖key‖0×32`,
 * CommitFloor `D3‖has-metadata‖metadata-or-zeros(32)‖floor u64 BE‖0×23`.
 * `immutable` (variable): Set `00‖key‖value`, Commit `01‖00` or `01‖01‖metadata`.
 */
import { CodecError } from "../codec";
import { MAX_LOCATION } from "../mmr";

/** Size of keys, values and metadata: 32-byte digests. */
export const KEY_BYTES = 32;

/** First byte of each encoded `any` operation. */
export const ANY_TAG = { delete: 0xd1, update: 0xd2, commitFloor: 0xd3 } as const;
/** First byte of each encoded `immutable` operation. */
export const IMMUTABLE_TAG = { set: 0x00, commit: 0x01 } as const;

// Byte layout of an encoded operation (the tag is byte 0).
/** Where the key of an Update, Delete or Set starts. */
export const OP_KEY_OFFSET = 1;
/** Where the value of an Update or Set starts (right after the key). */
export const OP_VALUE_OFFSET = OP_KEY_OFFSET + KEY_BYTES;
/** The has-metadata flag (0 or 1) of a commit. */
export const COMMIT_FLAG_OFFSET = 1;
/** Where a commit's metadata starts (`any` reserves the bytes even without metadata). */
export const COMMIT_METADATA_OFFSET = 2;
/** Where the floor (u64 BE) of an `any` CommitFloor starts. */
export const ANY_FLOOR_OFFSET = COMMIT_METADATA_OFFSET + KEY_BYTES;
/** Size of every encoded `any` operation: the largest variant, tag ‖ key ‖ value. */
export const ANY_OPERATION_BYTES = OP_VALUE_OFFSET + KEY_BYTES;
/** Size of an encoded `immutable` Set. */
export const IMMUTABLE_SET_BYTES = OP_VALUE_OFFSET + KEY_BYTES;
/** Size of an encoded `immutable` Commit without and with metadata. */
export const IMMUTABLE_COMMIT_BYTES = COMMIT_METADATA_OFFSET;
export const IMMUTABLE_COMMIT_WITH_METADATA_BYTES = COMMIT_METADATA_OFFSET + KEY_BYTES;

/** The key of an encoded Update, Delete or Set (a view, not a copy). */
export function operationKey(bytes: Uint8Array): Uint8Array {
  return bytes.subarray(OP_KEY_OFFSET, OP_VALUE_OFFSET);
}

/** A copy of the value of an encoded Update or Set. */
export function operationValue(bytes: Uint8Array): Uint8Array {
  return bytes.slice(OP_VALUE_OFFSET, OP_VALUE_OFFSET + KEY_BYTES);
}

/** The floor of an encoded `any` CommitFloor. */
export function anyCommitFloor(bytes: Uint8Array): bigint {
  return new DataView(bytes.buffer, bytes.byteOffset + ANY_FLOOR_OFFSET, 8).getBigUint64(0);
}

const ANY_DELETE = ANY_TAG.delete;
const ANY_UPDATE = ANY_TAG.update;
const ANY_COMMIT_FLOOR = ANY_TAG.commitFloor;
const IMMUTABLE_SET = IMMUTABLE_TAG.set;
const IMMUTABLE_COMMIT = IMMUTABLE_TAG.commit;
const VALUE_END = OP_VALUE_OFFSET + KEY_BYTES;
const METADATA_END = COMMIT_METADATA_OFFSET + KEY_BYTES;
const FLOOR_END = ANY_FLOOR_OFFSET + 8;

/** An operation of the `any` database. */
export type AnyOperation =
  | { readonly type: "update"; readonly key: Uint8Array; readonly value: Uint8Array }
  | { readonly type: "delete"; readonly key: Uint8Array }
  | { readonly type: "commitFloor"; readonly metadata: Uint8Array | undefined; readonly floorLoc: bigint };

/** An operation of the `immutable` database. */
export type ImmutableOperation =
  { readonly type: "set"; readonly key: Uint8Array; readonly value: Uint8Array } | { readonly type: "commit"; readonly metadata: Uint8Array | undefined };

/** Either kind of operation. */
export type Operation = AnyOperation | ImmutableOperation;

function checkDigest(bytes: Uint8Array, what: string): void {
  if (bytes.length !== KEY_BYTES) throw new CodecError("InvalidLength", `${what} must be ${KEY_BYTES} bytes, got ${bytes.length}`);
}

/** Encodes an `any` operation into its 65-byte form. */
export function encodeAnyOperation(op: AnyOperation): Uint8Array {
  const out = new Uint8Array(ANY_OPERATION_BYTES);
  switch (op.type) {
    case "update":
      checkDigest(op.key, "key");
      checkDigest(op.value, "value");
      out[0] = ANY_UPDATE;
      out.set(op.key, OP_KEY_OFFSET);
      out.set(op.value, OP_VALUE_OFFSET);
      break;
    case "delete":
      checkDigest(op.key, "key");
      out[0] = ANY_DELETE;
      out.set(op.key, OP_KEY_OFFSET);
      break;
    case "commitFloor":
      if (op.floorLoc < 0n || op.floorLoc > MAX_LOCATION) throw new CodecError("Invalid", `commit floor location ${op.floorLoc} overflows`);
      out[0] = ANY_COMMIT_FLOOR;
      if (op.metadata !== undefined) {
        checkDigest(op.metadata, "metadata");
        out[COMMIT_FLAG_OFFSET] = 1;
        out.set(op.metadata, COMMIT_METADATA_OFFSET);
      }
      new DataView(out.buffer).setBigUint64(ANY_FLOOR_OFFSET, op.floorLoc);
      break;
  }
  return out;
}

function allZero(bytes: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (bytes[i] !== 0) return false;
  return true;
}

/**
 * Decodes a 65-byte `any` operation strictly: unknown tags, non-zero padding, a bad option byte
 * and floors above MAX_LOCATION are `CodecError`s. The returned key/value are copies.
 */
export function decodeAnyOperation(bytes: Uint8Array): AnyOperation {
  if (bytes.length !== ANY_OPERATION_BYTES) {
    throw new CodecError(
      bytes.length < ANY_OPERATION_BYTES ? "EndOfBuffer" : "ExtraData",
      `any operation must be ${ANY_OPERATION_BYTES} bytes, got ${bytes.length}`,
    );
  }
  switch (bytes[0]) {
    case ANY_UPDATE:
      return { type: "update", key: bytes.slice(OP_KEY_OFFSET, OP_VALUE_OFFSET), value: bytes.slice(OP_VALUE_OFFSET, VALUE_END) };
    case ANY_DELETE:
      if (!allZero(bytes, OP_VALUE_OFFSET, ANY_OPERATION_BYTES)) throw new CodecError("Invalid", "delete operation has non-zero padding");
      return { type: "delete", key: bytes.slice(OP_KEY_OFFSET, OP_VALUE_OFFSET) };
    case ANY_COMMIT_FLOOR: {
      const has = bytes[COMMIT_FLAG_OFFSET];
      if (has !== 0 && has !== 1) throw new CodecError("InvalidBool", `commit metadata flag ${has} is not 0 or 1`);
      if (has === 0 && !allZero(bytes, COMMIT_METADATA_OFFSET, METADATA_END))
        throw new CodecError("Invalid", "commit without metadata has non-zero metadata bytes");
      if (!allZero(bytes, FLOOR_END, ANY_OPERATION_BYTES)) throw new CodecError("Invalid", "commit operation has non-zero padding");
      const floorLoc = anyCommitFloor(bytes);
      if (floorLoc > MAX_LOCATION) throw new CodecError("Invalid", `commit floor location ${floorLoc} overflows`);
      return { type: "commitFloor", metadata: has === 1 ? bytes.slice(COMMIT_METADATA_OFFSET, METADATA_END) : undefined, floorLoc };
    }
    default:
      throw new CodecError("InvalidEnum", `unknown any operation tag 0x${bytes[0]!.toString(16).padStart(2, "0")}`);
  }
}

/** Encodes an `immutable` operation (65, 2 or 34 bytes). */
export function encodeImmutableOperation(op: ImmutableOperation): Uint8Array {
  if (op.type === "set") {
    checkDigest(op.key, "key");
    checkDigest(op.value, "value");
    const out = new Uint8Array(IMMUTABLE_SET_BYTES);
    out[0] = IMMUTABLE_SET;
    out.set(op.key, OP_KEY_OFFSET);
    out.set(op.value, OP_VALUE_OFFSET);
    return out;
  }
  if (op.metadata === undefined) return Uint8Array.of(IMMUTABLE_COMMIT, 0);
  checkDigest(op.metadata, "metadata");
  const out = new Uint8Array(IMMUTABLE_COMMIT_WITH_METADATA_BYTES);
  out[0] = IMMUTABLE_COMMIT;
  out[COMMIT_FLAG_OFFSET] = 1;
  out.set(op.metadata, COMMIT_METADATA_OFFSET);
  return out;
}

/** Decodes an `immutable` operation strictly (exact length, known tag, 0/1 option byte). */
export function decodeImmutableOperation(bytes: Uint8Array): ImmutableOperation {
  const tag = bytes[0];
  if (tag === undefined) throw new CodecError("EndOfBuffer", "empty immutable operation");
  let expected: number;
  if (tag === IMMUTABLE_SET) expected = IMMUTABLE_SET_BYTES;
  else if (tag === IMMUTABLE_COMMIT) {
    const has = bytes[COMMIT_FLAG_OFFSET];
    if (has === undefined) throw new CodecError("EndOfBuffer", "commit operation is missing its metadata flag");
    if (has !== 0 && has !== 1) throw new CodecError("InvalidBool", `commit metadata flag ${has} is not 0 or 1`);
    expected = has === 1 ? IMMUTABLE_COMMIT_WITH_METADATA_BYTES : IMMUTABLE_COMMIT_BYTES;
  } else {
    throw new CodecError("InvalidEnum", `unknown immutable operation tag 0x${tag.toString(16).padStart(2, "0")}`);
  }
  if (bytes.length !== expected) {
    throw new CodecError(bytes.length < expected ? "EndOfBuffer" : "ExtraData", `immutable operation must be ${expected} bytes, got ${bytes.length}`);
  }
  if (tag === IMMUTABLE_SET) return { type: "set", key: bytes.slice(OP_KEY_OFFSET, OP_VALUE_OFFSET), value: bytes.slice(OP_VALUE_OFFSET, VALUE_END) };
  return { type: "commit", metadata: expected === IMMUTABLE_COMMIT_BYTES ? undefined : bytes.slice(COMMIT_METADATA_OFFSET, METADATA_END) };
}

/** Whether an operation is a commit (the only kind a durable log may end with). */
export function isCommit(op: Operation): boolean {
  return op.type === "commitFloor" || op.type === "commit";
}
