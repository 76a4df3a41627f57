/**
 * Segmented journal: variable-length entries grouped into numbered sections, one blob per section
 * (commonware `journal::segmented::variable`, without compression). Entry = `varint(len) ‖ data ‖
 * crc32(varint ‖ data) as u32 BE`; each entry starts at a 16-byte-aligned offset, the gap before it
 * zero-filled (never padding after the last entry). An entry's *offset* is its byte offset / 16 (a u32).
 * `sync(section)` fsyncs that section. A torn tail is cut back by `repairTail`, not by `open`.
 * Only the newest section stays open; older ones are opened on demand, `maxOpenBlobs` at most (LRU).
 */
import { Backlog } from "./backlog";
import { AppendBlob } from "./append";
import { JournalError } from "./errors";
import { CRC_BYTES, checkPositive, crcMismatch, writeCrc } from "./framing";
import { DEFAULT_MAX_OPEN_BLOBS, HandleCache } from "./handles";
import { Lifecycle } from "./lifecycle";
import { type Blob, type Storage, checkPartitionName, indexName, nameIndex, openListed, syncBesideCreate } from "./storage";
import { MAX_VARINT_U32_BYTES, VARINT_TRUNCATED, readVarintU32, varintU32Size, writeVarintU32 } from "../codec";

/** Entries start at multiples of this many bytes. */
export const ITEM_ALIGNMENT = 16;
const MAX_U32 = 0xffff_ffff;
/** Bytes read per syscall while scanning a section. */
const READ_CHUNK_BYTES = 1 << 20;
/** First read of a single `get`: enough for a whole small entry, so one syscall usually suffices. */
const GET_HEAD_BYTES = 256;

/** Called per entry by {@link SegmentedJournal.scan}: data is `buf[start, start + len)`; `false` stops. */
export type EntryVisitor = (offset: number, buf: Uint8Array, start: number, len: number) => boolean;

/** How a section scan ended. */
export interface SectionScan {
  /** Entries visited. */
  readonly count: number;
  /** Byte just past the last valid entry's CRC. */
  readonly end: number;
  /** Set when an invalid or incomplete entry stopped the scan (not when the visitor did). */
  readonly failure?: JournalError;
}

export class SegmentedJournal {
  /** Sections by number; all but the newest hold an open file only while in `handles`. */
  private readonly sections: Map<number, AppendBlob>;
  /** The newest section (appended to, so always open), or -1 when there is none. */
  private newest: number;
  /** LRU of the sections other than the newest that may hold an open file. */
  private readonly handles: HandleCache;
  /** Sections pruned or rewound away whose queued removal has not closed them yet. */
  private readonly leaving = new Set<AppendBlob>();
  /** Sections below this were pruned during this run (not persisted: a lower bound, as in Rust). */
  private oldestAllowed = 0;
  private readonly life: Lifecycle;
  /** Sealed sections whose fsync has not finished (their buffers are held until it has). */
  private readonly backlog = new Backlog();
  private readonly head = new Uint8Array(GET_HEAD_BYTES);
  private created: Promise<void> = Promise.resolve();
  /** The file of the section after the last one sealed, created beside that seal's fsync, until `create` adopts it. */
  private ahead: { readonly section: number; readonly file: Blob; readonly size: number } | undefined = undefined;

  private constructor(
    private readonly storage: Storage,
    readonly partition: string,
    private readonly flushBytes: number,
    sections: Map<number, AppendBlob>,
    newest: number,
    maxOpenBlobs: number,
  ) {
    this.sections = sections;
    this.newest = newest;
    this.handles = new HandleCache(maxOpenBlobs);
    this.life = new Lifecycle(`segmented journal ${partition}`);
  }

