/**
 * Storage: partitions (directories `<root>/<partition>`) of blobs (raw files named by the lowercase hex
 * of their name bytes, no header), behind a small interface so tests can inject faults. This is the only
 * module that touches `fs`. Reads, writes and truncation are synchronous (page cache); `sync` is an async
 * fsync off the event loop. Creating or removing a blob fsyncs its directory before the promise resolves,
 * so a created blob, once `open` resolves, survives a crash (its contents only after `Blob.sync`);
 * journals that create blobs as they grow defer that fsync to their next durability point instead
 * (`deferDirectorySync`, then `syncDirectory`): one directory fsync per commit, not one per blob.
 * A disk blob can let its file descriptor go (`release`) once its writes are synced and reopens the
 * file by itself on its next use: journals keep only a few handles open however many blobs they have.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import { toHex } from "../codec/bytes";
import { JournalError } from "./errors";

/** One open blob. Offsets and sizes are byte counts below 2^53. */
export interface Blob {
  /** Human-readable location (the file path), used in error messages. */
  readonly path: string;
  /** Fill `out` from `offset`; throws `Io` if the blob ends first. */
  readAt(out: Uint8Array, offset: number): void;
  /** Write all of `data` at `offset` (not durable until {@link Blob.sync}). */
  writeAt(data: Uint8Array, offset: number): void;
  /** Truncate or zero-extend to `size` bytes (not durable until {@link Blob.sync}). */
  resize(size: number): void;
  /** Make every earlier write and resize durable. */
  sync(): Promise<void>;
  /** Release the handle; pending writes are not synced. */
  close(): void;
  /**
   * Optional: give the OS handle back while keeping the blob usable; its next call reopens the file
   * (read-only for a read, writable for a write or resize). Refuses, returning `false`, while a write
   * awaits its fsync or a sync is in flight, so a release never costs durability.
   */
  release?(): boolean;
}

/** A set of partitions holding named blobs. */
export interface Storage {
  /** Where a blob lives, for messages (it need not exist). */
  locate(partition: string, name: Uint8Array): string;
  /** Names of the blobs in `partition`; empty when the partition does not exist. */
  scan(partition: string): Promise<Uint8Array[]>;
  /** Open a blob, creating it (and its partition) durably if missing; returns its current size. */
  open(partition: string, name: Uint8Array, options?: OpenOptions): Promise<{ blob: Blob; size: number }>;
  /**
   * Make durable the directory entries of the blobs created in `partition` with
   * `deferDirectorySync` since the last call (nothing to do, and no fsync, if there are none).
   */
  syncDirectory(partition: string): Promise<void>;
  /** Remove one blob (durably; a missing blob is not an error), or the whole partition when `name` is omitted. */
  remove(partition: string, name?: Uint8Array): Promise<void>;
}

/** Options of {@link Storage.open}. */
export interface OpenOptions {
  /**
   * A blob this call creates is not fsynced into its directory now but by the next
   * `syncDirectory(partition)` (a crash before that may lose the file, never an older one:
   * journaling file systems make directory entries durable in the order they were made).
   */
  readonly deferDirectorySync?: boolean;
  /**
   * The caller needs only the size now (an older blob of a journal being opened, which `scan` just
   * listed): the size is read without opening the file, which the blob opens on its first use, as
   * after `release`. A missing file is an `Io` error here, never created.
   */
  readonly sizeOnly?: boolean;
}

/** Blobs `openListed` opens at once (each is one call to the thread pool). */
const OPEN_CONCURRENCY = 32;

/**
 * Opens the blobs `names` of `partition` that `scan` listed, for a journal being opened: the one at
 * `names[appendTo]` normally (it is appended to), every other one for its size only (`sizeOnly`),
 * several at a time. Sizes come back in the order of `names`. If any open fails, the blobs already
 * opened are closed and the first failure is thrown.
 */
export async function openListed(storage: Storage, partition: string, names: readonly Uint8Array[], appendTo: number): Promise<{ blob: Blob; size: number }[]> {
  const opened: { blob: Blob; size: number }[] = [];
  try {
    for (let from = 0; from < names.length; from += OPEN_CONCURRENCY) {
      const window = names.slice(from, from + OPEN_CONCURRENCY);
      const results = await Promise.allSettled(window.map((name, k) => storage.open(partition, name, { sizeOnly: from + k !== appendTo })));
      for (const r of results) if (r.status === "fulfilled") opened.push(r.value);
      const failed = results.find((r) => r.status === "rejected");
      if (failed !== undefined) throw failed.reason;
    }
  } catch (err) {
    for (const { blob } of opened) blob.close();
    throw err;
  }
  // Storages that open every blob anyway (in-memory ones) still hold only the appended one.
  opened.forEach(({ blob }, k) => k !== appendTo && blob.release?.());
  return opened;
}

