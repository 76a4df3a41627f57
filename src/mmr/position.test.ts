import fc from "fast-check";
import {
  isMmrSize,
  leafCount,
  locationToPosition,
  MAX_LOCATION,
  MAX_POSITION,
  mmrSize,
  nodesToPin,
  pathToLeaf,
  peaks,
  positionToLocation,
  toNearestSize,
  toSafeNumber,
  trailingOnes,
} from "./position";
import { MmrError } from "./errors";

const kindOf = (f: () => unknown): string | undefined => {
  try {
    f();
  } catch (err) {
    if (err instanceof MmrError) return err.kind;
    throw err;
  }
  return undefined;
};

describe("position arithmetic (docs/formats.md, MMR positions)", () => {
  test("location → position table pinned by the Rust tests", () => {
    const table = [0, 1, 3, 4, 7, 8, 10, 11, 15, 16, 18, 19, 22, 23, 25, 26];
    table.forEach((pos, loc) => {
      expect(locationToPosition(BigInt(loc))).toBe(BigInt(pos));
      expect(positionToLocation(BigInt(pos))).toBe(BigInt(loc));
    });
  });

  test("internal positions are rejected as NonLeaf", () => {
    for (const p of [2, 5, 6, 9, 12, 13, 14, 17, 20, 21, 24, 27, 28, 29, 30]) {
      expect(kindOf(() => positionToLocation(BigInt(p)))).toBe("NonLeaf");
    }
  });

  test("bounds: MAX_LOCATION, MAX_POSITION and overflow", () => {
    expect(locationToPosition(MAX_LOCATION)).toBe((1n << 63n) - 64n);
    expect(kindOf(() => locationToPosition(MAX_LOCATION + 1n))).toBe("LocationOverflow");
    expect(kindOf(() => positionToLocation(MAX_POSITION + 1n))).toBe("PositionOverflow");
    expect(mmrSize(MAX_LOCATION + 1n)).toBe((1n << 63n) - 1n);
  });

  test("valid sizes", () => {
    const valid = [0, 1, 3, 4, 7, 8, 10, 11, 15, 16, 18, 19, 22];
    for (let s = 0; s <= 22; s++) expect(isMmrSize(BigInt(s))).toBe(valid.includes(s));
    expect(isMmrSize((1n << 64n) - 1n)).toBe(false);
    expect(isMmrSize((1n << 63n) - 1n)).toBe(true);
    expect(isMmrSize(1n << 63n)).toBe(false);
    expect(isMmrSize(MAX_POSITION)).toBe(false);
    for (const [leaves, size] of [
      [11, 19],
      [64, 127],
      [200, 397],
      [252, 498],
      [255, 502],
      [2000, 3994],
    ]) {
      expect(mmrSize(BigInt(leaves!))).toBe(BigInt(size!));
      expect(leafCount(BigInt(size!))).toBe(BigInt(leaves!));
    }
  });

  test("a size is valid exactly when it is a leaf position (first 400 positions)", () => {
    for (let p = 0n; p < 400n; p++) {
      const leaf = kindOf(() => positionToLocation(p)) === undefined;
      expect(isMmrSize(p)).toBe(leaf);
    }
  });

  test("peaks, heights and merge candidates of the 11-leaf example", () => {
    expect(peaks(19n)).toEqual([
      { pos: 14n, height: 3 },
      { pos: 17n, height: 1 },
      { pos: 18n, height: 0 },
    ]);
    // nodes_needing_parents = [17, 18]: the trailing peaks of heights 1, 0 merge with leaf 11,
    // one per trailing 1 bit of the leaf count.
    expect(trailingOnes(11n)).toBe(2);
    expect(
      peaks(19n)
        .slice(-2)
        .map((p) => p.pos),
    ).toEqual([17n, 18n]);
    expect(peaks(mmrSize(12n))).toEqual([
      { pos: 14n, height: 3 },
      { pos: 21n, height: 2 },
    ]);
    expect(kindOf(() => peaks(2n))).toBe("InvalidSize");
    expect(pathToLeaf(3n, 6n, 2)).toEqual([
      [6n, 2n],
      [5n, 4n],
    ]);
  });

  test("toNearestSize and nodesToPin", () => {
    expect(toNearestSize(9n)).toBe(8n);
    expect(toNearestSize(19n)).toBe(19n);
    expect(toNearestSize(14n)).toBe(11n);
    expect(nodesToPin(14n)).toEqual([6n, 9n, 10n]);
    expect(nodesToPin(19n)).toEqual([14n, 17n, 18n]);
  });

  test("location ↔ position round-trips over the full 62-bit range, beyond 2^53", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: MAX_LOCATION }), (loc) => {
        const pos = locationToPosition(loc);
        expect(positionToLocation(pos)).toBe(loc);
        expect(isMmrSize(pos)).toBe(true);
        expect(toNearestSize(pos)).toBe(pos);
        expect(pos + 1n === 0n || isMmrSize(pos + 1n) === (loc % 2n === 0n)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  test("toSafeNumber refuses values above 2^53 instead of rounding", () => {
    expect(toSafeNumber(2n ** 53n - 1n, "x")).toBe(Number.MAX_SAFE_INTEGER);
    expect(kindOf(() => toSafeNumber(2n ** 53n, "x"))).toBe("InvalidInput");
  });
});
