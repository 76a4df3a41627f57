/** fast-check generators shared by property tests: digests and operations of both database kinds. */
import fc from "fast-check";
import type { AnyOperation, ImmutableOperation } from "../../src/qmdb";

/** A 32-byte key, value, metadata or node digest. */
export const digestArb = fc.uint8Array({ minLength: 32, maxLength: 32 });

/** Any `any` operation, floors over the whole location range. */
export const anyOperationArb: fc.Arbitrary<AnyOperation> = fc.oneof(
  fc.record({ type: fc.constant("update" as const), key: digestArb, value: digestArb }),
  fc.record({ type: fc.constant("delete" as const), key: digestArb }),
  fc.record({
    type: fc.constant("commitFloor" as const),
    metadata: fc.option(digestArb, { nil: undefined }),
    floorLoc: fc.bigInt({ min: 0n, max: (1n << 62n) - 1n }),
  }),
);

/** Any `immutable` operation. */
export const immutableOperationArb: fc.Arbitrary<ImmutableOperation> = fc.oneof(
  fc.record({ type: fc.constant("set" as const), key: digestArb, value: digestArb }),
  fc.record({ type: fc.constant("commit" as const), metadata: fc.option(digestArb, { nil: undefined }) }),
);