/**
 * A journal's roll to its next blob: waits for `sync` (the fsync of the full blob) and, beside it,
 * creates blob `name` of `partition` with its directory fsync deferred (undefined `name`: nothing to
 * create). Throws the first failure once both have settled, closing the new blob if it was made
 * (it stays on disk, empty, which journals' `open` removes).
 */
export async function syncBesideCreate(
  sync: Promise<void> | undefined,
  storage: Storage,
  partition: string,
  name: Uint8Array | undefined,
): Promise<{ blob: Blob; size: number } | undefined> {
  const creating = name === undefined ? undefined : storage.open(partition, name, { deferDirectorySync: true });
  const [synced, created] = await Promise.allSettled([sync, creating]);
  if (synced.status === "rejected") {
    if (created.status === "fulfilled") created.value?.blob.close();
    throw synced.reason;
  }
  if (created.status === "rejected") throw created.reason;
  return created.value;
}

const openFd = promisify(fs.open);
const statFile = promisify(fs.stat);
const fstatFd = promisify(fs.fstat);
const fsyncFd = promisify(fs.fsync);
const closeFd = promisify(fs.close);

const PARTITION_NAME = /^[A-Za-z0-9_-]+$/;
const HEX_NAME = /^(?:[0-9a-f]{2})+$/;

/** Throws `InvalidConfig` unless `partition` matches `[A-Za-z0-9_-]+` (the Rust runtime's rule). */
export function checkPartitionName(partition: string): void {
  if (!PARTITION_NAME.test(partition)) {
    throw new JournalError("InvalidConfig", `invalid partition name ${JSON.stringify(partition)}`);
  }
}

/** Lowercase hex of the name bytes: the blob's file name. */
export function blobFileName(name: Uint8Array): string {
  return toHex(name);
}

/** The journal blob name for index `index`: u64 big-endian (file `0000000000000001` for 1). */
export function indexName(index: number): Uint8Array {
  const name = new Uint8Array(8);
  const view = new DataView(name.buffer);
  view.setUint32(0, Math.floor(index / 2 ** 32));
  view.setUint32(4, index >>> 0);
  return name;
}

/** Decodes a journal blob name (u64 BE) to a safe integer; `undefined` for any other shape. */
export function nameIndex(name: Uint8Array): number | undefined {
  if (name.length !== 8) return undefined;
  const view = new DataView(name.buffer, name.byteOffset, 8);
  const index = view.getUint32(0) * 2 ** 32 + view.getUint32(4);
  return Number.isSafeInteger(index) ? index : undefined;
}

/** `fs`-backed {@link Storage} rooted at a directory. */
export class DiskStorage implements Storage {
  /** Partition directories holding entries created with `deferDirectorySync` and not yet fsynced. */
  private readonly unsyncedDirectories = new Set<string>();

  constructor(readonly root: string) {}

  locate(partition: string, name: Uint8Array): string {
    return path.join(this.root, partition, blobFileName(name));
  }

  async scan(partition: string): Promise<Uint8Array[]> {
    checkPartitionName(partition);
    const dir = path.join(this.root, partition);
    let entries: string[];
    try {
      entries = await fs.promises.readdir(dir);
    } catch (err) {
      if (errno(err) === "ENOENT") return [];
      throw ioError("scan", dir, err);
    }
    return entries.sort().map((entry) => {
      if (!HEX_NAME.test(entry)) {
        throw new JournalError("InvalidBlobName", `unexpected file ${path.join(dir, entry)}`, {
          file: path.join(dir, entry),
        });
      }
      return new Uint8Array(Buffer.from(entry, "hex"));
    });
  }

