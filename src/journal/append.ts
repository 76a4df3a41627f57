/**
 * Append blob: a blob whose tail lives in a write buffer (commonware's `buffer::Append`); `size` and
 * reads include buffered bytes. Bytes reach the file past a threshold, on `flush` and on `sync`; only
 * `sync` makes them durable. While the file is absent (creation still queued) or fenced (a queued
 * truncation or barrier), bytes at or past the lowest fence wait in the buffer. No format of its own.
 */
import type { Blob } from "./storage";

export class AppendBlob {
  /** Bytes already handed to the file (the file may be longer while a truncation is queued). */
  private flushed: number;
  /** Buffered bytes live in `buf[0, buffered)`; use `reserve`/`commit` to append. */
  buf: Uint8Array;
  private buffered = 0;
  /** Active fences: bytes at or past the lowest one are not written to the file. */
  private readonly fences: number[] = [];
  /** Holds bytes no `sync` has covered yet (lets `close` skip clean blobs). */
  dirty = false;
  /** Rewound away: queued tasks must not create, flush or sync it any more. */
  dropped = false;
  /** Links in the journal's handle cache (`handles.ts`), toward its newer and older entries. */
  newer: AppendBlob | null = null;
  older: AppendBlob | null = null;
  /** Linked into a handle cache (the links above are then meaningful). */
  cached = false;

  constructor(
    private file: Blob | undefined,
    size: number,
    readonly path: string,
    private readonly flushBytes: number,
  ) {
    this.flushed = size;
    this.buf = new Uint8Array(0);
  }

  /** Logical size, buffered bytes included. */
  get size(): number {
    return this.flushed + this.buffered;
  }

  /** Bytes that can be buffered before the buffer must grow (at least the flush threshold). */
  get room(): number {
    return Math.max(this.buf.length, this.flushBytes) - this.buffered;
  }

  /** Ensure room for `n` more buffered bytes and return where they start in {@link buf}. */
  reserve(n: number): number {
    const need = this.buffered + n;
    if (need > this.buf.length) {
      const grown = new Uint8Array(Math.max(need, this.flushBytes, this.buf.length * 2));
      grown.set(this.buf.subarray(0, this.buffered));
      this.buf = grown;
    }
    return this.buffered;
  }

  /** Account for `n` bytes written at the index {@link reserve} returned; flushes past the threshold. */
  commit(n: number): void {
    this.buffered += n;
    this.dirty = true;
    if (this.buffered >= this.flushBytes) this.flush();
  }

  /** Copy `out.length` bytes from `offset` (which must lie within {@link size}) into `out`. */
  readAt(out: Uint8Array, offset: number): void {
    const end = offset + out.length;
    if (offset < this.flushed) {
      const fromFile = Math.min(end, this.flushed) - offset;
      this.requireFile().readAt(fromFile === out.length ? out : out.subarray(0, fromFile), offset);
      if (end > this.flushed) out.set(this.buf.subarray(0, end - this.flushed), fromFile);
    } else {
      out.set(this.buf.subarray(offset - this.flushed, end - this.flushed));
    }
  }

  /** Write buffered bytes to the file now, up to the lowest fence (nothing if the file is absent). */
  flush(): void {
    if (this.buffered === 0 || this.file === undefined) return;
    const end = this.fences.length === 0 ? this.size : Math.min(this.size, ...this.fences);
    const n = end - this.flushed;
    if (n <= 0) return;
    this.file.writeAt(this.buf.subarray(0, n), this.flushed);
    this.flushed = end;
    this.buffered -= n;
    // The buffer is kept for the next appends (allocating a fresh one per flush costs time and GC);
    // journals let it go with `releaseBuffer` once the blob is sealed.
    if (this.buffered > 0) this.buf.copyWithin(0, n, n + this.buffered);
  }

  /** Flush, then fsync the file. */
  async sync(): Promise<void> {
    if (this.dropped) return;
    this.flush();
    this.dirty = this.buffered > 0; // bytes held back by a fence still need a later sync
    await this.requireFile().sync();
  }

  /**
   * Set the logical size. Shrinking within the buffer only drops buffered bytes; shrinking into flushed
   * bytes returns `true`: the caller must then `hold()` and later `truncateFile()` and `release` (in
   * queue order).
   * Growing zero-fills the file (used to lay out a journal that starts mid-blob).
   */
  resize(size: number): boolean {
    this.dirty = true;
    if (size >= this.flushed) {
      if (size <= this.size) {
        this.buffered = size - this.flushed;
        return false;
      }
      this.flush();
      if (this.buffered > 0 || this.file === undefined) {
        const start = this.reserve(size - this.size);
        this.buf.fill(0, start, start + size - this.size);
        this.buffered += size - this.size;
        return false;
      }
      this.file.resize(size);
      this.flushed = size;
      return false;
    }
    this.buffered = 0;
    this.flushed = size;
    return true;
  }

  /** Keep bytes from `at` on (default: the current size) out of the file until {@link release}`(at)`. */
  hold(at: number = this.size): number {
    this.fences.push(at);
    return at;
  }

  /** Remove one fence at `at`, then flush if the buffer is past its threshold. */
  release(at: number): void {
    const i = this.fences.indexOf(at);
    if (i >= 0) this.fences.splice(i, 1);
    if (this.buffered >= this.flushBytes) this.flush();
  }

  /** Truncate the file to the flushed size (after a shrinking {@link resize}). */
  truncateFile(): void {
    this.requireFile().resize(this.flushed);
  }

  /** Give a blob created late its (new, empty) file; buffered bytes follow on the next flush. */
  attach(file: Blob): void {
    this.file = file;
  }

  /** Drop the buffer's memory (for blobs that will not be appended to again). */
  releaseBuffer(): void {
    if (this.buffered === 0) this.buf = new Uint8Array(0);
  }

  /**
   * Let the file's OS handle go if nothing waits to reach the file or to be synced (it reopens on its
   * next use). `false` while it must keep its handle, or has no file yet (creation queued); `true`
   * once it holds none, or when its storage cannot release handles.
   */
  releaseHandle(): boolean {
    if (this.dirty || this.buffered > 0 || this.fences.length > 0 || this.file === undefined) return false;
    return this.file.release?.() ?? true;
  }

  close(): void {
    this.file?.close();
    this.file = undefined;
  }

  private requireFile(): Blob {
    if (this.file === undefined) throw new Error(`internal: ${this.path} has no file yet`);
    return this.file;
  }
}
