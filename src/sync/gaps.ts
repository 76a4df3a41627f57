/**
 * Gap finding: which locations the engine should request next. Given the local tip, the target's
 * upper bound and the ranges already covered (in-flight requests from the location they must
 * deliver next, and verified batches waiting to be applied), the next gap is the first run of
 * locations at or after the tip that nothing covers, capped at one request's length. Pure.
 */

/** A half-open range of locations `[start, end)`. */
export interface LocRange {
  readonly start: bigint;
  readonly end: bigint;
}

/**
 * The first range in `[from, upper)` that no range of `covered` overlaps, at most `maxOps` long;
 * `undefined` when everything up to `upper` is covered (or `from ≥ upper`). `covered` may be in any
 * order, overlap, hold empty ranges, or reach below `from` or past `upper`.
 */
export function findGap(from: bigint, upper: bigint, covered: readonly LocRange[], maxOps: bigint): LocRange | undefined {
  const sorted = [...covered].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  let cursor = from;
  for (const { start, end } of sorted) {
    if (end <= start) continue; // covers nothing (e.g. a request that just delivered its last batch)
    if (cursor >= upper) return undefined;
    if (cursor < start) return { start: cursor, end: min(start, cursor + maxOps, upper) };
    if (end > cursor) cursor = end;
  }
  return cursor < upper ? { start: cursor, end: min(cursor + maxOps, upper) } : undefined;
}

function min(...xs: bigint[]): bigint {
  return xs.reduce((a, b) => (b < a ? b : a));
}
