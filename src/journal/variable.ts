/**
 * Variable journal: a contiguous log of variable-length items (commonware `journal::contiguous::variable`).
 * Item p is an entry of the segmented journal `<partition>_data`, section ⌊p / itemsPerSection⌋; its
 * entry offset (u32, 16-byte units) is item p of the fixed journal `<partition>_offsets`, whose blobs
 * match the sections. Every section but the last is full and was fsynced when it filled. `commit` fsyncs
 * the current data section; `sync` also the offsets. Data is the source of truth: `open` repairs offsets.
 * Each of the two journals keeps its newest blob open plus at most `maxOpenBlobs` older ones (LRU).
 */
import { type Contiguous, ContiguousPositions, type ReplayVisitor } from "./contiguous";
import { JournalError, requireIndex } from "./errors";
import { FixedJournal } from "./fixed";
import { checkPositive, checkReadable, checkReplayStart, outOfRange, readU32 } from "./framing";
import { DEFAULT_MAX_OPEN_BLOBS } from "./handles";
import { Lifecycle, settle } from "./lifecycle";
import { ITEM_ALIGNMENT, SegmentedJournal } from "./segmented";
import { type Storage, checkPartitionName, toStorage } from "./storage";

export interface VariableConfig {
  /** Items per data section (and per offsets blob): 512 for the `immutable` log. Never change it. */
  readonly itemsPerSection: number;
  /** Bytes buffered per blob before they reach the file (default 64 KiB; no format effect). */
  readonly writeBufferBytes?: number;
  /**
   * Older data sections, and older offsets blobs, whose files stay open for reads, least recently used
   * closed first (default 32 each; no format effect). With the two newest blobs, and the next data
   * section's file once created ahead of its first item, the journal holds at most 2 × (this + 1) + 1 files.
   */
  readonly maxOpenBlobs?: number;
}

const DEFAULT_WRITE_BUFFER_BYTES = 64 * 1024;
const OFFSET_BYTES = 4;
/** `readRange` first sizes its buffer for items of this many bytes (an `immutable` set is 65). */
const RANGE_BYTES_PER_ITEM_GUESS = 80;
/** ... but not above this (a huge `count` must not allocate before anything was read). */
const MAX_RANGE_PREALLOCATION = 1 << 20;

export class VariableJournal extends ContiguousPositions implements Contiguous {
  readonly itemsPerSection: number;
  private readonly life: Lifecycle;
  private readonly offsetScratch = new Uint8Array(OFFSET_BYTES);

  private constructor(
    readonly partition: string,
    private readonly data: SegmentedJournal,
    private readonly offsets: FixedJournal,
    itemsPerSection: number,
    size: number,
    oldest: number,
  ) {
    super(size, oldest);
    this.itemsPerSection = itemsPerSection;
    this.life = new Lifecycle(`variable journal ${partition}`);
  }

  /** Open (or create) the journal, repairing a torn last section and realigning the offsets to the data. */
  static async open(root: string | Storage, partition: string, cfg: VariableConfig): Promise<VariableJournal> {
    const { storage, ips, writeBufferBytes, maxOpenBlobs } = prepare(root, partition, cfg);
    const data = await SegmentedJournal.open(storage, `${partition}_data`, writeBufferBytes, maxOpenBlobs);
    let offsets: FixedJournal | undefined;
    try {
      offsets = await FixedJournal.open(storage, `${partition}_offsets`, {
        itemSize: OFFSET_BYTES,
        itemsPerBlob: ips,
        writeBufferBytes,
        maxOpenBlobs,
      });
      const [oldest, size] = await align(data, offsets, ips);
      return new VariableJournal(partition, data, offsets, ips, size, oldest);
    } catch (err) {
      await Promise.allSettled([data.close(), offsets?.close()]);
      throw err;
    }
  }

  /**
   * Create an empty journal whose next position is `size` (for state sync), as Rust's `init_at_size`:
   * no data section exists until the first append; the offsets journal starts at `size`. Both
   * partitions must be empty. Unlike Rust, `size` must be a multiple of `itemsPerSection`: the data
   * format cannot record where inside a section a journal starts, so Rust's journal started mid-section
   * reopens with the wrong size. (The `immutable` db only ever starts at a pruning boundary, which is
   * section-aligned.)
   */
  static async initAtSize(root: string | Storage, partition: string, cfg: VariableConfig, size: number): Promise<VariableJournal> {
    const { storage, ips, writeBufferBytes, maxOpenBlobs } = prepare(root, partition, cfg);
    requireIndex(size, "size");
    if (size % ips !== 0) {
      throw new JournalError("InvalidConfig", `initAtSize(${size}) must be a multiple of itemsPerSection (${ips})`);
    }
    if ((await storage.scan(`${partition}_data`)).length > 0) {
      throw new JournalError("InvalidConfig", `initAtSize needs an empty partition, ${partition}_data has blobs`);
    }
    const data = await SegmentedJournal.open(storage, `${partition}_data`, writeBufferBytes, maxOpenBlobs);
    try {
      const offsets = await FixedJournal.initAtSize(
        storage,
        `${partition}_offsets`,
        { itemSize: OFFSET_BYTES, itemsPerBlob: ips, writeBufferBytes, maxOpenBlobs },
        size,
      );
      return new VariableJournal(partition, data, offsets, ips, size, size);
    } catch (err) {
      await data.close();
      throw err;
    }
  }

