import { createHash } from "node:crypto";
import fc from "fast-check";
import {
  DIGEST_BYTES,
  SHA256_BATCH_IMPLEMENTATION,
  SHA256_IMPLEMENTATION,
  hashInputInto,
  inputBuffer,
  sha256,
  sha256Into,
  sha256Many,
  sha256Nodes,
} from "./sha256";
import { toHex as hex } from "../codec";

const ref = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");

describe("sha256 (hot path)", () => {
  test("uses the wasm module (its self-test passed on this machine)", () => {
    expect(SHA256_IMPLEMENTATION).toBe("hash-wasm");
  });

  test("published vector and reuse (the module resets between hashes)", () => {
    const hello = new TextEncoder().encode("hello world");
    expect(hex(sha256(hello))).toBe("b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9");
    expect(hex(sha256(hello))).toBe("b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9");
  });

  test("equals node:crypto for every length 0..300, above the 16 KiB wasm buffer, and random inputs", () => {
    const buf = new Uint8Array(20_000).map((_, i) => (i * 131 + 7) & 0xff);
    for (let n = 0; n <= 300; n++) expect(hex(sha256(buf.subarray(0, n)))).toBe(ref(buf.subarray(0, n)));
    for (const n of [16 * 1024 - 1, 16 * 1024, 16 * 1024 + 1, 20_000]) expect(hex(sha256(buf.subarray(0, n)))).toBe(ref(buf.subarray(0, n)));
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 500 }), (b) => expect(hex(sha256(b))).toBe(ref(b))),
      { numRuns: 300 },
    );
  });

  test("Into forms write exactly 32 bytes at the offset; inputBuffer/hashInputInto hash in place", () => {
    const out = new Uint8Array(100).fill(0xee);
    sha256Into(new Uint8Array([1, 2, 3]), out, 10);
    expect(hex(out.subarray(10, 10 + DIGEST_BYTES))).toBe(ref(new Uint8Array([1, 2, 3])));
    expect(out[9]).toBe(0xee);
    expect(out[10 + DIGEST_BYTES]).toBe(0xee);
    const input = inputBuffer(73);
    for (let i = 0; i < 73; i++) input[i] = i;
    const digest = new Uint8Array(32);
    hashInputInto(73, digest, 0);
    expect(hex(digest)).toBe(ref(Uint8Array.from({ length: 73 }, (_, i) => i)));
  });
});

/** The module as loaded with the native addon disabled, to pin the fallback path too. */
function withoutNative(): typeof import("./sha256") {
  const saved = process.env.SHA256_NATIVE;
  process.env.SHA256_NATIVE = "off";
  try {
    let mod: typeof import("./sha256") | undefined;
    jest.isolateModules(() => {
      mod = jest.requireActual<typeof import("./sha256")>("./sha256");
    });
    return mod!;
  } finally {
    if (saved === undefined) delete process.env.SHA256_NATIVE;
    else process.env.SHA256_NATIVE = saved;
  }
}

/** Reference for one MMR node: SHA256(be64(pos) ‖ left ‖ right), straight from node:crypto. */
function refNode(pos: bigint, left: Uint8Array, right: Uint8Array): string {
  const p = new Uint8Array(8);
  new DataView(p.buffer).setBigUint64(0, pos);
  return createHash("sha256").update(p).update(left).update(right).digest("hex");
}

/**
 * The error's class name: the addon throws the main realm's RangeError/TypeError, which are not
 * jest's sandbox globals, so `toThrow(RangeError)` cannot be used.
 */
function errorName(fn: () => void): string {
  try {
    fn();
  } catch (err) {
    return (err as Error).name;
  }
  return "no error";
}

/** Messages back to back and their n + 1 boundaries. */
function pack(messages: readonly Uint8Array[]): { input: Uint8Array; offsets: Uint32Array } {
  const offsets = new Uint32Array(messages.length + 1);
  messages.forEach((m, i) => (offsets[i + 1] = offsets[i]! + m.length));
  const input = new Uint8Array(offsets[messages.length]!);
  messages.forEach((m, i) => input.set(m, offsets[i]!));
  return { input, offsets };
}

