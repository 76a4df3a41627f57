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

  test("of a range equals the CRC of that subarray, at every start and length up to 40", () => {
    const buf = new Uint8Array(80).map((_, i) => (i * 97 + 3) & 0xff);
    for (let start = 0; start <= 40; start++) {
      for (let n = 0; n <= 40; n++) expect(crc32(buf, start, start + n)).toBe(zlibCrc32(buf.subarray(start, start + n)));
    }
  });
});