  append(item: Uint8Array): number {
    this.life.check();
    const section = Math.floor(this._size / this.itemsPerSection);
    const newSection = this.data.size(section) === 0;
    try {
      const offset = this.data.append(section, item);
      // Offsets must not reach the disk before the section they index exists there: with no data
      // section at all, recovery could not tell unwritten items from a pruned journal.
      if (newSection) this.offsets.barrier(this.data.lastCreation());
      const scratch = this.offsetScratch;
      scratch[0] = offset >>> 24;
      scratch[1] = offset >>> 16;
      scratch[2] = offset >>> 8;
      scratch[3] = offset;
      this.offsets.append(scratch);
      this._size++;
      if (this._size % this.itemsPerSection === 0) {
        // The full section is fsynced before the next section's file is created (the data journal
        // queues that creation behind this sync). Its offsets filled their blob with it, and the
        // offsets journal fsyncs a full blob before it creates the next one.
        this.life.track(this.data.seal(section)).catch(() => undefined);
      }
    } catch (err) {
      if (err instanceof JournalError && err.kind === "InvalidArgument") throw err;
      throw this.life.fail(err);
    }
    return this._size - 1;
  }

  read(pos: number): Uint8Array {
    this.life.check();
    this.checkReadable(pos);
    return this.data.get(Math.floor(pos / this.itemsPerSection), this.offsetOf(pos));
  }

  /** Same as {@link readRange} (the `Contiguous` name). */
  readMany(start: number, count: number): Uint8Array[] {
    return this.readRange(start, count);
  }

  /** Items `[start, start + count)`: fresh copies, views of one buffer per call. */
  readRange(start: number, count: number): Uint8Array[] {
    this.life.check();
    requireIndex(count, "count");
    requireIndex(start, "start");
    if (start + count > this._size) throw outOfRange(start + count - 1, this._size);
    const items: Uint8Array[] = [];
    if (count === 0) return items;
    // The items are copied back to back into one buffer (one allocation per range, not one per
    // item: serving a batch reads a thousand of them) and handed out as views of it.
    let packed = new Uint8Array(Math.min(count * RANGE_BYTES_PER_ITEM_GUESS, MAX_RANGE_PREALLOCATION));
    let used = 0;
    const ends: number[] = [];
    this.replay(start, (_pos, item) => {
      if (used + item.length > packed.length) {
        const grown = new Uint8Array(Math.max(packed.length * 2, used + item.length));
        grown.set(packed.subarray(0, used));
        packed = grown;
      }
      packed.set(item, used);
      used += item.length;
      ends.push(used);
      return ends.length < count;
    });
    for (let i = 0, from = 0; i < ends.length; from = ends[i]!, i++) items.push(packed.subarray(from, ends[i]));
    return items;
  }

  replay(startPos: number, visit: ReplayVisitor): void {
    this.life.check();
    requireIndex(startPos, "startPos");
    checkReplayStart(startPos, this._pruningBoundary, this._size);
    if (startPos === this._size) return;
    const end = this._size;
    let pos = startPos;
    let stopped = false;
    for (let section = Math.floor(startPos / this.itemsPerSection); pos < end && !stopped; section++) {
      const limit = Math.min(end, (section + 1) * this.itemsPerSection);
      const startByte = pos === startPos ? this.offsetOf(startPos) * ITEM_ALIGNMENT : 0;
      const scan = this.data.scan(section, startByte, (_offset, buf, start, len) => {
        if (visit(pos++, buf.subarray(start, start + len)) === false) stopped = true;
        return !stopped && pos < limit;
      });
      if (!stopped && pos < limit) {
        throw scan.failure ?? sectionTooShort(this.data.partition, section, pos);
      }
    }
  }

  /** Waits while more than `maxBlobs` full sections, or full offsets blobs, still wait for their fsync (see `Backlog`). */
  async waitForBacklog(maxBlobs: number): Promise<void> {
    this.life.check();
    await Promise.all([this.data.waitForBacklog(maxBlobs), this.offsets.waitForBacklog(maxBlobs)]);
  }

