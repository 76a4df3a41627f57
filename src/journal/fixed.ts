/**
 * Fixed journal: an append-only log of equal-length items spread over numbered blobs
 * (commonware `journal::contiguous::fixed`). Item p lives in blob ⌊p / itemsPerBlob⌋ at byte
 * (p mod itemsPerBlob) × (itemSize + 4), stored as `item ‖ crc32(item) as u32 BE`; blob names are the
 * u64 BE blob index. Every blob but the newest (the tail) is exactly full; a filled blob is fsynced
 * before the next one is created. `append` buffers; `sync` fsyncs the tail. `open` drops a torn tail.
 * Only the tail stays open; older blobs are opened on demand, at most `maxOpenBlobs` at once (LRU).
 */
import { Backlog } from "./backlog";
import { AppendBlob } from "./append";
import { type Contiguous, ContiguousPositions, type ReplayVisitor } from "./contiguous";
import { JournalError, requireIndex } from "./errors";
import { CRC_BYTES, checkPositive, checkReadable, checkReplayStart, crcMatches, crcMismatch, writeCrc } from "./framing";
import { DEFAULT_MAX_OPEN_BLOBS, HandleCache } from "./handles";
import { Lifecycle, settle } from "./lifecycle";
import { type Blob, type Storage, checkPartitionName, indexName, nameIndex, openListed, syncBesideCreate, toStorage } from "./storage";

export interface FixedConfig {
  /** Encoded size of every item in bytes (Rust `A::SIZE`): 32 for digests, 4 for u32 offsets. */
  readonly itemSize: number;
  /** Items per blob; all blobs but the tail hold exactly this many. Must never change for a partition. */
  readonly itemsPerBlob: number;
  /** Bytes buffered per blob before they are written to the file (default 64 KiB, at most a blob; no format effect). */
  readonly writeBufferBytes?: number;
  /**
   * Full blobs whose file stays open for reads, least recently used closed first (default 32; no
   * format effect). The tail is always open besides, so the journal holds at most this + 1 files.
   */
  readonly maxOpenBlobs?: number;
}

/**
 * Bytes read per syscall by `replay`/`readRange`. Large reads keep long replays cheap: 1M 32-byte items
 * replay in ~180 ms on the 2-core dev VM (CRC checks included), against ~1.5 µs per single `read`.
 */
const READ_CHUNK_BYTES = 1 << 20;
const DEFAULT_WRITE_BUFFER_BYTES = 64 * 1024;

export class FixedJournal extends ContiguousPositions implements Contiguous {
  readonly itemSize: number;
  readonly itemsPerBlob: number;
  private readonly chunkSize: number;
  private readonly blobBytes: number;
  private readonly flushBytes: number;
  /** Full blobs below the tail, by index; indices are consecutive. Open only while in `handles`. */
  private readonly blobs: Map<number, AppendBlob>;
  /** LRU of the full blobs that may hold an open file (the tail is never in it). */
  private readonly handles: HandleCache;
  /** Blobs pruned or rewound away whose queued removal has not closed them yet (closed on close). */
  private readonly leaving = new Set<AppendBlob>();
  /** The newest blob: always has room for one more item. */
  private tail: AppendBlob;
  private tailIndex: number;
  private readonly life: Lifecycle;
  /** One chunk, for `read` (never held across an await). */
  private readonly chunkScratch: Uint8Array;
  /** Grows up to READ_CHUNK_BYTES, for `readRangeInto` (never held across an await). */
  private rangeScratch: Uint8Array;
  /** Filled blobs whose queued fsync (and the next blob's creation) has not finished yet. */
  private readonly backlog = new Backlog();

  private constructor(
    private readonly storage: Storage,
    readonly partition: string,
    cfg: Required<FixedConfig>,
    blobs: Map<number, AppendBlob>,
    tail: AppendBlob,
    tailIndex: number,
    size: number,
    pruningBoundary: number,
  ) {
    super(size, pruningBoundary);
    this.itemSize = cfg.itemSize;
    this.itemsPerBlob = cfg.itemsPerBlob;
    this.chunkSize = cfg.itemSize + CRC_BYTES;
    this.blobBytes = cfg.itemsPerBlob * this.chunkSize;
    this.flushBytes = cfg.writeBufferBytes;
    this.blobs = blobs;
    this.handles = new HandleCache(cfg.maxOpenBlobs);
    this.tail = tail;
    this.tailIndex = tailIndex;
    this.life = new Lifecycle(`fixed journal ${partition}`);
    this.chunkScratch = new Uint8Array(this.chunkSize);
    this.rangeScratch = new Uint8Array(0);
  }