  /**
   * Find every section blob in `partition` (nothing is read or repaired). Only the newest stays open;
   * `maxOpenBlobs` older ones at most are kept open for reads (default 32).
   */
  static async open(storage: Storage, partition: string, writeBufferBytes: number, maxOpenBlobs: number = DEFAULT_MAX_OPEN_BLOBS): Promise<SegmentedJournal> {
    checkPartitionName(partition);
    checkPositive({ maxOpenBlobs });
    const names = await storage.scan(partition);
    const numbers = names.map((name) => {
      const section = nameIndex(name);
      if (section === undefined) {
        const file = storage.locate(partition, name);
        throw new JournalError("InvalidBlobName", `${file} is not a section index`, { file });
      }
      return section;
    });
    let newest = -1;
    for (const n of numbers) if (n > newest) newest = n;
    // Only the newest section is opened: the others reopen on demand, through the handle cache.
    const opened = await openListed(storage, partition, names, numbers.indexOf(newest));
    const sections = new Map<number, AppendBlob>();
    opened.forEach(({ blob, size }, k) => sections.set(numbers[k]!, new AppendBlob(blob, size, blob.path, writeBufferBytes)));
    return new SegmentedJournal(storage, partition, writeBufferBytes, sections, newest, maxOpenBlobs);
  }

  /** Section numbers present, ascending. */
  sectionList(): number[] {
    return [...this.sections.keys()].sort((a, b) => a - b);
  }

  /** Byte size of `section` (0 if absent), buffered bytes included. */
  size(section: number): number {
    return this.sections.get(section)?.size ?? 0;
  }

  /** Append `data` to `section` (creating it), returning the entry's offset in 16-byte units. */
  append(section: number, data: Uint8Array): number {
    this.life.check();
    if (section < this.oldestAllowed) {
      throw new JournalError("ItemPruned", `section ${section} is below the pruned section ${this.oldestAllowed}`);
    }
    if (data.length > MAX_U32) throw new JournalError("InvalidArgument", `item of ${data.length} bytes is too large`);
    const blob = this.sections.get(section) ?? this.create(section);
    const aligned = Math.ceil(blob.size / ITEM_ALIGNMENT) * ITEM_ALIGNMENT;
    const offset = aligned / ITEM_ALIGNMENT;
    if (offset > MAX_U32) throw new JournalError("InvalidArgument", `section ${section} is full (offset overflow)`);
    try {
      const pad = aligned - blob.size;
      const entry = varintU32Size(data.length) + data.length + CRC_BYTES;
      const at = blob.reserve(pad + entry);
      const buf = blob.buf;
      buf.fill(0, at, at + pad);
      const start = at + pad;
      const body = writeVarintU32(buf, start, data.length) + data.length;
      buf.set(data, start + body - data.length);
      writeCrc(buf, start, start + body);
      blob.commit(pad + entry);
    } catch (err) {
      throw this.life.fail(err);
    }
    return offset;
  }

  /** The data of the entry at `offset` (16-byte units) in `section`: a fresh copy, CRC verified. */
  get(section: number, offset: number): Uint8Array {
    this.life.check();
    const blob = this.sections.get(section);
    if (blob === undefined) {
      throw new JournalError("Corruption", `section ${section} of ${this.partition} does not exist`);
    }
    if (section !== this.newest) this.handles.touch(blob);
    const at = offset * ITEM_ALIGNMENT;
    const avail = blob.size - at;
    if (avail < MAX_VARINT_U32_BYTES) throw entryError("Corruption", blob, at, `entry runs past the end (${blob.size} bytes)`);
    const head = this.head.subarray(0, Math.min(GET_HEAD_BYTES, avail));
    blob.readAt(head, at);
    const v = readVarintU32(head, 0, head.length);
    if (v < 0) throw entryError("Corruption", blob, at, "invalid length prefix");
    const len = Math.floor(v / 8);
    const body = (v % 8) + len;
    if (body + CRC_BYTES > avail) throw entryError("Corruption", blob, at, `length ${len} runs past the end (${blob.size} bytes)`);
    let entry = head;
    if (body + CRC_BYTES > head.length) {
      entry = new Uint8Array(body + CRC_BYTES);
      blob.readAt(entry, at);
    }
    checkEntryCrc(entry, 0, body, blob, at);
    return entry.slice(body - len, body);
  }

