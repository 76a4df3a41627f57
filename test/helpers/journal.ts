/**
 * Helpers for the journal tests: catching a `JournalError` from a synchronous call, and disk storage
 * with injectable faults (failed fsyncs, failed removals) whose blobs are the real ones otherwise
 * (they still release and reopen their file handles).
 */
import { type Blob, DiskStorage, JournalError, type OpenOptions, type Storage } from "../../src/journal";
import { blobFileName } from "../../src/journal/storage";

/** The `JournalError` that `fn` throws (any other outcome fails the test). */
export function caught(fn: () => unknown): JournalError {
  try {
    fn();
  } catch (err) {
    if (err instanceof JournalError) return err;
    throw err;
  }
  throw new Error("expected a JournalError");
}

/** Expects `fn` to throw a `JournalError` of `kind` (naming `position`, when given). */
export function expectJournalError(fn: () => unknown, kind: string, position?: number): void {
  const err = caught(fn);
  expect(err.kind).toBe(kind);
  if (position !== undefined) expect(err.position).toBe(position);
}

/** Disk storage whose blobs fail `sync` while `failSync` is set, and whose removals fail while `failRemove` is. */
export class FaultyStorage implements Storage {
  failSync = false;
  failRemove = false;
  /** While set, every fsync waits for it first (a disk that lags behind the appends). */
  holdSync: Promise<void> | undefined = undefined;
  private readonly disk: DiskStorage;

  constructor(dir: string) {
    this.disk = new DiskStorage(dir);
  }

  locate(partition: string, name: Uint8Array): string {
    return this.disk.locate(partition, name);
  }

  scan(partition: string): Promise<Uint8Array[]> {
    return this.disk.scan(partition);
  }

  async open(partition: string, name: Uint8Array, options?: OpenOptions): Promise<{ blob: Blob; size: number }> {
    const opened = await this.disk.open(partition, name, options);
    const { blob } = opened;
    const sync = blob.sync.bind(blob);
    blob.sync = async () => {
      if (this.holdSync !== undefined) await this.holdSync;
      return this.failSync ? Promise.reject(new JournalError("Io", `injected fsync failure on ${blob.path}`)) : sync();
    };
    return opened;
  }

  syncDirectory(partition: string): Promise<void> {
    if (this.failSync) return Promise.reject(new JournalError("Io", `injected fsync failure on directory ${partition}`));
    return this.disk.syncDirectory(partition);
  }

  remove(partition: string, name?: Uint8Array): Promise<void> {
    if (this.failRemove) return Promise.reject(new JournalError("Io", "injected remove failure"));
    return this.disk.remove(partition, name);
  }
}

/** Where the journal tests' in-memory storages keep a blob: the key `<partition>/<hex of its name>`. */
export function memBlobKey(partition: string, name: Uint8Array): string {
  return `${partition}/${blobFileName(name)}`;
}

/** `Storage.scan` over such keys: the names of `partition`'s blobs, sorted. */
export function memScan(keys: Iterable<string>, partition: string): Uint8Array[] {
  return [...keys]
    .filter((k) => k.startsWith(`${partition}/`))
    .sort()
    .map((k) => new Uint8Array(Buffer.from(k.slice(partition.length + 1), "hex")));
}
