import { createHash } from "node:crypto";
import fc from "fast-check";
import { DIGEST_BYTES, SHA256_IMPLEMENTATION, hashInputInto, inputBuffer, sha256, sha256Into } from "./sha256";
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