  /**
   * Visit the entries of `section` from byte `startByte` (aligned) in order, reading large chunks.
   * Stops at the end of the section, when `visit` returns false, or at the first incomplete or invalid
   * entry (reported in `failure`; the caller decides whether that is a torn tail or corruption).
   */
  scan(section: number, startByte: number, visit: EntryVisitor): SectionScan {
    this.life.check();
    const blob = this.sections.get(section);
    if (blob === undefined) return { count: 0, end: startByte };
    const cached = section !== this.newest;
    const size = blob.size;
    let window = new Uint8Array(Math.max(0, Math.min(READ_CHUNK_BYTES, size - startByte)));
    let winStart = startByte;
    let winEnd = startByte;
    // Make `[from, from + n)` (n ≤ size - from) readable in `window`.
    const need = (from: number, n: number): number => {
      if (from + n > winEnd) {
        if (n > window.length) window = new Uint8Array(n);
        const len = Math.min(window.length, size - from);
        // Touched before every read: the visitor may have read other sections in between.
        if (cached) this.handles.touch(blob);
        blob.readAt(len === window.length ? window : window.subarray(0, len), from);
        winStart = from;
        winEnd = from + len;
      }
      return from - winStart;
    };
    let count = 0;
    let end = startByte;
    let at = startByte;
    while (at < size) {
      const rel = need(at, Math.min(MAX_VARINT_U32_BYTES, size - at));
      const v = readVarintU32(window, rel, rel + Math.min(MAX_VARINT_U32_BYTES, size - at));
      if (v === VARINT_TRUNCATED || size - at < MAX_VARINT_U32_BYTES) {
        return { count, end, failure: entryError("Corruption", blob, at, "incomplete entry at the end") };
      }
      if (v < 0) return { count, end, failure: entryError("Corruption", blob, at, "invalid length prefix") };
      const len = Math.floor(v / 8);
      const body = (v % 8) + len;
      if (body + CRC_BYTES > size - at) {
        return { count, end, failure: entryError("Corruption", blob, at, `length ${len} runs past the end (${size} bytes)`) };
      }
      const r = need(at, body + CRC_BYTES);
      try {
        checkEntryCrc(window, r, body, blob, at);
      } catch (err) {
        return { count, end, failure: err as JournalError };
      }
      count++;
      end = at + body + CRC_BYTES;
      if (!visit(at / ITEM_ALIGNMENT, window, r + body - len, len)) break;
      at = Math.ceil(end / ITEM_ALIGNMENT) * ITEM_ALIGNMENT;
    }
    return { count, end };
  }

  /**
   * Count the entries of `section`, cutting it right after the last valid entry if an incomplete or
   * invalid one follows (a torn write), and syncing the cut. Only for use right after `open`.
   */
  async repairTail(section: number): Promise<number> {
    const result = this.scan(section, 0, () => true);
    const blob = this.sections.get(section);
    if (result.failure !== undefined && blob !== undefined) {
      if (blob.resize(result.end)) blob.truncateFile();
      await blob.sync();
    }
    return result.count;
  }

  /**
   * fsync `section` and the directory entries of sections created since the last sync (resolves
   * after every earlier queued task, even if the section does not exist).
   */
  sync(section: number): Promise<void> {
    return this.syncSection(section, true);
  }

  /**
   * @internal {@link sync} less the directory: seals a full section. The next section's file is
   * created beside the fsync (the create then costs the event loop nothing and the chain no step of
   * its own) for `create` to adopt, which writes to it only after this fsync: a power cut can thus
   * leave that file empty after a section that was not synced, which the variable journal's `open` removes.
   */
  seal(section: number): Promise<void> {
    const sealed = this.syncSection(section, false, section + 1);
    this.backlog.track(sealed);
    return sealed;
  }

  /** @internal Waits while more than `maxSections` sealed sections still wait for their fsync (see `Backlog`). */
  async waitForBacklog(maxSections: number): Promise<void> {
    this.life.check();
    await this.backlog.wait(maxSections);
    this.life.check(); // a failed fsync poisons the journal: say so now
  }