  /**
   * Open (or create) the journal in `partition`, repairing a torn tail: the tail blob is cut to a whole
   * number of items, then trailing items whose CRC fails are dropped. Throws `MissingBlob` for a gap
   * and `InvalidBlobSize` for a non-tail blob that is not exactly full (neither is repairable).
   */
  static async open(root: string | Storage, partition: string, cfg: FixedConfig): Promise<FixedJournal> {
    const storage = toStorage(root);
    checkPartitionName(partition);
    const config = checkConfig(cfg);
    const chunkSize = config.itemSize + CRC_BYTES;
    const blobBytes = config.itemsPerBlob * chunkSize;

    const indices = (await storage.scan(partition)).map((name) => {
      const index = nameIndex(name);
      if (index === undefined || !Number.isSafeInteger((index + 1) * config.itemsPerBlob)) {
        const file = storage.locate(partition, name);
        throw new JournalError("InvalidBlobName", `${file} is not a journal blob index`, { file });
      }
      return index;
    });
    indices.sort((a, b) => a - b);
    if (indices.length === 0) indices.push(0);

    // Only the tail is opened: the others reopen on demand, through the handle cache.
    const opened: { index: number; blob: Blob; size: number }[] = (
      await openListed(
        storage,
        partition,
        indices.map((index) => indexName(index)),
        indices.length - 1,
      )
    ).map((b, k) => ({ index: indices[k]!, ...b }));
    try {
      // Blobs are created before the data they will hold is written (see `roll`): after a power cut,
      // empty ones may follow the last blob holding data, which may then be short or torn even if it
      // had filled. It is repaired as a tail, and the empty blobs after it are removed, but for one
      // after a blob still full once repaired (that one is the tail, as right after a roll).
      let keep = opened.length;
      while (keep > 1 && opened[keep - 1]!.size === 0) keep--;
      if (keep < opened.length) {
        const holder = opened[keep - 1]!;
        if (holder.size <= blobBytes) holder.size = await trimTail(holder.blob, holder.size, chunkSize, config.itemSize);
        // Still full: the empty blob after it is the tail, and it goes back to being opened on demand.
        if (holder.size === blobBytes && keep++) holder.blob.release?.();
        for (const { index, blob } of opened.splice(keep).reverse()) {
          blob.close();
          await storage.remove(partition, indexName(index));
        }
      }
      for (let k = opened.length - 1; k > 0; k--) {
        const { index, blob, size } = opened[k - 1];
        if (index !== opened[k].index - 1) {
          const missing = opened[k].index - 1;
          const file = storage.locate(partition, indexName(missing));
          throw new JournalError("MissingBlob", `blob ${missing} (${file}) is missing`, { file });
        }
        if (size !== blobBytes) {
          const what = `non-tail blob ${index} (${blob.path}) has ${size} bytes, expected ${blobBytes}`;
          throw new JournalError("InvalidBlobSize", what, { file: blob.path, offset: size });
        }
      }
      const last = opened[opened.length - 1];
      if (last.size > blobBytes) {
        const what = `tail blob ${last.index} (${last.blob.path}) has ${last.size} bytes, more than ${blobBytes}`;
        throw new JournalError("InvalidBlobSize", what, { file: last.blob.path, offset: last.size });
      }
      last.size = await trimTail(last.blob, last.size, chunkSize, config.itemSize);

      const blobs = new Map<number, AppendBlob>();
      for (const { index, blob, size } of opened) {
        blobs.set(index, new AppendBlob(blob, size, blob.path, config.writeBufferBytes));
      }
      let tailIndex = last.index;
      if (last.size === blobBytes) {
        // A full tail would break the "room for one more item" invariant: start the next blob now.
        tailIndex++;
        const next = await storage.open(partition, indexName(tailIndex));
        opened.push({ index: tailIndex, ...next });
        if (next.size !== 0) throw unexpectedData(next.blob.path, next.size);
        blobs.set(tailIndex, new AppendBlob(next.blob, 0, next.blob.path, config.writeBufferBytes));
        last.blob.release?.();
      }
      const tail = blobs.get(tailIndex)!;
      blobs.delete(tailIndex);
      const size = tailIndex * config.itemsPerBlob + tail.size / chunkSize;
      const pruningBoundary = opened[0].index * config.itemsPerBlob;
      return new FixedJournal(storage, partition, config, blobs, tail, tailIndex, size, pruningBoundary);
    } catch (err) {
      for (const { blob } of opened) blob.close();
      throw err;
    }
  }