describe("batched sha256", () => {
  let fallback: typeof import("./sha256");
  beforeAll(() => {
    fallback = withoutNative();
  });

  test("batches use the native addon here (npm ci built it; its self-test passed); SHA256_NATIVE=off falls back to wasm", () => {
    expect(SHA256_BATCH_IMPLEMENTATION).toBe("native");
    expect(fallback.SHA256_BATCH_IMPLEMENTATION).toBe("hash-wasm");
  });

  const paths = (): Array<[string, typeof sha256Many, typeof sha256Nodes]> => [
    ["native", sha256Many, sha256Nodes],
    ["fallback", fallback.sha256Many, fallback.sha256Nodes],
  ];

  test("sha256Many equals node:crypto on every length 0..200 in one batch, and on random batches (0, 1, odd, large)", () => {
    for (const [name, many] of paths()) {
      const buf = new Uint8Array(201).map((_, i) => (i * 151 + 3) & 0xff);
      const messages = Array.from({ length: 201 }, (_, n) => buf.subarray(0, n));
      const { input, offsets } = pack(messages);
      const out = new Uint8Array(201 * DIGEST_BYTES);
      many(input, offsets, out);
      messages.forEach((m, i) => expect(`${name} ${i}: ${hex(out.subarray(32 * i, 32 * i + 32))}`).toBe(`${name} ${i}: ${ref(m)}`));
      const check = (batch: readonly Uint8Array[]): void => {
        const packed = pack(batch);
        const got = new Uint8Array(batch.length * DIGEST_BYTES);
        many(packed.input, packed.offsets, got);
        batch.forEach((m, i) => expect(hex(got.subarray(32 * i, 32 * i + 32))).toBe(ref(m)));
      };
      check([]);
      check([new Uint8Array(0)]);
      check(Array.from({ length: 4001 }, (_, i) => buf.subarray(i % 7, (i % 7) + 73)));
      fc.assert(fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 41 }), check), { numRuns: 100 });
    }
  });

  test("sha256Many hashes sub-views and leaves the rest of out alone", () => {
    for (const [, many] of paths()) {
      const backing = new Uint8Array(300).map((_, i) => i & 0xff);
      const input = backing.subarray(17, 217);
      const outBacking = new Uint8Array(3 * DIGEST_BYTES + 2).fill(0xee);
      many(input, Uint32Array.of(5, 5, 77, 200), outBacking.subarray(1, 1 + 3 * DIGEST_BYTES));
      expect(hex(outBacking.subarray(1, 33))).toBe(ref(new Uint8Array(0)));
      expect(hex(outBacking.subarray(33, 65))).toBe(ref(input.subarray(5, 77)));
      expect(hex(outBacking.subarray(65, 97))).toBe(ref(input.subarray(77, 200)));
      expect([outBacking[0], outBacking[97]]).toEqual([0xee, 0xee]);
    }
  });

  test("sha256Many rejects bad boundaries and output sizes and writes nothing", () => {
    for (const [, many] of paths()) {
      const input = new Uint8Array(10);
      const out = new Uint8Array(64).fill(7);
      expect(errorName(() => many(input, new Uint32Array(0), new Uint8Array(0)))).toBe("RangeError");
      expect(errorName(() => many(input, Uint32Array.of(0, 5, 4), out))).toBe("RangeError"); // decreasing
      expect(errorName(() => many(input, Uint32Array.of(0, 5, 11), out))).toBe("RangeError"); // past the end
      expect(errorName(() => many(input, Uint32Array.of(0, 5, 10), out.subarray(0, 63)))).toBe("RangeError");
      expect(errorName(() => many(input, Uint32Array.of(0, 5, 10), new Uint8Array(96)))).toBe("RangeError");
      expect(errorName(() => many(input, Uint32Array.of(3), out))).toBe("RangeError"); // 0 messages need 0 output bytes
      expect(out.every((b) => b === 7)).toBe(true);
    }
    // The addon checks types itself too (TypeScript cannot protect callers in plain JavaScript).
    const untyped = sha256Many as unknown as (...args: unknown[]) => void;
    expect(errorName(() => untyped(new Uint16Array(4), new Uint32Array(1), new Uint8Array(0)))).toBe("TypeError");
    expect(errorName(() => untyped(new Uint8Array(4), [0, 4], new Uint8Array(32)))).toBe("TypeError");
    expect(errorName(() => untyped(new Uint8Array(4), Uint32Array.of(0, 4)))).toBe("TypeError");
  });

  test("sha256Nodes equals node:crypto per node for every height, across the 2^32 carry and up to 2^64 − 1", () => {
    for (const [name, , nodes] of paths()) {
      for (const base of [0n, 5n, (1n << 32n) - 3n, (1n << 53n) + 1n, (1n << 64n) - 1n - 1000n]) {
        for (let height = 1; height <= 8; height++) {
          const digests = new Uint8Array(1000 * DIGEST_BYTES).map((_, i) => (i * 29 + height) & 0xff);
          const before = Uint8Array.from(digests);
          const slots = Uint32Array.from({ length: 7 }, (_, i) => 2 ** height + i * 61 + (height % 3));
          nodes(digests, slots, height, base);
          // Expected: every node slot from its children (read before the call), every other slot untouched.
          const expected = Uint8Array.from(before);
          for (const r of slots) {
            const left = before.subarray((r - 2 ** height) * 32, (r - 2 ** height + 1) * 32);
            const right = before.subarray((r - 1) * 32, r * 32);
            expected.set(Buffer.from(refNode(base + BigInt(r), left, right), "hex"), r * 32);
          }
          expect(`${name} ${base} ${height}: ${hex(digests)}`).toBe(`${name} ${base} ${height}: ${hex(expected)}`);
        }
      }
      const empty = new Uint8Array(0);
      nodes(empty, new Uint32Array(0), 1, 0n); // no nodes: nothing to do
    }
  });

  test("sha256Nodes rejects slots whose children or position fall outside and writes nothing", () => {
    for (const [, , nodes] of paths()) {
      const digests = new Uint8Array(8 * DIGEST_BYTES).fill(3);
      const bad: Array<[Uint32Array, number, bigint]> = [
        [Uint32Array.of(2, 1), 1, 0n], // slot 1 has no left child at −1
        [Uint32Array.of(3), 2, 0n], // height 2: left child at 3 − 4 < 0
        [Uint32Array.of(2, 8), 1, 0n], // slot 8 past the end
        [Uint32Array.of(2), 0, 0n], // height 0 is a leaf
        [Uint32Array.of(2), 63, 0n],
        [Uint32Array.of(2), 1.5, 0n],
        [Uint32Array.of(2), 1, -1n],
        [Uint32Array.of(2), 1, 1n << 64n],
        [Uint32Array.of(2), 1, (1n << 64n) - 2n], // base + 2 = 2^64
      ];
      for (const [slots, height, base] of bad) {
        expect(errorName(() => nodes(digests, slots, height, base))).toBe("RangeError");
        expect(digests.every((b) => b === 3)).toBe(true);
      }
    }
    const untyped = sha256Nodes as unknown as (...args: unknown[]) => void;
    expect(errorName(() => untyped(new Uint8Array(96), Uint32Array.of(2), 1, 0))).toBe("TypeError"); // base must be a bigint
    expect(errorName(() => untyped(new Uint8Array(96), [2], 1, 0n))).toBe("TypeError");
  });
});