  /** fsync the current data section: every earlier append is durable (offsets are rebuilt on open if needed). */
  commit(): Promise<void> {
    return settle(() => {
      this.life.check();
      return this.life.track(this.data.sync(this.currentSection()));
    });
  }

  /** fsync the current data section and the offsets, so the next open has nothing to rebuild. */
  sync(): Promise<void> {
    return settle(() => {
      this.life.check();
      const both = Promise.all([this.data.sync(this.currentSection()), this.offsets.sync()]);
      return this.life.track(both.then(() => undefined));
    });
  }

  rewind(size: number): Promise<void> {
    return settle(() => {
      this.life.check();
      if (!this.checkRewind(size)) return Promise.resolve();
      const discard = this.offsetOf(size);
      const section = Math.floor(size / this.itemsPerSection);
      try {
        const done = Promise.all([this.data.rewind(section, discard * ITEM_ALIGNMENT), this.offsets.rewind(size)]);
        // Until both truncations are on disk, neither journal may write items of the new timeline:
        // a crash could leave new data beside stale offsets (or the reverse), which recovery cannot tell.
        this.data.barrier(section, done);
        this.offsets.barrier(done);
        this._size = size;
        return this.life.track(done.then(() => undefined));
      } catch (err) {
        throw this.life.fail(err);
      }
    });
  }

  /** Remove whole sections below `minPos` (capped at the size); `true` if any was removed. */
  prunedBoundary(minPos: number): number {
    return Math.max(this._pruningBoundary, Math.floor(Math.min(minPos, this._size) / this.itemsPerSection) * this.itemsPerSection);
  }

  prune(minPos: number): Promise<boolean> {
    return settle(() => {
      this.life.check();
      requireIndex(minPos, "minPos");
      if (minPos <= this._pruningBoundary) return Promise.resolve(false);
      const minSection = Math.floor(Math.min(minPos, this._size) / this.itemsPerSection);
      if (!this.data.hasSectionsBelow(minSection)) return Promise.resolve(false);
      try {
        // Disk order, as Rust's awaits give it: the offsets of every item so far are written, then the
        // data sections go, then the offsets blobs. Recovery can repair offsets that lag behind the
        // data, but neither offsets pruned further than the data nor offsets missing below it.
        const offsetsWritten = this.offsets.sync();
        const dataDone = this.data.pruneAfter(minSection, offsetsWritten);
        this._pruningBoundary = minSection * this.itemsPerSection;
        const offsetsDone = this.offsets.pruneAfter(this._pruningBoundary, dataDone);
        return this.life.track(Promise.all([offsetsWritten, dataDone, offsetsDone]).then(() => true));
      } catch (err) {
        throw this.life.fail(err);
      }
    });
  }

  /** Sync both journals and release their files. */
  async close(): Promise<void> {
    return this.life.closeWith(
      () => this.life.track(Promise.all([this.data.sync(this.currentSection()), this.offsets.sync()])),
      () => this.closeParts(),
    );
  }

  /** Delete both partitions (allowed on a poisoned handle). */
  async destroy(): Promise<void> {
    this.life.shutdown();
    await this.data.destroy();
    await this.offsets.destroy();
  }

  // Closes both journals; a failure is reported unless the handle is poisoned (it then already
  // reported the first failure, which the parts repeat).
  private async closeParts(): Promise<void> {
    const results = await Promise.allSettled([this.data.close(), this.offsets.close()]);
    for (const r of results) if (r.status === "rejected" && !this.life.isPoisoned) throw r.reason;
  }

  private currentSection(): number {
    return Math.floor(this._size / this.itemsPerSection);
  }

  private checkReadable(pos: number): void {
    requireIndex(pos, "position");
    checkReadable(pos, 1, this._pruningBoundary, this._size);
  }

  private offsetOf(pos: number): number {
    return readU32(this.offsets.read(pos), 0);
  }
}

/**
 * Bring the offsets in line with the data after a crash (data is the source of truth); returns
 * `[oldest, size]`. Mirrors Rust's `align_journals`, plus a check that data sections have no gap.
 */
