import { crc32 as zlibCrc32 } from "node:zlib";
import fc from "fast-check";
import { crc32 } from "./crc32";

describe("crc32", () => {
  test("known values", () => {
    expect(crc32(new Uint8Array(0))).toBe(0);
    expect(crc32(new TextEncoder().encode("123456789"))).toBe(0xcbf43926);
  });

  test("equals node:zlib's crc32 for every length 0..300 and random inputs", () => {
    const buf = new Uint8Array(300).map((_, i) => (i * 131 + 7) & 0xff);
    for (let n = 0; n <= 300; n++) expect(crc32(buf.subarray(0, n))).toBe(zlibCrc32(buf.subarray(0, n)));
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (b) => expect(crc32(b)).toBe(zlibCrc32(b))),
      { numRuns: 500 },
    );
  });
});