  async open(partition: string, name: Uint8Array, options: OpenOptions = {}): Promise<{ blob: Blob; size: number }> {
    checkPartitionName(partition);
    const dir = path.join(this.root, partition);
    const file = path.join(dir, blobFileName(name));
    if (options.sizeOnly === true) {
      // One call instead of open, fstat and close: opening a journal of thousands of blobs is
      // dominated by these (1 M `immutable` operations are 3,900 blobs).
      let size: number;
      try {
        size = (await statFile(file)).size;
      } catch (err) {
        throw ioError("open", file, err);
      }
      return { blob: new DiskBlob(-1, file), size };
    }
    // Asynchronous: creating a file can wait for the directory (an fsync of it, a journal commit in
    // the file system), and that wait must not block the event loop.
    const createFlags = fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_EXCL;
    const create = (): Promise<number> => openFd(file, createFlags);
    let createdDir = false;
    let fd: number;
    let created = false;
    try {
      try {
        fd = await create();
        created = true;
      } catch (err) {
        if (errno(err) === "ENOENT") {
          createdDir = fs.mkdirSync(dir, { recursive: true }) !== undefined;
          fd = await create();
          created = true;
        } else if (errno(err) === "EEXIST") {
          fd = await openFd(file, fs.constants.O_RDWR);
        } else {
          throw err;
        }
      }
    } catch (err) {
      throw ioError("open", file, err);
    }
    let size: number;
    try {
      size = created ? 0 : (await fstatFd(fd)).size; // O_EXCL made it: empty
      // The new directory entries must be durable before anyone relies on the blob existing.
      if (createdDir) await fsyncDir(this.root);
      if (created && options.deferDirectorySync === true) this.unsyncedDirectories.add(dir);
      else if (created) await fsyncDir(dir);
    } catch (err) {
      fs.closeSync(fd);
      throw err instanceof JournalError ? err : ioError("open", file, err);
    }
    return { blob: new DiskBlob(fd, file), size };
  }

  async syncDirectory(partition: string): Promise<void> {
    checkPartitionName(partition);
    const dir = path.join(this.root, partition);
    if (!this.unsyncedDirectories.delete(dir)) return;
    try {
      await fsyncDir(dir);
    } catch (err) {
      this.unsyncedDirectories.add(dir); // still owed
      throw err;
    }
  }

  async remove(partition: string, name?: Uint8Array): Promise<void> {
    checkPartitionName(partition);
    const dir = path.join(this.root, partition);
    if (name === undefined) {
      this.unsyncedDirectories.delete(dir);
      try {
        await fs.promises.rm(dir, { recursive: true, force: true });
      } catch (err) {
        throw ioError("remove", dir, err);
      }
      if (fs.existsSync(this.root)) await fsyncDir(this.root);
      return;
    }
    const file = path.join(dir, blobFileName(name));
    try {
      await fs.promises.unlink(file);
    } catch (err) {
      if (errno(err) === "ENOENT") return;
      throw ioError("remove", file, err);
    }
    await fsyncDir(dir);
  }
}

/** Remove `<root>/<partition>` and everything in it (durably). Missing partitions are fine. */
export async function destroyPartition(root: string | Storage, partition: string): Promise<void> {
  await toStorage(root).remove(partition);
}

/** Accepts either a root directory or a ready {@link Storage}. */
export function toStorage(root: string | Storage): Storage {
  return typeof root === "string" ? new DiskStorage(root) : root;
}

class DiskBlob implements Blob {
  /** The open descriptor, or -1 while released (reopened on demand) or closed. */
  private fd: number;
  /** Whether `fd` was opened for writing (a released blob reopens read-only until it is written). */
  private writable = true;
  private closed = false;
  /** Writes and resizes issued, and how many of them a completed fsync covers. */
  private writes = 0;
  private syncedWrites = 0;
  /** fsyncs in flight: the descriptor they use must not be closed (its number could be reused). */
  private syncing = 0;
  /** Read-only descriptors replaced by a writable one while an fsync was in flight; closed after it. */
  private retired: number[] = [];

  constructor(
    fd: number,
    readonly path: string,
  ) {
    this.fd = fd;
  }

  readAt(out: Uint8Array, offset: number): void {
    // Hot path: an open blob costs one comparison before the pread.
    const fd = this.fd >= 0 ? this.fd : this.reopen(false);
    let done = 0;
    try {
      while (done < out.length) {
        const n = fs.readSync(fd, out, done, out.length - done, offset + done);
        if (n === 0) break;
        done += n;
      }
    } catch (err) {
      throw ioError("read", this.path, err, offset);
    }
    if (done < out.length) {
      throw new JournalError("Io", `short read of ${this.path}: ${out.length} bytes at offset ${offset}, got ${done}`, {
        file: this.path,
        offset,
      });
    }
  }

