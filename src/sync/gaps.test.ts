/**
 * The gap finder on its own (docs/sync-engine.md, S38): the cases of commonware's `gaps` tests, with
 * each in-flight request written as the range it covers, plus the request-length cap, unsorted,
 * overlapping, empty and stale ranges, and a property against a brute-force bitmap.
 */
import fc from "fast-check";
import { type LocRange, findGap } from "./gaps";

const r = (start: number, end: number): LocRange => ({ start: BigInt(start), end: BigInt(end) });
// A request at `start` for `ops` operations, or a fetched batch of `ops` operations at `start`.
const at = (start: number, ops: number): LocRange => r(start, start + ops);
const NO_CAP = 1_000n;
const gap = (from: number, upper: number, covered: LocRange[], maxOps = NO_CAP) => findGap(BigInt(from), BigInt(upper), covered, maxOps);

describe("findGap: commonware's cases (S38)", () => {
  test.each<[string, number, number, LocRange[], LocRange | undefined]>([
    ["empty state → the whole range", 0, 11, [], r(0, 11)],
    ["invalid bounds (10..6) → none", 10, 6, [], undefined],
    ["one-operation range", 5, 6, [], r(5, 6)],
    ["overlapping requests at 0, 3, 8 of 5 ops cover everything", 0, 11, [at(0, 5), at(3, 5), at(8, 5)], undefined],
    ["one request at 8 → the range before it", 0, 11, [at(8, 5)], r(0, 8)],
    ["requests at 0 and 7 of 4 ops → the hole between", 0, 11, [at(0, 4), at(7, 4)], r(4, 7)],
    ["fetched singles at 0, 2, 4 → the first hole", 0, 11, [at(0, 1), at(2, 1), at(4, 1)], r(1, 2)],
    ["one fetched batch of 3 at 0 → the rest", 0, 11, [at(0, 3)], r(3, 11)],
    ["adjacent fetched singles at 0 and 1 → the rest", 0, 11, [at(0, 1), at(1, 1)], r(2, 11)],
    ["every location fetched singly → none", 0, 11, Array.from({ length: 11 }, (_, i) => at(i, 1)), undefined],
    ["1-op requests at 2, 5, 8 → the range before the first", 0, 11, [at(2, 1), at(5, 1), at(8, 1)], r(0, 2)],
    ["a fetched batch reaching below the lower bound", 5, 11, [at(0, 8)], r(8, 11)],
    ["a fetched batch past the upper bound → the range before it", 0, 7, [at(4, 5)], r(0, 4)],
    ["a 100-op request at 2 in a 6-op range → the range before it", 0, 6, [at(2, 100)], r(0, 2)],
    ["fetched batches at 0 (5) and 8 (3) → the hole between", 0, 11, [at(0, 5), at(8, 3)], r(5, 8)],
    ["mixed, gap at the start", 0, 11, [at(2, 3), at(5, 6)], r(0, 2)],
    ["mixed, gap in the middle", 0, 11, [at(0, 2), at(3, 8)], r(2, 3)],
    ["interleaved fetched and requested ranges → the first hole", 0, 11, [at(1, 1), at(2, 2), at(4, 1), at(5, 6)], r(0, 1)],
  ])("%s", (_name, from, upper, covered, expected) => {
    expect(gap(from, upper, covered)).toEqual(expected);
  });
});

describe("findGap: bounds and shapes", () => {
  test("a gap is capped at maxOps, at the next covered start and at upper, whichever comes first", () => {
    expect(gap(0, 100, [], 10n)).toEqual(r(0, 10));
    expect(gap(0, 100, [at(5, 10)], 10n)).toEqual(r(0, 5));
    expect(gap(95, 100, [], 10n)).toEqual(r(95, 100));
    expect(gap(0, 100, [at(0, 10)], 10n)).toEqual(r(10, 20));
  });

  test("from at or past upper → none, whatever is covered", () => {
    expect(gap(11, 11, [])).toBeUndefined();
    expect(gap(12, 11, [at(0, 3)])).toBeUndefined();
  });

  test("order of the covered ranges does not matter", () => {
    expect(gap(0, 20, [at(10, 5), at(0, 4), at(4, 2)])).toEqual(r(6, 10));
  });

  test("empty and stale ranges (ending at or below from) are ignored", () => {
    expect(gap(5, 20, [r(7, 7), at(0, 3), r(2, 5)])).toEqual(r(5, 20));
  });

  test("a range ending exactly where the next starts leaves no gap between them", () => {
    expect(gap(0, 20, [r(0, 10), r(10, 20)])).toBeUndefined();
    expect(gap(0, 20, [r(0, 10), r(11, 20)])).toEqual(r(10, 11));
  });

  test("a range nested in another does not shorten it", () => {
    expect(gap(0, 20, [r(0, 15), r(2, 5)])).toEqual(r(15, 20));
  });

  test("locations above 2^53 are exact", () => {
    const big = 1n << 60n;
    expect(findGap(big, big + 10n, [{ start: big, end: big + 3n }], 4n)).toEqual({ start: big + 3n, end: big + 7n });
  });
});

test("agrees with a brute-force bitmap on random inputs", () => {
  const range = fc.tuple(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 12 })).map(([s, n]) => at(s, n));
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 40 }),
      fc.integer({ min: 0, max: 40 }),
      fc.array(range, { maxLength: 8 }),
      fc.integer({ min: 1, max: 15 }),
      (from, upper, covered, maxOps) => {
        const isCovered = (loc: number) => covered.some((c) => BigInt(loc) >= c.start && BigInt(loc) < c.end);
        let start = from;
        while (start < upper && isCovered(start)) start++;
        let expected: LocRange | undefined;
        if (start < upper) {
          let end = start;
          while (end < upper && end - start < maxOps && !isCovered(end)) end++;
          expected = r(start, end);
        }
        expect(gap(from, upper, covered, BigInt(maxOps))).toEqual(expected);
      },
    ),
    { numRuns: 1000 },
  );
});
