/**
 * Codec tests: the pinned byte examples from commonware-codec, the error kind of every
 * malformed input, and fast-check properties: round trips over the full u64 range, rejection of every
 * non-canonical varint, EndOfBuffer at every truncation and ExtraData on trailing bytes.
 */
import fc from "fast-check";
import { CodecError, type CodecErrorKind, Reader, Writer, decode, toHex, varintSize } from "./index";

const encodeVec = <T>(items: readonly T[], write: (w: Writer, item: T) => void): Uint8Array => new Writer().vec(items, write).finish();
const decodeVec = <T>(bytes: Uint8Array, max: number, read: (r: Reader) => T, minItemBytes = 1): T[] => decode(bytes, (r) => r.vec(max, read, minItemBytes));

const U32_MAX = 0xffff_ffff;
const U64_MAX = (1n << 64n) - 1n;

function hex(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s.replace(/\s+/g, ""), "hex"));
}

function kindOf(fn: () => unknown): CodecErrorKind {
  try {
    fn();
  } catch (err) {
    if (err instanceof CodecError) return err.kind;
    throw err;
  }
  throw new Error("expected a CodecError, but nothing was thrown");
}

const encU32 = (v: number) => new Writer().varintU32(v).finish();
const encU64 = (v: bigint) => new Writer().varintU64(v).finish();
const decU32 = (b: Uint8Array) => decode(b, (r) => r.varintU32());
const decU64 = (b: Uint8Array) => decode(b, (r) => r.varintU64());

describe("fixed-width values (pinned)", () => {
  it("writes integers big-endian at full width", () => {
    expect(toHex(new Writer().u16(0x0102).finish())).toBe("0102");
    expect(toHex(new Writer().u8(7).u32(0xdeadbeef).u64(0x0102030405060708n).finish())).toBe("07deadbeef0102030405060708");
    expect(decode(hex("0102"), (r) => r.u16())).toBe(0x0102);
    expect(decode(hex("ffffffffffffffff"), (r) => r.u64())).toBe(U64_MAX);
  });

  it("accepts only 00 and 01 as bool", () => {
    expect(toHex(new Writer().bool(false).bool(true).finish())).toBe("0001");
    expect(decode(hex("01"), (r) => r.bool())).toBe(true);
    expect(decode(hex("00"), (r) => r.bool())).toBe(false);
    expect(kindOf(() => decode(hex("02"), (r) => r.bool()))).toBe("InvalidBool");
    expect(() => decode(hex("ff"), (r) => r.bool())).toThrow("InvalidBool: byte 0xff at offset 0");
  });

  it("returns raw bytes as a view with bytes() and as a copy with fixed()", () => {
    const input = hex("aabbcc");
    const r = new Reader(input);
    const view = r.bytes(2);
    const copy = new Reader(input).fixed(2);
    input[0] = 0x11;
    expect(toHex(view)).toBe("11bb");
    expect(toHex(copy)).toBe("aabb");
    expect(r.offset).toBe(2);
    expect(r.remaining).toBe(1);
  });

  it("reads fixed-width values through a subarray with a non-zero byteOffset", () => {
    const backing = hex("ff 0102 ff");
    expect(decode(backing.subarray(1, 3), (r) => r.u16())).toBe(0x0102);
  });

  it("fails EndOfBuffer before consuming anything when a run is short", () => {
    const r = new Reader(hex("0102"));
    expect(kindOf(() => r.u32())).toBe("EndOfBuffer");
    expect(kindOf(() => r.bytes(3))).toBe("EndOfBuffer");
    expect(() => r.fixed(3)).toThrow("EndOfBuffer: need 3 bytes at offset 0, 2 remain");
    expect(r.offset).toBe(0);
  });
});

describe("varints (pinned)", () => {
  it.each([
    [0, "00"],
    [127, "7f"],
    [128, "8001"],
    [200, "c801"],
    [300, "ac02"],
    [16383, "ff7f"],
    [16384, "808001"],
    [U32_MAX, "ffffffff0f"],
  ])("u32 %d ↔ %s", (v, enc) => {
    expect(toHex(encU32(v))).toBe(enc);
    expect(decU32(hex(enc))).toBe(v);
    expect(varintSize(v)).toBe(enc.length / 2);
  });

  it("round-trips u64::MAX as ff×9 01", () => {
    const enc = "ff".repeat(9) + "01";
    expect(toHex(encU64(U64_MAX))).toBe(enc);
    expect(decU64(hex(enc))).toBe(U64_MAX);
    expect(varintSize(U64_MAX)).toBe(10);
  });

  it.each([
    ["u32", "ffffffff1f", "InvalidVarint"], // 5th byte > 0x0f: overflow
    ["u32", "8080808080", "InvalidVarint"], // continuation on the 5th byte
    ["u64", "808080808080808080" + "02", "InvalidVarint"], // 10th byte must be 01
    ["u64", "ff00", "InvalidVarint"], // 0x00 after the first byte
    ["u64", "8000", "InvalidVarint"],
    ["u32", "", "EndOfBuffer"],
    ["u32", "808f", "EndOfBuffer"],
    ["u64", "ffffffffffffffffff", "EndOfBuffer"],
  ] as const)("%s %s → %s", (type, enc, kind) => {
    const dec = type === "u32" ? decU32 : decU64;
    expect(kindOf(() => dec(hex(enc)))).toBe(kind);
  });

  it("names the offset and the bound in overflow messages", () => {
    expect(() => decU32(hex("ffffffff1f"))).toThrow("u32 varint at offset 0 overflows: last byte 0x1f, must be ≤ 0x0f");
  });

  it("decodes a u32 lone 00 byte as zero but rejects 00 as a later byte", () => {
    expect(decU32(hex("00"))).toBe(0);
    expect(kindOf(() => decU32(hex("8100")))).toBe("InvalidVarint");
  });
});