  /**
   * Create a journal whose next position is `size`, with nothing before it retained (state sync starts
   * a log at its target's lower bound this way). Follows Rust's `init_journal_at_size`: only the blob
   * ⌊size / itemsPerBlob⌋ is created, and the `size mod itemsPerBlob` slots before `size` in it are
   * zero-filled. Those slots are not items: reading one fails with `ChecksumMismatch`, and
   * `pruningBoundary` / `oldestRetainedPos` report the blob's start, as in Rust. Nothing is synced:
   * until an item appended after `size` is synced, a reopen trims the zero slots (size drops to the
   * blob's start). `partition` must be empty.
   */
  static async initAtSize(root: string | Storage, partition: string, cfg: FixedConfig, size: number): Promise<FixedJournal> {
    const storage = toStorage(root);
    checkPartitionName(partition);
    const config = checkConfig(cfg);
    requireIndex(size, "size");
    if ((await storage.scan(partition)).length > 0) {
      throw new JournalError("InvalidConfig", `initAtSize needs an empty partition, ${partition} has blobs`);
    }
    const tailIndex = Math.floor(size / config.itemsPerBlob);
    const { blob } = await storage.open(partition, indexName(tailIndex));
    const tail = new AppendBlob(blob, 0, blob.path, config.writeBufferBytes);
    try {
      tail.resize((size % config.itemsPerBlob) * (config.itemSize + CRC_BYTES));
    } catch (err) {
      tail.close();
      throw err;
    }
    return new FixedJournal(storage, partition, config, new Map(), tail, tailIndex, size, tailIndex * config.itemsPerBlob);
  }

  append(item: Uint8Array): number {
    this.life.check();
    if (item.length !== this.itemSize) {
      throw new JournalError("InvalidArgument", `item has ${item.length} bytes, expected ${this.itemSize}`);
    }
    const tail = this.tail;
    try {
      const at = tail.reserve(this.chunkSize);
      const buf = tail.buf;
      buf.set(item, at);
      writeCrc(buf, at, at + this.itemSize);
      tail.commit(this.chunkSize);
      if (tail.size === this.blobBytes) this.roll();
    } catch (err) {
      throw this.life.fail(err);
    }
    return this._size++;
  }

  /**
   * Appends the items packed back to back in `flat` (a whole number of items): the same bytes as
   * appending them one by one, with one reservation and one roll check per run that fits the tail's
   * buffer instead of per item. Returns the position of the first.
   */
  appendMany(flat: Uint8Array): number {
    this.life.check();
    const { itemSize, chunkSize } = this;
    if (flat.length % itemSize !== 0) {
      throw new JournalError("InvalidArgument", `${flat.length} bytes is not a whole number of ${itemSize}-byte items`);
    }
    const first = this._size;
    try {
      for (let from = 0; from < flat.length;) {
        const tail = this.tail;
        // As many as fit in the tail blob and in its buffer as it is (at least one), in one reservation.
        const fit = Math.max(1, Math.floor(tail.room / chunkSize));
        const n = Math.min((flat.length - from) / itemSize, (this.blobBytes - tail.size) / chunkSize, fit);
        let at = tail.reserve(n * chunkSize);
        const buf = tail.buf;
        for (let k = 0; k < n; k++, at += chunkSize, from += itemSize) {
          buf.set(flat.subarray(from, from + itemSize), at);
          writeCrc(buf, at, at + itemSize);
        }
        tail.commit(n * chunkSize);
        this._size += n;
        if (tail.size === this.blobBytes) this.roll();
      }
    } catch (err) {
      throw this.life.fail(err);
    }
    return first;
  }

  read(pos: number): Uint8Array {
    this.life.check();
    this.checkReadable(pos, 1);
    const blob = this.blobOf(pos);
    const offset = (pos % this.itemsPerBlob) * this.chunkSize;
    const chunk = this.chunkScratch;
    blob.readAt(chunk, offset);
    this.verify(chunk, 0, blob, offset, pos);
    return chunk.slice(0, this.itemSize);
  }

  /** Items `[start, start + count)` packed back to back (`count × itemSize` bytes, a fresh buffer). */
  readRange(start: number, count: number): Uint8Array {
    this.life.check();
    requireIndex(count, "count");
    this.checkReadable(start, count);
    const out = new Uint8Array(count * this.itemSize);
    this.readRangeInto(start, count, out);
    return out;
  }

