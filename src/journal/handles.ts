/**
 * Handle cache: bounds the file descriptors a journal keeps on its older blobs. Every blob but the
 * one being appended to (the tail, never cached) is full and only read; such a blob holds a handle
 * only while it is in this LRU list, and the least recently used one beyond `capacity` releases its
 * handle (`AppendBlob.releaseHandle`; the file reopens on the next read). No on-disk effect.
 * A hit moves the blob to the front of an intrusive list: no allocation, no syscall.
 */
import type { AppendBlob } from "./append";

/** Read handles a journal keeps on blobs other than its tail unless configured otherwise. */
export const DEFAULT_MAX_OPEN_BLOBS = 32;

export class HandleCache {
  /** Most recently used entry, and least recently used one. */
  private newest: AppendBlob | null = null;
  private oldest: AppendBlob | null = null;
  private count = 0;

  constructor(readonly capacity: number) {}

  /** Entries currently linked (each holds at most one handle). */
  get size(): number {
    return this.count;
  }

  /** Mark `blob` as just used (call before reading it); may release the least recently used blob. */
  touch(blob: AppendBlob): void {
    if (blob === this.newest) return; // the common case: consecutive reads of one blob
    if (blob.cached) {
      this.unlink(blob);
      this.link(blob);
      return;
    }
    this.link(blob);
    if (this.count > this.capacity) this.trim();
  }

  /** Forget `blob` (it became the tail, or left the journal); its handle, if any, is the caller's. */
  remove(blob: AppendBlob): void {
    if (blob.cached) this.unlink(blob);
  }

  /**
   * Release least recently used entries until at most `capacity` remain, never the newest one (it is
   * about to be read). A blob that cannot release yet (its seal fsync is still queued) leaves the list
   * anyway: whoever syncs it touches it again afterwards (`FixedJournal.roll`, `SegmentedJournal.sync`).
   */
  trim(): void {
    while (this.count > this.capacity && this.oldest !== this.newest) {
      const victim = this.oldest!;
      this.unlink(victim);
      victim.releaseHandle();
    }
  }

  /** Forget every entry (on close: the caller closes every blob anyway). */
  clear(): void {
    while (this.oldest !== null) this.unlink(this.oldest);
  }

  private link(blob: AppendBlob): void {
    blob.cached = true;
    blob.older = this.newest;
    blob.newer = null;
    if (this.newest !== null) this.newest.newer = blob;
    else this.oldest = blob;
    this.newest = blob;
    this.count++;
  }

  private unlink(blob: AppendBlob): void {
    if (blob.newer !== null) blob.newer.older = blob.older;
    else this.newest = blob.older;
    if (blob.older !== null) blob.older.newer = blob.newer;
    else this.oldest = blob.newer;
    blob.newer = null;
    blob.older = null;
    blob.cached = false;
    this.count--;
  }
}
