import fc from "fast-check";
import { GetOperationsResponse } from "../../gen/commonware/sync/v1/sync";
import { type AnyOperation, type ImmutableOperation, encodeAnyOperation, encodeImmutableOperation } from "../qmdb";
import { decodeOperationsResponse, encodeOperationsResponse } from "./batch-codec";
import { encodeProtoOperation, toProtoOperation, toProtoProof } from "./convert";
import { toHex as hex } from "../codec";
import { anyOperationArb, digestArb, immutableOperationArb } from "../../test/helpers/arbitraries";

const digest = digestArb;
const anyOp = anyOperationArb;
const immOp = immutableOperationArb;
const proof = fc.record({ size: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), digests: fc.array(digest, { maxLength: 8 }) });
const LIMITS = { maxDigests: 256, maxOperations: 10_000 };

describe("direct GetOperationsResponse codec", () => {
  test("encodes byte-for-byte like the generated code, and decodes what the generated code writes", () => {
    for (const [kind, arb, encode] of [
      ["any", anyOp, (o: AnyOperation | ImmutableOperation) => encodeAnyOperation(o as AnyOperation)],
      ["immutable", immOp, (o: AnyOperation | ImmutableOperation) => encodeImmutableOperation(o as ImmutableOperation)],
    ] as const) {
      fc.assert(
        fc.property(
          fc.bigInt({ min: 0n, max: (1n << 62n) - 1n }),
          proof,
          fc.array(arb as fc.Arbitrary<AnyOperation | ImmutableOperation>, { maxLength: 20 }),
          (startLoc, p, ops) => {
            const generated = Buffer.from(GetOperationsResponse.encode({ startLoc, proof: toProtoProof(p), operations: ops.map(toProtoOperation) }).finish());
            const encoded = ops.map(encode);
            expect(hex(encodeOperationsResponse(kind, startLoc, p, encoded))).toBe(hex(generated));
            expect(hex(encodeOperationsResponse(kind, startLoc, p, encoded, 5).subarray(5))).toBe(hex(generated)); // after headroom
            const decoded = decodeOperationsResponse(generated, kind, LIMITS);
            expect(decoded.startLoc).toBe(startLoc);
            expect(decoded.proof.size).toBe(p.size);
            expect(decoded.proof.digests.map(hex)).toEqual(p.digests.map(hex));
            expect(decoded.operations.map(hex)).toEqual(encoded.map(hex));
            // Same result as the generic path through the generated decoder.
            const viaGenerated = GetOperationsResponse.decode(generated).operations.map((o) => hex(encodeProtoOperation(kind, o)));
            expect(decoded.operations.map(hex)).toEqual(viaGenerated);
          },
        ),
        { numRuns: 200 },
      );
    }
  });

  test("rejects the wrong kind, repeated variants, short keys, oversized floors, truncation and excess", () => {
    const update = encodeAnyOperation({ type: "update", key: new Uint8Array(32).fill(1), value: new Uint8Array(32).fill(2) });
    const good = encodeOperationsResponse("any", 5n, { size: 19n, digests: [new Uint8Array(32)] }, [update, update]);
    expect(() => decodeOperationsResponse(good, "immutable", LIMITS)).toThrow(/immutable database/);
    for (let cut = 1; cut < good.length; cut++) {
      let ok = true;
      try {
        decodeOperationsResponse(good.subarray(0, cut), "any", LIMITS);
      } catch {
        ok = false;
      }
      // A cut exactly between two top-level fields (start_loc: 2 bytes, proof: 38, each
      // operation: 72) is a valid shorter message; a cut anywhere else must fail.
      expect(ok).toBe([2, 40, 112].includes(cut));
    }
    expect(() => decodeOperationsResponse(good, "any", { maxDigests: 0, maxOperations: 10 })).toThrow(/more than 0 digests/);
    expect(() => decodeOperationsResponse(good, "any", { maxDigests: 5, maxOperations: 1 })).toThrow(/more than 1 operations/);
    const twoVariants = Buffer.from(
      GetOperationsResponse.encode({
        startLoc: 0n,
        operations: [{ anyUpdate: { key: Buffer.alloc(32), value: Buffer.alloc(32) }, anyDelete: { key: Buffer.alloc(32) } }],
      }).finish(),
    );
    expect(() => decodeOperationsResponse(twoVariants, "any", LIMITS)).toThrow(/exactly one/);
    const shortKey = Buffer.from(GetOperationsResponse.encode({ startLoc: 0n, operations: [{ anyDelete: { key: Buffer.alloc(31) } }] }).finish());
    expect(() => decodeOperationsResponse(shortKey, "any", LIMITS)).toThrow(/key: must be 32 bytes/);
    const bigFloor = Buffer.from(GetOperationsResponse.encode({ startLoc: 0n, operations: [{ anyCommitFloor: { floorLoc: 1n << 62n } }] }).finish());
    expect(() => decodeOperationsResponse(bigFloor, "any", LIMITS)).toThrow(/floor_loc/);
    const empty = Buffer.from(GetOperationsResponse.encode({ startLoc: 0n, operations: [{}] }).finish());
    expect(() => decodeOperationsResponse(empty, "any", LIMITS)).toThrow(/got 0/);
    const badDigest = Buffer.from(GetOperationsResponse.encode({ startLoc: 0n, proof: { size: 1n, digests: [Buffer.alloc(33)] }, operations: [] }).finish());
    expect(() => decodeOperationsResponse(badDigest, "any", LIMITS)).toThrow(/proof.digests\[0\]/);
  });

  test("unknown fields are skipped", () => {
    const update = encodeAnyOperation({ type: "update", key: new Uint8Array(32).fill(1), value: new Uint8Array(32).fill(2) });
    const good = encodeOperationsResponse("any", 5n, { size: 19n, digests: [] }, [update]);
    const withUnknown = Buffer.concat([Buffer.from([0x78, 0x05, 0x82, 0x01, 0x02, 0xaa, 0xbb]), good]); // field 15 varint, field 16 LEN
    expect(hex(decodeOperationsResponse(withUnknown, "any", LIMITS).operations[0]!)).toBe(hex(update));
  });
});