describe("lengths, vectors, bytes and options (pinned)", () => {
  const u8 = (w: Writer, v: number) => w.u8(v);
  const u16 = (w: Writer, v: number) => w.u16(v);

  it.each([
    [[], "00", u8, (r: Reader) => r.u8(), 1],
    [[1, 2, 3], "03010203", u8, (r: Reader) => r.u8(), 1],
    [[0x1234, 0xabcd], "021234abcd", u16, (r: Reader) => r.u16(), 2],
  ])("vec %j ↔ %s", (items, enc, write, read, size) => {
    expect(toHex(encodeVec(items, write))).toBe(enc);
    expect(decodeVec(hex(enc), 10, read, size)).toEqual(items);
  });

  it("encodes 200 × 0xCC as c8 01 then the bytes, both as Vec<u8> and as Bytes", () => {
    const data = new Uint8Array(200).fill(0xcc);
    const enc = "c801" + "cc".repeat(200);
    expect(toHex(new Writer().varBytes(data).finish())).toBe(enc);
    expect(toHex(encodeVec([...data], u8))).toBe(enc);
    expect(decode(hex(enc), (r) => r.varBytes(200))).toEqual(data);
  });

  it("rejects a length above the caller bound with InvalidLength naming both", () => {
    expect(() => decode(hex("c801"), (r) => r.length(199))).toThrow("InvalidLength: length 200 at offset 0 exceeds max 199");
    expect(kindOf(() => decodeVec(hex("03010203"), 2, (r) => r.u8()))).toBe("InvalidLength");
    expect(kindOf(() => decode(hex("c801"), (r) => r.varBytes(10)))).toBe("InvalidLength");
  });

  it("rejects a forged vec length before reading any item", () => {
    const read = jest.fn((r: Reader) => r.u8());
    // length 1000 is within the bound, but only 3 bytes follow
    expect(() => decodeVec(hex("e807010203"), 10_000, read)).toThrow("EndOfBuffer: need 1000 items of ≥ 1 bytes at offset 2, 3 remain");
    expect(read).not.toHaveBeenCalled();
    // two u16 items need 4 bytes, 3 follow
    expect(kindOf(() => decodeVec(hex("02123456"), 10, (r) => r.u16(), 2))).toBe("EndOfBuffer");
    expect(kindOf(() => decode(hex("c801cc"), (r) => r.varBytes(1000)))).toBe("EndOfBuffer");
  });

  it("tags options 00 (None) and 01 (Some), and rejects other tags as InvalidBool", () => {
    expect(toHex(new Writer().option(undefined, u16).finish())).toBe("00");
    expect(toHex(new Writer().option(0x1234, u16).finish())).toBe("011234");
    expect(decode(hex("00"), (r) => r.option((x) => x.u16()))).toBeUndefined();
    expect(decode(hex("011234"), (r) => r.option((x) => x.u16()))).toBe(0x1234);
    expect(kindOf(() => decode(hex("021234"), (r) => r.option((x) => x.u16())))).toBe("InvalidBool");
    expect(kindOf(() => decode(hex("01"), (r) => r.option((x) => x.u16())))).toBe("EndOfBuffer");
  });

  it("requires the whole input to be consumed", () => {
    expect(() => decode(hex("0102ff"), (r) => r.u16())).toThrow("ExtraData: 1 bytes left after offset 2");
    const r = new Reader(hex("00"));
    expect(kindOf(() => r.finish())).toBe("ExtraData");
  });
});

