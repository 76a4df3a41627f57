import fc from 'fast-check';
import { VARINT_INVALID, VARINT_TRUNCATED, readVarintU32 as readVarint, varintU32Size as varintSize, writeVarintU32 as writeVarint } from './varint';

const decode = (bytes: number[]) => readVarint(Uint8Array.from(bytes), 0, bytes.length);

test('pinned encodings from commonware-codec', () => {
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

test('non-canonical, overflowing and truncated inputs are refused', () => {
  expect(decode([0xff, 0xff, 0xff, 0xff, 0x1f])).toBe(VARINT_INVALID);
  expect(decode([0x80, 0x80, 0x80, 0x80, 0x80])).toBe(VARINT_INVALID);
  expect(decode([0xff, 0x00])).toBe(VARINT_INVALID);
  expect(decode([0x80])).toBe(VARINT_TRUNCATED);
  expect(decode([])).toBe(VARINT_TRUNCATED);
});

test('every u32 round-trips with the predicted size', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 0xffff_ffff }), (v) => {
      const buf = new Uint8Array(5);
      const n = writeVarint(buf, 0, v);
      return n === varintSize(v) && readVarint(buf, 0, n) === v * 8 + n;
    }),
  );
});
