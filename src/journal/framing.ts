/**
 * Mechanics every journal shares: the CRC-32 that follows each record (a u32 BE), configuration
 * checks, and the errors for positions outside `[pruningBoundary, size)`. No format of its own;
 * each journal documents where its records and CRCs sit.
 */
import { crc32 } from "./crc32";
import { JournalError } from "./errors";

/** Bytes of the CRC-32 stored after every record. */
export const CRC_BYTES = 4;

/** The u32 BE at `buf[at]`. */
export function readU32(buf: Uint8Array, at: number): number {
  return ((buf[at]! << 24) | (buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!) >>> 0;
}

/** Writes the CRC-32 of `buf[start, end)` at `buf[end]` (u32 BE). */
export function writeCrc(buf: Uint8Array, start: number, end: number): void {
  const crc = crc32(buf, start, end);
  buf[end] = crc >>> 24;
  buf[end + 1] = crc >>> 16;
  buf[end + 2] = crc >>> 8;
  buf[end + 3] = crc;
}

/** Whether the CRC stored at `buf[end]` is that of `buf[start, end)`. */
export function crcMatches(buf: Uint8Array, start: number, end: number): boolean {
  return readU32(buf, end) === crc32(buf, start, end);
}

/**
 * `undefined` when the CRC stored at `buf[end]` is that of `buf[start, end)`, else the evidence for
 * the error message ("stored crc …, computed …", in hex).
 */
export function crcMismatch(buf: Uint8Array, start: number, end: number): string | undefined {
  const stored = readU32(buf, end);
  const computed = crc32(buf, start, end);
  return stored === computed ? undefined : `stored crc ${hex32(stored)}, computed ${hex32(computed)}`;
}

function hex32(v: number): string {
  return v.toString(16).padStart(8, "0");
}

/** Throws `InvalidConfig` unless every value is a positive safe integer (names the first that is not). */
export function checkPositive(values: Readonly<Record<string, number>>): void {
  for (const [name, value] of Object.entries(values)) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new JournalError("InvalidConfig", `${name} must be a positive safe integer, got ${value}`);
    }
  }
}

/** Position `pos` is at or past the journal's `size`. */
export function outOfRange(pos: number, size: number): JournalError {
  return new JournalError("ItemOutOfRange", `position ${pos} is not below size ${size}`, { position: pos });
}

/** Position `pos` is below the pruning boundary. */
export function pruned(pos: number, boundary: number): JournalError {
  return new JournalError("ItemPruned", `position ${pos} is below the pruning boundary ${boundary}`, { position: pos });
}

/** Throws unless the `count` positions from `start` are all in `[boundary, size)` (out of range first). */
export function checkReadable(start: number, count: number, boundary: number, size: number): void {
  if (start + count > size) throw outOfRange(start + count - 1, size);
  if (start < boundary) throw pruned(start, boundary);
}

/** Throws unless `start` may begin a replay: in `[boundary, size]` (pruned first). */
export function checkReplayStart(start: number, boundary: number, size: number): void {
  if (start < boundary) throw pruned(start, boundary);
  if (start > size) throw outOfRange(start, size);
}