describe("Writer input ranges", () => {
  it.each([
    ["u8 256", (w: Writer) => w.u8(256)],
    ["u8 -1", (w: Writer) => w.u8(-1)],
    ["u16 1.5", (w: Writer) => w.u16(1.5)],
    ["u32 2^32", (w: Writer) => w.u32(2 ** 32)],
    ["u32 NaN", (w: Writer) => w.u32(NaN)],
    ["u64 -1", (w: Writer) => w.u64(-1n)],
    ["u64 2^64", (w: Writer) => w.u64(1n << 64n)],
    ["varint u64 2^64", (w: Writer) => w.varintU64(1n << 64n)],
    ["varint u64 -1", (w: Writer) => w.varintU64(-1n)],
    ["varint u32 2^32", (w: Writer) => w.varintU32(2 ** 32)],
    ["length 2^32", (w: Writer) => w.length(2 ** 32)],
  ])("rejects %s as Invalid", (_, write) => {
    expect(kindOf(() => write(new Writer()))).toBe("Invalid");
  });

  it("rejects out-of-range varintSize inputs as Invalid", () => {
    expect(kindOf(() => varintSize(-1))).toBe("Invalid");
    expect(kindOf(() => varintSize(2 ** 53))).toBe("Invalid");
    expect(kindOf(() => varintSize(1n << 64n))).toBe("Invalid");
  });

  it("grows past its initial capacity and resets on finish", () => {
    const w = new Writer(1);
    for (let i = 0; i < 100; i++) w.u64(BigInt(i));
    const first = w.finish();
    expect(first.length).toBe(800);
    expect(decode(first, (r) => Array.from({ length: 100 }, () => r.u64()))[99]).toBe(99n);
    expect(toHex(w.u8(5).finish())).toBe("05");
    expect(first[7]).toBe(0); // the earlier result is not overwritten
  });
});

describe("properties", () => {
  const u64 = fc.oneof(fc.bigInt({ min: 0n, max: U64_MAX }), fc.bigInt({ min: 1n << 53n, max: U64_MAX }));
  const u32 = fc.integer({ min: 0, max: U32_MAX });

  it("decode(encode(x)) = x for u64 varints, with varintSize = encoded length", () => {
    fc.assert(
      fc.property(u64, (v) => {
        const enc = encU64(v);
        expect(decU64(enc)).toBe(v);
        expect(varintSize(v)).toBe(enc.length);
        if (v <= BigInt(Number.MAX_SAFE_INTEGER)) expect(varintSize(Number(v))).toBe(enc.length);
      }),
    );
  });

  it("decode(encode(x)) = x for u32 varints and fixed-width u64", () => {
    fc.assert(
      fc.property(u32, u64, (a, b) => {
        const enc = new Writer(0).varintU32(a).length(a).u64(b).finish();
        expect(decode(enc, (r) => [r.varintU32(), r.length(U32_MAX), r.u64()])).toEqual([a, a, b]);
      }),
    );
  });

  it("rejects every non-canonical varint (a trailing 0x80 continuation then 0x00)", () => {
    const padded = (enc: Uint8Array) => {
      const out = new Uint8Array(enc.length + 1);
      out.set(enc);
      out[enc.length - 1]! |= 0x80;
      return out;
    };
    fc.assert(
      fc.property(u64, u32, (v, w) => {
        expect(kindOf(() => decU64(padded(encU64(v))))).toBe("InvalidVarint");
        expect(kindOf(() => decU32(padded(encU32(w))))).toBe("InvalidVarint");
      }),
    );
  });

  const record = fc.record({
    a: fc.integer({ min: 0, max: 0xff }),
    b: fc.integer({ min: 0, max: 0xffff }),
    c: u32,
    d: u64,
    e: fc.boolean(),
    f: u64,
    g: fc.uint8Array({ maxLength: 40 }),
    h: fc.option(fc.integer({ min: 0, max: 0xffff }), { nil: undefined }),
    i: fc.array(u64, { maxLength: 5 }),
  });
  type Rec = typeof record extends fc.Arbitrary<infer T> ? T : never;
  const encodeRec = (x: Rec) =>
    new Writer(0)
      .u8(x.a)
      .u16(x.b)
      .u32(x.c)
      .u64(x.d)
      .bool(x.e)
      .varintU64(x.f)
      .varBytes(x.g)
      .option(x.h, (w, v) => w.u16(v))
      .vec(x.i, (w, v) => w.varintU64(v))
      .finish();
  const readRec = (r: Reader): Rec => ({
    a: r.u8(),
    b: r.u16(),
    c: r.u32(),
    d: r.u64(),
    e: r.bool(),
    f: r.varintU64(),
    g: r.fixed(r.length(40)),
    h: r.option((x) => x.u16()),
    i: r.vec(5, (x) => x.varintU64()),
  });

  it("round-trips a record of every primitive", () => {
    fc.assert(fc.property(record, (x) => expect(decode(encodeRec(x), readRec)).toEqual(x)));
  });

  it("yields EndOfBuffer when truncated at every byte offset", () => {
    fc.assert(
      fc.property(record, (x) => {
        const enc = encodeRec(x);
        for (let n = 0; n < enc.length; n++) expect(kindOf(() => decode(enc.subarray(0, n), readRec))).toBe("EndOfBuffer");
      }),
      { numRuns: 50 },
    );
  });

  it("yields ExtraData(n) for n trailing bytes", () => {
    fc.assert(
      fc.property(record, fc.uint8Array({ minLength: 1, maxLength: 8 }), (x, extra) => {
        const enc = encodeRec(x);
        const input = new Uint8Array(enc.length + extra.length);
        input.set(enc);
        input.set(extra, enc.length);
        expect(() => decode(input, readRec)).toThrow(`ExtraData: ${extra.length} bytes left after offset ${enc.length}`);
      }),
    );
  });
});
