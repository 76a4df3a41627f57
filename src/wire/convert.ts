/**
 * Conversions between the domain types (operations, proofs, targets) and the generated protobuf
 * messages of `commonware.sync.v1`. Decoding is strict: whatever a peer sends is checked (one
 * operation variant of the expected database kind, 32-byte keys/values/digests, bounded counts)
 * and turned into the canonical operation bytes that the verifier hashes.
 */
import { DatabaseKind, type Operation as ProtoOperation, type Proof as ProtoProof, type SyncTarget as ProtoTarget } from "../../gen/commonware/sync/v1/sync";
import { DIGEST_BYTES, MAX_LOCATION, type Proof } from "../mmr";
import type { SyncTarget } from "../sync";
import { type AnyOperation, type DbKindName, type ImmutableOperation, type Operation, encodeAnyOperation, encodeImmutableOperation } from "../qmdb";

/** A peer's message broke the protocol; `field` names what was wrong. */
export class WireError extends Error {
  override name = "WireError";
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

/** The protobuf enum value of a database kind. */
export function toProtoKind(kind: DbKindName): DatabaseKind {
  return kind === "any" ? DatabaseKind.DATABASE_KIND_ANY : DatabaseKind.DATABASE_KIND_IMMUTABLE;
}

/** The database kind of a protobuf enum value, or undefined for unspecified/unknown values. */
export function fromProtoKind(kind: DatabaseKind): DbKindName | undefined {
  if (kind === DatabaseKind.DATABASE_KIND_ANY) return "any";
  if (kind === DatabaseKind.DATABASE_KIND_IMMUTABLE) return "immutable";
  return undefined;
}

const buf = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.byteLength);

/** The protobuf form of an operation. */
export function toProtoOperation(op: Operation): ProtoOperation {
  switch (op.type) {
    case "update":
      return { anyUpdate: { key: buf(op.key), value: buf(op.value) } };
    case "delete":
      return { anyDelete: { key: buf(op.key) } };
    case "commitFloor":
      return { anyCommitFloor: { metadata: op.metadata === undefined ? undefined : buf(op.metadata), floorLoc: op.floorLoc } };
    case "set":
      return { immutableSet: { key: buf(op.key), value: buf(op.value) } };
    case "commit":
      return { immutableCommit: { metadata: op.metadata === undefined ? undefined : buf(op.metadata) } };
  }
}

function digest(bytes: Uint8Array | undefined, field: string): Uint8Array {
  if (bytes === undefined || bytes.length !== DIGEST_BYTES) {
    throw new WireError(field, `must be ${DIGEST_BYTES} bytes, got ${bytes?.length ?? 0}`);
  }
  return bytes;
}

/**
 * Checks a peer's operation and returns it for a database of `kind`. Throws `WireError` unless
 * exactly one variant of that kind is set with well-formed fields.
 */
export function fromProtoOperation(kind: DbKindName, op: ProtoOperation, field = "operation"): AnyOperation | ImmutableOperation {
  let set = 0;
  for (const v of [op.anyUpdate, op.anyDelete, op.anyCommitFloor, op.immutableSet, op.immutableCommit]) if (v !== undefined) set++;
  if (set !== 1) throw new WireError(field, `must set exactly one operation variant, got ${set}`);
  if (kind === "any") {
    if (op.anyUpdate) return { type: "update", key: digest(op.anyUpdate.key, `${field}.key`), value: digest(op.anyUpdate.value, `${field}.value`) };
    if (op.anyDelete) return { type: "delete", key: digest(op.anyDelete.key, `${field}.key`) };
    if (op.anyCommitFloor) {
      const { metadata, floorLoc } = op.anyCommitFloor;
      if (floorLoc > MAX_LOCATION) throw new WireError(`${field}.floor_loc`, `${floorLoc} exceeds the largest location ${MAX_LOCATION}`);
      return { type: "commitFloor", metadata: metadata === undefined ? undefined : digest(metadata, `${field}.metadata`), floorLoc };
    }
  } else {
    if (op.immutableSet) return { type: "set", key: digest(op.immutableSet.key, `${field}.key`), value: digest(op.immutableSet.value, `${field}.value`) };
    if (op.immutableCommit) {
      const { metadata } = op.immutableCommit;
      return { type: "commit", metadata: metadata === undefined ? undefined : digest(metadata, `${field}.metadata`) };
    }
  }
  throw new WireError(field, `is not an operation of a${kind === "any" ? "n any" : "n immutable"} database`);
}

/** Checks a peer's operation and returns its canonical encoding (the bytes an MMR leaf hashes). */
export function encodeProtoOperation(kind: DbKindName, op: ProtoOperation, field?: string): Uint8Array {
  const decoded = fromProtoOperation(kind, op, field);
  return kind === "any" ? encodeAnyOperation(decoded as AnyOperation) : encodeImmutableOperation(decoded as ImmutableOperation);
}

/** The protobuf form of a proof. */
export function toProtoProof(proof: Proof): ProtoProof {
  return { size: proof.size, digests: proof.digests.map(buf) };
}

/** The protobuf form of a target. */
export function toProtoTarget(target: SyncTarget): ProtoTarget {
  return { root: buf(target.root), lowerBound: target.lowerBound, upperBound: target.upperBound };
}

/** Checks a peer's target: a 32-byte root and `lowerBound < upperBound ≤ 2^62`. */
export function fromProtoTarget(target: ProtoTarget | undefined): SyncTarget {
  if (target === undefined) throw new WireError("target", "is missing");
  const root = digest(target.root, "target.root");
  if (target.lowerBound >= target.upperBound) {
    throw new WireError("target", `lower_bound ${target.lowerBound} must be below upper_bound ${target.upperBound}`);
  }
  if (target.upperBound > MAX_LOCATION + 1n) throw new WireError("target.upper_bound", `${target.upperBound} exceeds 2^62`);
  return { root, lowerBound: target.lowerBound, upperBound: target.upperBound };
}