  private syncSection(section: number, directory: boolean, createAhead?: number): Promise<void> {
    this.life.check();
    const blob = this.sections.get(section);
    return this.life.enqueue(async () => {
      if (directory) await this.storage.syncDirectory(this.partition);
      // Its directory entry is made durable by the next `sync` (every durability point).
      const made = await syncBesideCreate(blob?.sync(), this.storage, this.partition, createAhead === undefined ? undefined : indexName(createAhead));
      if (made !== undefined) {
        this.ahead?.file.close(); // never adopted (its section was rewound away): the rewind removed or removes the file
        this.ahead = { section: createAhead!, file: made.blob, size: made.size };
      }
      if (blob === undefined) return;
      // A synced older section (sealed, in the variable journal) is the cache's to keep or close,
      // and needs no write buffer any more.
      if (section !== this.newest && this.sections.get(section) === blob) {
        blob.releaseBuffer();
        this.handles.touch(blob);
      }
    });
  }

  /** Remove every section after `section` and cut `section` to `byteSize` bytes (durable after `sync`). */
  rewind(section: number, byteSize: number): Promise<void> {
    this.life.check();
    const removed = this.sectionList()
      .filter((s) => s > section)
      .reverse();
    const blobs = removed.map((s) => this.sections.get(s)!);
    for (const s of removed) this.sections.delete(s);
    for (const b of blobs) {
      b.dropped = true;
      this.handles.remove(b);
      this.leaving.add(b);
    }
    this.newest = this.newestSection();
    // The newest section is appended to again: out of the cache, so it stays open.
    const blob = this.sections.get(section);
    const newest = this.sections.get(this.newest);
    if (newest !== undefined) this.handles.remove(newest);
    const truncate = blob !== undefined && byteSize < blob.size && blob.resize(byteSize);
    const fence = truncate ? blob.hold() : 0;
    // Newest sections first, then the cut, so a crash midway leaves a prefix of the journal.
    return this.life.enqueue(async () => {
      // A file created ahead for a section past the new end goes first (it is the newest).
      const ahead = this.ahead;
      if (ahead !== undefined && ahead.section > section) {
        this.ahead = undefined;
        ahead.file.close();
        await this.storage.remove(this.partition, indexName(ahead.section));
      }
      for (let i = 0; i < removed.length; i++) {
        this.leaving.delete(blobs[i]);
        blobs[i].close();
        await this.storage.remove(this.partition, indexName(removed[i]));
      }
      if (truncate) {
        blob.truncateFile();
        blob.release(fence);
      }
    });
  }

  /** Keep bytes appended to `section` from now on out of its file, and later disk tasks waiting, until
   * `gate` settles (see {@link FixedJournal.barrier}). */
  barrier(section: number, gate: Promise<unknown>): void {
    this.life.check();
    const blob = this.sections.get(section);
    const fence = blob?.hold() ?? 0;
    this.life.background(async () => {
      try {
        await gate;
      } finally {
        blob?.release(fence);
      }
    });
  }

  /** True if some section below `min` exists (what {@link prune} would remove). */
  hasSectionsBelow(min: number): boolean {
    for (const s of this.sections.keys()) if (s < min) return true;
    return false;
  }

  /** Remove every section below `min`; resolves to whether any was removed. */
  prune(min: number): Promise<boolean> {
    return this.pruneAfter(min, undefined);
  }

  /** {@link prune}, with the file removals waiting for `after` (the sections leave memory at once). */
  pruneAfter(min: number, after: Promise<unknown> | undefined): Promise<boolean> {
    this.life.check();
    const removed = this.sectionList().filter((s) => s < min);
    if (removed.length === 0) return Promise.resolve(false);
    const blobs = removed.map((s) => this.sections.get(s)!);
    for (const s of removed) this.sections.delete(s);
    for (const b of blobs) {
      // Unreadable from now on: drop the handle at once unless a queued sync still needs it.
      this.handles.remove(b);
      b.releaseHandle();
      this.leaving.add(b);
    }
    this.newest = this.newestSection();
    this.oldestAllowed = Math.max(this.oldestAllowed, min);
    return this.life.enqueue(async () => {
      await after;
      for (let i = 0; i < removed.length; i++) {
        this.leaving.delete(blobs[i]);
        blobs[i].close();
        await this.storage.remove(this.partition, indexName(removed[i]));
      }
      return true;
    });
  }