  writeAt(data: Uint8Array, offset: number): void {
    const fd = this.fd >= 0 && this.writable ? this.fd : this.reopen(true);
    this.writes++;
    let done = 0;
    try {
      while (done < data.length) {
        done += fs.writeSync(fd, data, done, data.length - done, offset + done);
      }
    } catch (err) {
      throw ioError("write", this.path, err, offset);
    }
  }

  resize(size: number): void {
    const fd = this.fd >= 0 && this.writable ? this.fd : this.reopen(true);
    this.writes++;
    try {
      fs.ftruncateSync(fd, size);
    } catch (err) {
      throw ioError("resize", this.path, err, size);
    }
  }

  sync(): Promise<void> {
    if (this.closed) return Promise.reject(closedError(this.path));
    // Released only when every write was synced: nothing is left for an fsync to cover.
    if (this.fd < 0) return Promise.resolve();
    const fd = this.fd;
    const covers = this.writes;
    this.syncing++;
    return new Promise((resolve, reject) => {
      fs.fsync(fd, (err) => {
        this.syncing--;
        if (err) return reject(ioError("sync", this.path, err));
        if (covers > this.syncedWrites) this.syncedWrites = covers;
        try {
          if (this.syncing === 0 && this.retired.length > 0) this.closeRetired();
        } catch (closeErr) {
          return reject(closeErr);
        }
        resolve();
      });
    });
  }

  release(): boolean {
    if (this.fd < 0) return true;
    if (this.syncing > 0 || this.syncedWrites !== this.writes) return false;
    const fd = this.fd;
    this.fd = -1;
    try {
      fs.closeSync(fd);
    } catch (err) {
      throw ioError("close", this.path, err);
    }
    return true;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    const fd = this.fd;
    this.fd = -1;
    this.closeRetired();
    if (fd < 0) return;
    try {
      fs.closeSync(fd);
    } catch (err) {
      throw ioError("close", this.path, err);
    }
  }

  /** Open the file again (after `release`, or to upgrade a read-only handle); returns the descriptor. */
  private reopen(write: boolean): number {
    if (this.closed) throw closedError(this.path);
    let fd: number;
    try {
      // Never O_CREAT: a blob that vanished is an error, not a new empty blob.
      fd = fs.openSync(this.path, write ? fs.constants.O_RDWR : fs.constants.O_RDONLY);
    } catch (err) {
      throw ioError("open", this.path, err);
    }
    if (this.fd >= 0) {
      // Upgrading a read-only handle: an fsync in flight still uses the old descriptor.
      if (this.syncing > 0) {
        this.retired.push(this.fd);
      } else {
        try {
          fs.closeSync(this.fd);
        } catch (err) {
          fs.closeSync(fd);
          throw ioError("close", this.path, err);
        }
      }
    }
    this.fd = fd;
    this.writable = write;
    return fd;
  }

  private closeRetired(): void {
    const retired = this.retired;
    this.retired = [];
    let failure: unknown;
    for (const fd of retired) {
      try {
        fs.closeSync(fd);
      } catch (err) {
        failure ??= err;
      }
    }
    if (failure !== undefined) throw ioError("close", this.path, failure);
  }
}

function closedError(file: string): JournalError {
  return new JournalError("Io", `${file} is closed`, { file });
}

async function fsyncDir(dir: string): Promise<void> {
  // Raw descriptors: cheaper than a `FileHandle` per call (journals sync a directory per blob made).
  let fd: number | undefined;
  try {
    fd = await openFd(dir, fs.constants.O_RDONLY);
    await fsyncFd(fd);
  } catch (err) {
    throw ioError("sync directory", dir, err);
  } finally {
    if (fd !== undefined) await closeFd(fd);
  }
}

function errno(err: unknown): string | undefined {
  return typeof err === "object" && err !== null && "code" in err ? String(err.code) : undefined;
}

function ioError(op: string, file: string, cause: unknown, offset?: number): JournalError {
  const detail = cause instanceof Error ? cause.message : String(cause);
  const at = offset === undefined ? "" : ` at offset ${offset}`;
  return new JournalError("Io", `${op} ${file}${at}: ${detail}`, { cause, file, offset });
}
