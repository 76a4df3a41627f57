/**
 * commonware's deterministic test-operation generator (`create_test_operations`), used by the
 * server for its initial load and periodic batches:
 *   key_i = SHA256(be64(i) ‖ be64(seed)), value_i = SHA256(key_i ‖ "value"),
 * with a commit after every 10th operation and a final commit (`any`: CommitFloor(None, count);
 * `immutable`: Commit(32 × 0x01)).
 */
import { sha256 } from "../mmr";
import type { AnyOperation, ImmutableOperation } from "./operation";

const VALUE_SUFFIX = new TextEncoder().encode("value");

function keyValue(i: number, seed: bigint): { key: Uint8Array; value: Uint8Array } {
  const input = new Uint8Array(16);
  const view = new DataView(input.buffer);
  view.setBigUint64(0, BigInt(i));
  view.setBigUint64(8, BigInt.asUintN(64, seed));
  const key = sha256(input);
  const valueInput = new Uint8Array(key.length + VALUE_SUFFIX.length);
  valueInput.set(key);
  valueInput.set(VALUE_SUFFIX, key.length);
  return { key, value: sha256(valueInput) };
}

function checkCount(count: number): void {
  if (!Number.isSafeInteger(count) || count < 0) throw new RangeError(`operation count ${count} must be a non-negative integer`);
}

/** `count` updates with a CommitFloor after every 10th and at the end (count + ⌊count/10⌋ + 1 ops). */
export function createAnyTestOperations(count: number, seed: bigint): AnyOperation[] {
  return [...anyTestOperations(count, seed)];
}

/** `createAnyTestOperations`, one operation at a time (a large load never holds them all). */
export function* anyTestOperations(count: number, seed: bigint): Generator<AnyOperation, void, undefined> {
  checkCount(count);
  for (let i = 0; i < count; i++) {
    yield { type: "update", ...keyValue(i, seed) };
    if ((i + 1) % 10 === 0) yield { type: "commitFloor", metadata: undefined, floorLoc: BigInt(i + 1) };
  }
  yield { type: "commitFloor", metadata: undefined, floorLoc: BigInt(count) };
}

/** `count` sets with a Commit after every 10th and a final Commit carrying 32 × 0x01. */
export function createImmutableTestOperations(count: number, seed: bigint): ImmutableOperation[] {
  return [...immutableTestOperations(count, seed)];
}

/** `createImmutableTestOperations`, one operation at a time. */
export function* immutableTestOperations(count: number, seed: bigint): Generator<ImmutableOperation, void, undefined> {
  checkCount(count);
  for (let i = 0; i < count; i++) {
    yield { type: "set", ...keyValue(i, seed) };
    if ((i + 1) % 10 === 0) yield { type: "commit", metadata: undefined };
  }
  yield { type: "commit", metadata: new Uint8Array(32).fill(1) };
}

/** Number of operations the generator makes for `count` keys: count + ⌊count/10⌋ + 1. */
export function testOperationCount(count: number): number {
  checkCount(count);
  return count + Math.floor(count / 10) + 1;
}

/**
 * The generator for either kind: `count` keyed operations from `seed`, a commit after every 10th
 * and a final commit (count + ⌊count/10⌋ + 1 operations).
 */
export function createTestOperations(kind: "any", count: number, seed: bigint): AnyOperation[];
export function createTestOperations(kind: "immutable", count: number, seed: bigint): ImmutableOperation[];
export function createTestOperations(kind: "any" | "immutable", count: number, seed: bigint): AnyOperation[] | ImmutableOperation[];
export function createTestOperations(kind: "any" | "immutable", count: number, seed: bigint): AnyOperation[] | ImmutableOperation[] {
  return kind === "any" ? createAnyTestOperations(count, seed) : createImmutableTestOperations(count, seed);
}

/** `createTestOperations`, one operation at a time (a large load never holds them all). */
export function testOperations(kind: "any" | "immutable", count: number, seed: bigint): Generator<AnyOperation | ImmutableOperation, void, undefined> {
  return kind === "any" ? anyTestOperations(count, seed) : immutableTestOperations(count, seed);
}
