import fc from "fast-check";
import { CodecError } from "../codec";
import { decodeAnyOperation, decodeImmutableOperation, encodeAnyOperation, encodeImmutableOperation } from "./operation";
import { createAnyTestOperations, createImmutableTestOperations } from "./generator";
import { hex } from "../../test/helpers/vectors";
import { anyOperationArb, immutableOperationArb } from "../../test/helpers/arbitraries";

const anyOp = anyOperationArb;
const immutableOp = immutableOperationArb;

describe("operation encodings (docs/formats.md)", () => {
  test("pinned any encodings", () => {
    expect(hex(encodeAnyOperation({ type: "commitFloor", metadata: undefined, floorLoc: 0n }))).toBe("d3" + "00".repeat(64));
    expect(hex(encodeAnyOperation({ type: "commitFloor", metadata: undefined, floorLoc: 5n }))).toBe(
      "d3" + "00".repeat(33) + "0000000000000005" + "00".repeat(23),
    );
    const k = new Uint8Array(32).fill(0xaa);
    const v = new Uint8Array(32).fill(0xbb);
    expect(hex(encodeAnyOperation({ type: "update", key: k, value: v }))).toBe("d2" + "aa".repeat(32) + "bb".repeat(32));
    expect(hex(encodeAnyOperation({ type: "delete", key: k }))).toBe("d1" + "aa".repeat(32) + "00".repeat(32));
    expect(hex(encodeAnyOperation({ type: "commitFloor", metadata: v, floorLoc: 1n }))).toBe("d301" + "bb".repeat(32) + "0000000000000001" + "00".repeat(23));
  });

  test("pinned immutable encodings", () => {
    const k = new Uint8Array(32).fill(0xaa);
    expect(hex(encodeImmutableOperation({ type: "set", key: k, value: k }))).toBe("00" + "aa".repeat(64));
    expect(hex(encodeImmutableOperation({ type: "commit", metadata: undefined }))).toBe("0100");
    expect(hex(encodeImmutableOperation({ type: "commit", metadata: k }))).toBe("0101" + "aa".repeat(32));
  });

  test("round trips", () => {
    fc.assert(fc.property(anyOp, (op) => expect(decodeAnyOperation(encodeAnyOperation(op))).toEqual(op)));
    fc.assert(fc.property(immutableOp, (op) => expect(decodeImmutableOperation(encodeImmutableOperation(op))).toEqual(op)));
  });

  test("strict any decoding: tags, padding, option byte, floor bound, length", () => {
    const commit = encodeAnyOperation({ type: "commitFloor", metadata: undefined, floorLoc: 7n });
    const bad = (mutate: (b: Uint8Array) => void, kind: string): void => {
      const b = Uint8Array.from(commit);
      mutate(b);
      expect(() => decodeAnyOperation(b)).toThrow(new RegExp(kind));
    };
    bad((b) => (b[0] = 0xd4), "InvalidEnum");
    bad((b) => (b[1] = 2), "InvalidBool");
    bad((b) => (b[10] = 1), "Invalid");
    bad((b) => (b[64] = 1), "Invalid");
    bad((b) => (b[34] = 0x40), "Invalid"); // floor ≥ 2^62
    const del = encodeAnyOperation({ type: "delete", key: new Uint8Array(32) });
    del[40] = 1;
    expect(() => decodeAnyOperation(del)).toThrow(/padding/);
    expect(() => decodeAnyOperation(commit.subarray(0, 64))).toThrow(CodecError);
    expect(() => decodeAnyOperation(Uint8Array.from([...commit, 0]))).toThrow(/ExtraData/);
  });

  test("strict immutable decoding", () => {
    expect(() => decodeImmutableOperation(Uint8Array.of(2, 0))).toThrow(/InvalidEnum/);
    expect(() => decodeImmutableOperation(Uint8Array.of(1, 2))).toThrow(/InvalidBool/);
    expect(() => decodeImmutableOperation(Uint8Array.of(1, 0, 0))).toThrow(/ExtraData/);
    expect(() => decodeImmutableOperation(Uint8Array.of(1, 1, 0))).toThrow(/EndOfBuffer/);
    expect(() => decodeImmutableOperation(new Uint8Array(0))).toThrow(/EndOfBuffer/);
    expect(() => decodeImmutableOperation(new Uint8Array(64))).toThrow(/EndOfBuffer/);
  });

  test("keys, values and metadata must be 32 bytes", () => {
    expect(() => encodeAnyOperation({ type: "update", key: new Uint8Array(31), value: new Uint8Array(32) })).toThrow(/InvalidLength/);
    expect(() => encodeImmutableOperation({ type: "commit", metadata: new Uint8Array(33) })).toThrow(/InvalidLength/);
  });
});

describe("test-operation generator (docs/formats.md, generated operations)", () => {
  test("seed 12345 keys and values", () => {
    const ops = createAnyTestOperations(2, 12345n);
    expect(ops.map((o) => o.type)).toEqual(["update", "update", "commitFloor"]);
    const [a, b] = ops as Array<{ key: Uint8Array; value: Uint8Array }>;
    expect(hex(a!.key)).toBe("6a1045ef5563b47752cdbfd1891d6236e2cff7bb820c5456eb7b9b17beb83537");
    expect(hex(a!.value)).toBe("228b5dd50dbdddcab11f04223578998d518bc432d10636f46492215e61c8dfb0");
    expect(hex(b!.key)).toBe("5d34a4238f29fc2ac0c643de41ea6edda92ea9e0f33a7421af1c5441875be0b8");
    expect(hex(b!.value)).toBe("87be52ae67f9f8ff35a8973f0523abd28b7b0d2823275d242823d04c709c49f8");
  });

  test("list shapes: a commit after every 10th operation and at the end", () => {
    const any = createAnyTestOperations(50, 1n);
    expect(any).toHaveLength(56);
    expect(any.filter((o) => o.type === "commitFloor").map((o) => (o as { floorLoc: bigint }).floorLoc)).toEqual([10n, 20n, 30n, 40n, 50n, 50n]);
    const imm = createImmutableTestOperations(50, 1n);
    expect(imm).toHaveLength(56);
    const last = imm[imm.length - 1]!;
    expect(last.type === "commit" && hex(last.metadata!)).toBe("01".repeat(32));
    expect(createAnyTestOperations(0, 0n)).toHaveLength(1);
    const keysA = createImmutableTestOperations(3, 1n)
      .filter((o) => o.type === "set")
      .map((o) => hex((o as { key: Uint8Array }).key));
    const keysB = createImmutableTestOperations(3, 2n)
      .filter((o) => o.type === "set")
      .map((o) => hex((o as { key: Uint8Array }).key));
    expect(keysA.some((k) => keysB.includes(k))).toBe(false);
  });
});
