/**
 * A compact, growable list of 32-byte digests stored back to back in fixed-size chunks, so that
 * millions of nodes cost 32 bytes each instead of one heap object each. Supports dropping from
 * the front (pruning) and the back (popping) without copying retained digests.
 */
import { DIGEST_BYTES } from "./sha256";

const CHUNK_DIGESTS = 4096;
const CHUNK_BYTES = CHUNK_DIGESTS * DIGEST_BYTES;
// A list's first chunk starts this small and doubles as it fills: a list that is emptied after a
// few dozen digests (a journaled MMR flushes at every commit) then never zero-fills a whole chunk.
const FIRST_CHUNK_BYTES = 32 * DIGEST_BYTES;

/** Chunked storage of digests indexed from 0. */
export class DigestList {
  private chunks: Uint8Array[] = [];
  // Index, within chunks[0], of element 0.
  private head = 0;
  private count = 0;

  /** Number of digests held. */
  get length(): number {
    return this.count;
  }

  /** A view of digest `i` (valid until the list is truncated past it). */
  get(i: number): Uint8Array {
    const slot = this.head + i;
    const chunk = this.chunks[Math.floor(slot / CHUNK_DIGESTS)]!;
    const off = (slot % CHUNK_DIGESTS) * DIGEST_BYTES;
    return chunk.subarray(off, off + DIGEST_BYTES);
  }

  /** Appends a copy of `digest`. */
  push(digest: Uint8Array): void {
    const slot = this.head + this.count;
    const offset = (slot % CHUNK_DIGESTS) * DIGEST_BYTES;
    this.chunkWithRoom(Math.floor(slot / CHUNK_DIGESTS), offset + DIGEST_BYTES).set(digest, offset);
    this.count++;
  }

  /** Appends copies of the digests packed back to back in `flat`. */
  pushAll(flat: Uint8Array): void {
    for (let at = 0; at < flat.length;) {
      const slot = this.head + this.count;
      const offset = (slot % CHUNK_DIGESTS) * DIGEST_BYTES;
      const n = Math.min(flat.length - at, CHUNK_BYTES - offset);
      this.chunkWithRoom(Math.floor(slot / CHUNK_DIGESTS), offset + n).set(flat.subarray(at, at + n), offset);
      at += n;
      this.count += n / DIGEST_BYTES;
    }
  }

  /** Calls `visit` with views of digests `[from, to)` packed back to back, one view per chunk they span. */
  forEachRange(from: number, to: number, visit: (flat: Uint8Array) => void): void {
    for (let i = from; i < to;) {
      const slot = this.head + i;
      const offset = (slot % CHUNK_DIGESTS) * DIGEST_BYTES;
      const n = Math.min(to - i, CHUNK_DIGESTS - (slot % CHUNK_DIGESTS));
      visit(this.chunks[Math.floor(slot / CHUNK_DIGESTS)]!.subarray(offset, offset + n * DIGEST_BYTES));
      i += n;
    }
  }

  /** Keeps only the first `n` digests. */
  truncate(n: number): void {
    if (n >= this.count) return;
    this.count = n;
    const needed = Math.ceil((this.head + n) / CHUNK_DIGESTS);
    this.chunks.length = Math.max(needed, n === 0 ? 0 : 1);
    if (n === 0) this.head = 0;
  }

  /** Drops the first `n` digests; later indices shift down by `n`. */
  dropFront(n: number): void {
    if (n >= this.count) {
      this.chunks = [];
      this.head = 0;
      this.count = 0;
      return;
    }
    this.head += n;
    this.count -= n;
    const whole = Math.floor(this.head / CHUNK_DIGESTS);
    if (whole > 0) {
      this.chunks.splice(0, whole);
      this.head -= whole * CHUNK_DIGESTS;
    }
  }

  // Chunk `c` (the last one or a new one), grown to hold at least `bytes` bytes. Only a list's
  // first chunk is ever short; growing it copies, and views handed out before stay valid (digests
  // never change once written, except through `get`, which always reads the current chunk).
  private chunkWithRoom(c: number, bytes: number): Uint8Array {
    const chunk = this.chunks[c];
    if (chunk !== undefined && chunk.length >= bytes) return chunk;
    const start = c === 0 ? FIRST_CHUNK_BYTES : CHUNK_BYTES;
    let size = Math.max(start, chunk?.length ?? 0);
    while (size < bytes) size *= 2;
    const grown = new Uint8Array(Math.min(size, CHUNK_BYTES));
    if (chunk !== undefined) grown.set(chunk);
    this.chunks[c] = grown;
    return grown;
  }
}
