import fc from "fast-check";
import {
  VARINT_INVALID,
  VARINT_TRUNCATED,
  readLenientVarint,
  readLenientVarintU64,
  readVarintU32 as readVarint,
  varintU32Size as varintSize,
  writeVarintU32 as writeVarint,
  writeVarintU64,
} from "./varint";

const decode = (bytes: number[]) => readVarint(Uint8Array.from(bytes), 0, bytes.length);

test("pinned encodings from commonware-codec", () => {
  const enc = (v: number) => {
    const buf = new Uint8Array(5);
    return [...buf.subarray(0, writeVarint(buf, 0, v))];
  };
  expect(enc(0)).toEqual([0]);
  expect(enc(300)).toEqual([0xac, 0x02]);
  expect(enc(200)).toEqual([0xc8, 0x01]);
  expect(enc(0xffff_ffff)).toEqual([0xff, 0xff, 0xff, 0xff, 0x0f]);
  expect(decode([0xff, 0xff, 0xff, 0xff, 0x0f])).toBe(0xffff_ffff * 8 + 5);
});

test("non-canonical, overflowing and truncated inputs are refused", () => {
  expect(decode([0xff, 0xff, 0xff, 0xff, 0x1f])).toBe(VARINT_INVALID);
  expect(decode([0x80, 0x80, 0x80, 0x80, 0x80])).toBe(VARINT_INVALID);
  expect(decode([0xff, 0x00])).toBe(VARINT_INVALID);
  expect(decode([0x80])).toBe(VARINT_TRUNCATED);
  expect(decode([])).toBe(VARINT_TRUNCATED);
});

test("every u32 round-trips with the predicted size", () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 0xffff_ffff }), (v) => {
      const buf = new Uint8Array(5);
      const n = writeVarint(buf, 0, v);
      return n === varintSize(v) && readVarint(buf, 0, n) === v * 8 + n;
    }),
  );
});

describe("u64 writer and lenient (protobuf) readers", () => {
  const cursor = (bytes: number[] | Uint8Array) => ({ buf: Uint8Array.from(bytes), pos: 0, end: bytes.length });

  test("every u64 written by writeVarintU64 reads back, consuming exactly the written bytes", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (v) => {
        const buf = new Uint8Array(10);
        const n = writeVarintU64(buf, 0, v);
        const c = { buf, pos: 0, end: n };
        expect(readLenientVarintU64(c)).toBe(v);
        expect(c.pos).toBe(n);
      }),
      { numRuns: 2000 },
    );
    const buf = new Uint8Array(10);
    expect([...buf.subarray(0, writeVarintU64(buf, 0, (1n << 64n) - 1n))]).toEqual([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
  });

  test("non-canonical encodings are accepted, as protobuf decoders do", () => {
    expect(readLenientVarint(cursor([0x80, 0x00]))).toBe(0);
    expect(readLenientVarintU64(cursor([0x81, 0x80, 0x00]))).toBe(1n);
  });

  test("truncation, more than 64 bits and values above 2^53 − 1 are reported, not wrapped", () => {
    expect(readLenientVarint(cursor([0x80]))).toBe(VARINT_TRUNCATED);
    expect(readLenientVarintU64(cursor([]))).toBe(BigInt(VARINT_TRUNCATED));
    expect(readLenientVarintU64(cursor([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]))).toBe(BigInt(VARINT_INVALID));
    expect(readLenientVarintU64(cursor(new Array(10).fill(0x80).concat([0x00])))).toBe(BigInt(VARINT_INVALID));
    const max = new Uint8Array(10);
    const n = writeVarintU64(max, 0, BigInt(Number.MAX_SAFE_INTEGER));
    expect(readLenientVarint({ buf: max, pos: 0, end: n })).toBe(Number.MAX_SAFE_INTEGER);
    const above = new Uint8Array(10);
    const m = writeVarintU64(above, 0, BigInt(Number.MAX_SAFE_INTEGER) + 1n);
    expect(readLenientVarint({ buf: above, pos: 0, end: m })).toBe(VARINT_INVALID);
  });
});