  /** Sync every changed section and release the files. */
  async close(): Promise<void> {
    return this.life.closeWith(
      () =>
        this.life.enqueue(async () => {
          for (const blob of this.sections.values()) if (blob.dirty) await blob.sync();
          await this.storage.syncDirectory(this.partition);
        }),
      () => this.releaseFiles(),
    );
  }

  /** Delete every section and the partition (allowed on a poisoned handle). */
  async destroy(): Promise<void> {
    return this.life.destroyWith(
      () => this.releaseFiles(),
      () => this.storage.remove(this.partition),
    );
  }

  /**
   * Resolves once the file of the section most recently started by `append` exists on disk (the
   * variable journal holds its offsets back until then).
   */
  lastCreation(): Promise<void> {
    return this.created;
  }

  /** A section whose file is created by a queued task; appends buffer until then. */
  private create(section: number): AppendBlob {
    const name = indexName(section);
    const blob = new AppendBlob(undefined, 0, this.storage.locate(this.partition, name), this.flushBytes);
    this.sections.set(section, blob);
    if (section > this.newest) {
      // The previous newest section is only read from now on; it joins the cache (if still unsynced,
      // it leaves again on eviction and rejoins when `sync` seals it).
      const previous = this.sections.get(this.newest);
      this.newest = section;
      if (previous !== undefined) {
        previous.releaseBuffer(); // when already synced; else `sync` lets the buffer go
        this.handles.touch(previous);
      }
    }
    // The first section of an empty journal is created durably at once (offsets on disk with no data
    // section at all would read as a pruned journal); later ones are made durable by the next `sync`.
    const deferDirectorySync = this.sections.size > 1;
    this.created = this.life.enqueue(async () => {
      // Created beside the seal of the section before (see `seal`), unless that seal is still to come.
      const made = this.ahead;
      const ahead = made?.section === section ? made : undefined;
      if (ahead !== undefined) this.ahead = undefined;
      // Rewound away before its file was adopted: the rewind's queued removal deletes a file made
      // ahead, and none is created now (it would be, if only until then, a section after one that
      // is not full).
      if (blob.dropped) return ahead?.file.close();
      let file: Blob;
      let size: number;
      if (ahead !== undefined) ({ file, size } = ahead);
      else ({ blob: file, size } = await this.storage.open(this.partition, name, { deferDirectorySync }));
      blob.attach(file);
      if (size !== 0) {
        throw new JournalError("Corruption", `new section ${file.path} already holds ${size} bytes`, { file: file.path });
      }
      blob.flush();
    });
    this.created.catch(() => undefined); // the failure poisons the journal; the next call reports it
    return blob;
  }

  /** The highest section number present, or -1. */
  private newestSection(): number {
    let newest = -1;
    for (const s of this.sections.keys()) if (s > newest) newest = s;
    return newest;
  }

  private releaseFiles(): void {
    this.handles.clear();
    this.ahead?.file.close(); // left empty on disk: `open` of the variable journal removes it
    this.ahead = undefined;
    for (const blob of this.sections.values()) blob.close();
    for (const blob of this.leaving) blob.close();
    this.leaving.clear();
  }
}

function checkEntryCrc(buf: Uint8Array, at: number, body: number, blob: AppendBlob, offset: number): void {
  const mismatch = crcMismatch(buf, at, at + body);
  if (mismatch !== undefined) throw entryError("ChecksumMismatch", blob, offset, mismatch);
}

function entryError(kind: "Corruption" | "ChecksumMismatch", blob: AppendBlob, offset: number, what: string): JournalError {
  return new JournalError(kind, `entry in ${blob.path} at offset ${offset}: ${what}`, { file: blob.path, offset });
}