  /** Items `[start, start + count)` as views into one fresh buffer (one read per blob span). */
  readMany(start: number, count: number): Uint8Array[] {
    const packed = this.readRange(start, count);
    const items = new Array<Uint8Array>(count);
    for (let i = 0; i < count; i++) items[i] = packed.subarray(i * this.itemSize, (i + 1) * this.itemSize);
    return items;
  }

  /** Like {@link readRange}, into `out` (at least `count × itemSize` bytes): one read per blob span. */
  readRangeInto(start: number, count: number, out: Uint8Array): void {
    this.life.check();
    requireIndex(count, "count");
    this.checkReadable(start, count);
    if (out.length < count * this.itemSize) {
      throw new JournalError("InvalidArgument", `output holds ${out.length} bytes, ${count} items need ${count * this.itemSize}`);
    }
    const chunks = Math.min(count, Math.max(1, Math.floor(READ_CHUNK_BYTES / this.chunkSize)));
    if (this.rangeScratch.length < chunks * this.chunkSize) this.rangeScratch = new Uint8Array(chunks * this.chunkSize);
    let o = 0;
    this.scan(start, start + count, this.rangeScratch, (_pos, chunks, at) => {
      out.set(chunks.subarray(at, at + this.itemSize), o);
      o += this.itemSize;
      return true;
    });
  }

  replay(startPos: number, visit: ReplayVisitor): void {
    this.life.check();
    requireIndex(startPos, "startPos");
    checkReplayStart(startPos, this._pruningBoundary, this._size);
    const items = Math.max(1, Math.floor(READ_CHUNK_BYTES / this.chunkSize));
    const buffer = new Uint8Array(Math.min(items, this._size - startPos) * this.chunkSize);
    this.scan(startPos, this._size, buffer, (pos, chunks, at) => {
      return visit(pos, chunks.subarray(at, at + this.itemSize)) !== false;
    });
  }

  /** Same as {@link sync}: a fixed journal has a single thing to make durable. */
  commit(): Promise<void> {
    return this.sync();
  }

  /**
   * Make every earlier append durable: full blobs were synced when they filled; this fsyncs the tail
   * and the directory entries of the blobs created since the last sync.
   */
  sync(): Promise<void> {
    return settle(() => {
      this.life.check();
      const tail = this.tail;
      return this.life.enqueue(async () => {
        await tail.sync();
        await this.storage.syncDirectory(this.partition);
      });
    });
  }

  rewind(size: number): Promise<void> {
    return settle(() => {
      this.life.check();
      if (!this.checkRewind(size)) return Promise.resolve();

      const target = Math.floor(size / this.itemsPerBlob);
      const removed: { index: number; blob: AppendBlob }[] = [];
      while (this.tailIndex > target) {
        this.tail.dropped = true;
        this.handles.remove(this.tail);
        this.leaving.add(this.tail);
        removed.push({ index: this.tailIndex, blob: this.tail });
        this.tailIndex--;
        this.tail = this.blobs.get(this.tailIndex)!;
        this.blobs.delete(this.tailIndex);
      }
      // The tail is written again: out of the cache, so it stays open (its file reopens writable on
      // the first write if it had been released).
      const tail = this.tail;
      this.handles.remove(tail);
      const truncate = tail.resize((size % this.itemsPerBlob) * this.chunkSize);
      const fence = truncate ? tail.hold() : 0;
      this._size = size;
      // Newest blobs go first, and the tail is cut last, so a crash midway leaves no short non-tail blob.
      return this.life.enqueue(async () => {
        for (const { index, blob } of removed) {
          this.leaving.delete(blob);
          blob.close();
          await this.storage.remove(this.partition, indexName(index));
        }
        if (truncate) {
          tail.truncateFile();
          tail.release(fence);
        }
      });
    });
  }

  /** Remove every blob whose items are all below `minPos` (never the tail); `true` if any was removed. */
  prune(minPos: number): Promise<boolean> {
    return this.pruneAfter(minPos, undefined);
  }

  prunedBoundary(minPos: number): number {
    return Math.max(this._pruningBoundary, Math.min(Math.floor(minPos / this.itemsPerBlob), this.tailIndex) * this.itemsPerBlob);
  }