async function align(data: SegmentedJournal, offsets: FixedJournal, ips: number): Promise<[number, number]> {
  const sections = data.sectionList();
  // A section's file is created before its data is written (see `SegmentedJournal.seal`): after a
  // power cut, or a close right after a section filled, empty ones may follow the last section
  // holding data (which is then repaired as the tail below). They go; the first section stays.
  let holder = sections.length - 1;
  while (holder > 0 && data.size(sections[holder]!) === 0) holder--;
  if (holder < sections.length - 1) {
    await data.rewind(sections[holder]!, data.size(sections[holder]!));
    sections.splice(holder + 1);
  }
  for (let i = 1; i < sections.length; i++) {
    if (sections[i] !== sections[i - 1] + 1) {
      throw new JournalError("MissingBlob", `section ${sections[i - 1] + 1} of ${data.partition} is missing`);
    }
  }
  const last = sections[sections.length - 1];
  const lastCount = last === undefined ? 0 : await data.repairTail(last);
  if (lastCount > ips) {
    throw new JournalError("Corruption", `section ${last} of ${data.partition} holds ${lastCount} items, more than ${ips}`);
  }

  if (sections.length === 0 || (sections.length === 1 && lastCount === 0)) {
    if (sections.length === 1) {
      // An empty first section: a rewind, or the first append of a section, was cut short.
      const target = sections[0] * ips;
      if (offsets.size !== target) await offsets.rewind(target);
      if (offsets.pruningBoundary < target) await offsets.prune(target);
      await offsets.sync();
      return [target, target];
    }
    // No data at all: fully pruned (maybe with the offsets' pruning cut short) or never written.
    const size = offsets.size;
    if (offsets.oldestRetainedPos !== undefined) await offsets.prune(size);
    await offsets.sync();
    return [size, size];
  }

  const dataOldest = sections[0] * ips;
  const dataSize = last * ips + lastCount;
  const offsetsOldest = offsets.oldestRetainedPos;
  if (offsetsOldest !== undefined) {
    if (offsetsOldest < dataOldest) {
      await offsets.prune(dataOldest);
    } else if (offsetsOldest > dataOldest) {
      throw new JournalError("Corruption", `offsets pruned to ${offsetsOldest}, beyond the data's ${dataOldest}`);
    }
  } else if (dataOldest > 0 && offsets.size !== dataOldest) {
    throw new JournalError("Corruption", `offsets are empty at ${offsets.size}, but the data starts at ${dataOldest}`);
  }

  if (offsets.size > dataSize) {
    await offsets.rewind(dataSize);
  } else if (offsets.size < dataSize) {
    rebuildOffsets(data, offsets, ips, dataSize);
  }
  if (offsets.size !== dataSize || offsets.pruningBoundary !== dataOldest) {
    throw new JournalError("Corruption", `offsets [${offsets.pruningBoundary}, ${offsets.size}) do not match the data [${dataOldest}, ${dataSize})`);
  }
  await offsets.sync();
  return [dataOldest, dataSize];
}

/** Append the offsets of data items `[offsets.size, dataSize)` by scanning the data sections. */
function rebuildOffsets(data: SegmentedJournal, offsets: FixedJournal, ips: number, dataSize: number): void {
  let pos = offsets.size;
  if (pos < (data.sectionList()[0] ?? 0) * ips) {
    throw new JournalError("Corruption", `offsets end at ${pos}, before the data's first section`);
  }
  let section = Math.floor(pos / ips);
  // Resume after the last indexed entry of this section (or at its start).
  let skip = pos % ips !== 0;
  let startByte = skip ? readU32(offsets.read(pos - 1), 0) * ITEM_ALIGNMENT : 0;
  const entry = new Uint8Array(OFFSET_BYTES);
  for (; pos < dataSize; section++) {
    const limit = Math.min(dataSize, (section + 1) * ips);
    const scan = data.scan(section, startByte, (offset) => {
      if (skip) {
        skip = false;
        return true;
      }
      entry[0] = offset >>> 24;
      entry[1] = offset >>> 16;
      entry[2] = offset >>> 8;
      entry[3] = offset;
      offsets.append(entry);
      pos++;
      return pos < limit;
    });
    if (pos < limit) {
      throw scan.failure ?? sectionTooShort(data.partition, section, pos);
    }
    startByte = 0;
    skip = false;
  }
}

function prepare(
  root: string | Storage,
  partition: string,
  cfg: VariableConfig,
): { storage: Storage; ips: number; writeBufferBytes: number; maxOpenBlobs: number } {
  checkPartitionName(partition);
  const ips = cfg.itemsPerSection;
  const writeBufferBytes = cfg.writeBufferBytes ?? DEFAULT_WRITE_BUFFER_BYTES;
  const maxOpenBlobs = cfg.maxOpenBlobs ?? DEFAULT_MAX_OPEN_BLOBS;
  checkPositive({ itemsPerSection: ips, writeBufferBytes, maxOpenBlobs });
  return { storage: toStorage(root), ips, writeBufferBytes, maxOpenBlobs };
}

function sectionTooShort(dataPartition: string, section: number, pos: number): JournalError {
  return new JournalError("Corruption", `section ${section} of ${dataPartition} ends before position ${pos}`, { position: pos });
}