  /**
   * @internal {@link prune}, but the blob removals wait for `after` (the variable journal removes its
   * data sections first). The in-memory pruning boundary moves at once.
   */
  pruneAfter(minPos: number, after: Promise<unknown> | undefined): Promise<boolean> {
    return settle(() => {
      this.life.check();
      requireIndex(minPos, "minPos");
      const oldest = this._pruningBoundary / this.itemsPerBlob;
      const newOldest = Math.min(Math.floor(minPos / this.itemsPerBlob), this.tailIndex);
      if (newOldest <= oldest) return Promise.resolve(false);
      const removed: { index: number; blob: AppendBlob }[] = [];
      for (let index = oldest; index < newOldest; index++) {
        const blob = this.blobs.get(index)!;
        removed.push({ index, blob });
        this.blobs.delete(index);
        // Nothing reads below the boundary any more: drop the handle now if the blob is sealed
        // (otherwise its queued seal still needs it; the removal below closes it after that).
        this.handles.remove(blob);
        blob.releaseHandle();
        this.leaving.add(blob);
      }
      this._pruningBoundary = newOldest * this.itemsPerBlob;
      // Oldest first, so a crash midway leaves no gap.
      return this.life.enqueue(async () => {
        await after;
        for (const { index, blob } of removed) {
          this.leaving.delete(blob);
          blob.close();
          await this.storage.remove(this.partition, indexName(index));
        }
        return true;
      });
    });
  }

  /**
   * @internal Keep bytes appended from now on out of the tail's file, and every later disk task
   * waiting, until `gate` settles. The variable journal uses it so that, after a rewind, neither of
   * its two journals writes new items before both truncations are on disk (a crash would otherwise
   * mix two timelines), and so that offsets never reach the disk before their data section exists.
   */
  barrier(gate: Promise<unknown>): void {
    this.life.check();
    const tail = this.tail;
    const fence = tail.hold();
    this.life.background(async () => {
      try {
        await gate;
      } finally {
        tail.release(fence);
      }
    });
  }

  /** Sync, then release every file handle. */
  async close(): Promise<void> {
    return this.life.closeWith(
      () =>
        this.life.enqueue(async () => {
          await this.tail.sync();
          await this.storage.syncDirectory(this.partition);
        }),
      () => this.releaseFiles(),
    );
  }

  /** Delete every blob and the partition. Allowed on a poisoned handle (to clean up after a failure). */
  async destroy(): Promise<void> {
    return this.life.destroyWith(
      () => this.releaseFiles(),
      () => this.storage.remove(this.partition),
    );
  }

  /**
   * The tail is full: queue "fsync it and create the next blob", the two side by side (the create
   * then costs the event loop nothing and the chain no step of its own); appends continue into the
   * next blob's buffer, which reaches its file only once the full blob is durable. A power cut can
   * thus leave the new blob empty after a full one that was not synced: `open` repairs that one as
   * the tail and removes the empty blobs after it.
   */
  private roll(): void {
    const full = this.tail;
    full.flush();
    this.blobs.set(this.tailIndex, full);
    this.tailIndex++;
    const index = this.tailIndex;
    const next = new AppendBlob(undefined, 0, this.storage.locate(this.partition, indexName(index)), this.flushBytes);
    this.tail = next;
    const sealed = this.life.enqueue(async () => {
      // A rewind since may have dropped these blobs (nothing to do), or shortened `full` and dropped
      // `next` (only the sync is left: creating `next` could leave a short blob before it).
      if (full.dropped) return;
      // Its directory entry is made durable by the next `sync` (every durability point).
      const file = await syncBesideCreate(full.sync(), this.storage, this.partition, next.dropped ? undefined : indexName(index));
      full.releaseBuffer();
      // Sealed: from now on its handle is the cache's to keep or close (recent items are read most).
      if (this.blobs.get(index - 1) === full) this.handles.touch(full);
      if (file === undefined) return;
      next.attach(file.blob); // closed with `next` from now on
      // Rewound away meanwhile: the rewind's queued removal deletes the file.
      if (next.dropped) return;
      if (file.size !== 0) throw unexpectedData(file.blob.path, file.size);
      next.flush();
    });
    // A failure only poisons the journal (seen by the next call). Skipped (after an earlier
    // failure) or not, the task is over: waiters must not wait for it.
    this.backlog.track(sealed);
  }

  /**
   * Waits while more than `maxBlobs` filled blobs still wait for their fsync. Appends that outrun
   * the disk keep every such blob's bytes in memory (the next blob cannot be written before the
   * previous one is synced), so a writer that never syncs calls this to bound that memory. Not a
   * durability point; resolves at once when the backlog is small, and as soon as it is small
   * enough again otherwise (the disk keeps working on the rest meanwhile).
   */
  async waitForBacklog(maxBlobs: number): Promise<void> {
    this.life.check();
    await this.backlog.wait(maxBlobs);
    this.life.check(); // a failed fsync poisons the journal: say so now
  }

  private blobOf(pos: number): AppendBlob {
    const index = Math.floor(pos / this.itemsPerBlob);
    if (index === this.tailIndex) return this.tail;
    const blob = this.blobs.get(index)!;
    this.handles.touch(blob);
    return blob;
  }

  private checkReadable(start: number, count: number): void {
    requireIndex(start, "position");
    checkReadable(start, count, this._pruningBoundary, this._size);
  }

  /**
   * Read `[start, end)` blob span by blob span into `buffer` (a whole number of chunks), verify each
   * chunk's CRC and hand it to `each` until it returns false.
   */
  private scan(start: number, end: number, buffer: Uint8Array, each: (pos: number, chunks: Uint8Array, at: number) => boolean): void {
    const perRead = Math.floor(buffer.length / this.chunkSize);
    let pos = start;
    while (pos < end) {
      const blob = this.blobOf(pos);
      const slot = pos % this.itemsPerBlob;
      const n = Math.min(end - pos, this.itemsPerBlob - slot, perRead);
      const offset = slot * this.chunkSize;
      blob.readAt(n * this.chunkSize === buffer.length ? buffer : buffer.subarray(0, n * this.chunkSize), offset);
      for (let i = 0; i < n; i++) {
        const at = i * this.chunkSize;
        this.verify(buffer, at, blob, offset + at, pos + i);
        if (!each(pos + i, buffer, at)) return;
      }
      pos += n;
    }
  }

  private verify(buf: Uint8Array, at: number, blob: AppendBlob, offset: number, pos: number): void {
    const mismatch = crcMismatch(buf, at, at + this.itemSize);
    if (mismatch !== undefined) {
      throw new JournalError("ChecksumMismatch", `item ${pos} in ${blob.path} at offset ${offset}: ${mismatch}`, {
        position: pos,
        file: blob.path,
        offset,
      });
    }
  }

  private releaseFiles(): void {
    this.handles.clear();
    for (const blob of this.blobs.values()) blob.close();
    for (const blob of this.leaving) blob.close();
    this.leaving.clear();
    this.tail.close();
  }
}

/**
 * Cut the tail blob to whole chunks, then drop trailing chunks whose CRC fails (torn or never-written
 * data: a crash can leave a file extended but not filled). Returns the repaired size.
 */
async function trimTail(blob: Blob, size: number, chunkSize: number, itemSize: number): Promise<number> {
  let valid = size - (size % chunkSize);
  const chunk = new Uint8Array(chunkSize);
  while (valid > 0) {
    blob.readAt(chunk, valid - chunkSize);
    if (crcMatches(chunk, 0, itemSize)) break;
    valid -= chunkSize;
  }
  if (valid !== size) {
    blob.resize(valid);
    await blob.sync();
  }
  return valid;
}

function checkConfig(cfg: FixedConfig): Required<FixedConfig> {
  const { itemSize, itemsPerBlob } = cfg;
  const maxOpenBlobs = cfg.maxOpenBlobs ?? DEFAULT_MAX_OPEN_BLOBS;
  checkPositive({ itemSize, itemsPerBlob, writeBufferBytes: cfg.writeBufferBytes ?? DEFAULT_WRITE_BUFFER_BYTES, maxOpenBlobs });
  const blobBytes = itemsPerBlob * (itemSize + CRC_BYTES);
  if (!Number.isSafeInteger(blobBytes)) {
    throw new JournalError("InvalidConfig", `blobs of ${itemsPerBlob} items of ${itemSize} bytes are too large`);
  }
  // A buffer never holds more than one blob: small blobs (the variable journal's offsets: 4 KiB)
  // get buffers of their size, not 64 KiB each while they wait for their fsync.
  const writeBufferBytes = Math.min(cfg.writeBufferBytes ?? DEFAULT_WRITE_BUFFER_BYTES, blobBytes);
  return { itemSize, itemsPerBlob, writeBufferBytes, maxOpenBlobs };
}

function unexpectedData(file: string, size: number): JournalError {
  return new JournalError("Corruption", `new blob ${file} already holds ${size} bytes`, { file, offset: size });
}
