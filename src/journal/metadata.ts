/**
 * Metadata: a small key-value store committed atomically by alternating between two blobs, `left`
 * and `right` (commonware `metadata`). Blob = `version u64 BE ‖ for each key, ascending bytewise:
 * key (keySize bytes) ‖ varint(len) ‖ value ‖ crc32(all preceding bytes) as u32 BE`.
 * `put`/`remove` change memory only; `sync` writes version + 1 into the older blob and fsyncs it, so a
 * torn write only ever damages the older state. `open` takes the valid blob with the higher version
 * (ties → left); a blob shorter than 12 bytes or failing its CRC is emptied.
 */
import { CRC_BYTES, checkPositive, crcMatches, writeCrc } from "./framing";
import { JournalError } from "./errors";
import { Lifecycle, settle } from "./lifecycle";
import { type Blob, type Storage, checkPartitionName, toStorage } from "./storage";
import { readVarintU32, varintU32Size, writeVarintU32 } from "../codec";

export interface MetadataConfig {
  /**
   * Length of every key in bytes (keys are fixed-size in Rust, so a blob can only be parsed knowing it).
   * Default 9: the MMR's keys, a prefix byte ‖ u64 BE.
   */
  readonly keySize?: number;
}

const BLOB_NAMES = [new TextEncoder().encode("left"), new TextEncoder().encode("right")] as const;
const VERSION_BYTES = 8;
const DEFAULT_KEY_SIZE = 9;
const MAX_U32 = 0xffff_ffff;

interface Entry {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
}

interface Side {
  readonly blob: Blob;
  version: number;
  /** Current file length (to know when a rewrite must also truncate). */
  size: number;
}

export class Metadata {
  /** Entries by key bytes as a latin1 string: JS string order is then bytewise key order. */
  private readonly map: Map<string, Entry>;
  /** Index of the side holding the newest state. */
  private cursor: number;
  private nextVersion: number;
  private readonly life: Lifecycle;

  private constructor(
    private readonly storage: Storage,
    readonly partition: string,
    readonly keySize: number,
    private readonly sides: [Side, Side],
    map: Map<string, Entry>,
    cursor: number,
  ) {
    this.map = map;
    this.cursor = cursor;
    this.nextVersion = sides[cursor].version + 1;
    this.life = new Lifecycle(`metadata ${partition}`);
  }

  /** Open (or create) the store; both blobs are created if missing. */
  static async open(root: string | Storage, partition: string, cfg: MetadataConfig = {}): Promise<Metadata> {
    const storage = toStorage(root);
    checkPartitionName(partition);
    const keySize = cfg.keySize ?? DEFAULT_KEY_SIZE;
    checkPositive({ keySize });
    const opened: Blob[] = [];
    try {
      const loaded = [];
      for (const name of BLOB_NAMES) {
        const { blob, size } = await storage.open(partition, name);
        opened.push(blob);
        loaded.push(await load(blob, size, keySize));
      }
      const [left, right] = loaded;
      const cursor = right.version > left.version ? 1 : 0;
      const sides: [Side, Side] = [
        { blob: opened[0], version: left.version, size: left.size },
        { blob: opened[1], version: right.version, size: right.size },
      ];
      return new Metadata(storage, partition, keySize, sides, loaded[cursor].map, cursor);
    } catch (err) {
      for (const blob of opened) blob.close();
      throw err;
    }
  }

  /** The value stored under `key` (a copy), or `undefined`. */
  get(key: Uint8Array): Uint8Array | undefined {
    this.life.check();
    return this.map.get(this.keyString(key))?.value.slice();
  }

  /** Set `key` to a copy of `value` (persisted by the next `sync`). */
  put(key: Uint8Array, value: Uint8Array): void {
    this.life.check();
    if (value.length > MAX_U32) throw new JournalError("InvalidArgument", `value of ${value.length} bytes is too large`);
    this.map.set(this.keyString(key), { key: key.slice(), value: value.slice() });
  }

  /** Delete `key`; `true` if it existed (persisted by the next `sync`). */
  remove(key: Uint8Array): boolean {
    this.life.check();
    return this.map.delete(this.keyString(key));
  }

  /** Delete every key (persisted by the next `sync`). */
  clear(): void {
    this.life.check();
    this.map.clear();
  }

  /** Keys in ascending byte order, optionally only those starting with `prefix` (copies). */
  keys(prefix?: Uint8Array): Uint8Array[] {
    this.life.check();
    const p = prefix === undefined ? "" : latin1(prefix);
    return [...this.map.keys()]
      .filter((k) => k.startsWith(p))
      .sort()
      .map((k) => this.map.get(k)!.key.slice());
  }

  /** Atomically persist the current contents: written into the older blob as version + 1, then fsynced. */
  sync(): Promise<void> {
    return settle(() => {
      this.life.check();
      return this.syncQueued();
    });
  }

  /** Sync (even when unchanged, as Rust does), then release the files. */
  async close(): Promise<void> {
    return this.life.closeWith(
      () => this.syncQueued(),
      () => this.releaseFiles(),
    );
  }

  /** Delete both blobs and the partition (allowed on a poisoned handle). */
  async destroy(): Promise<void> {
    return this.life.destroyWith(
      () => this.releaseFiles(),
      () => this.storage.remove(this.partition),
    );
  }

  /** `sync` without the usability check (`close` has already marked the handle closed). */
  private syncQueued(): Promise<void> {
    const target = 1 - this.cursor;
    const side = this.sides[target];
    const version = this.nextVersion;
    const bytes = this.encode(version);
    this.cursor = target;
    this.nextVersion++;
    return this.life.enqueue(async () => {
      side.blob.writeAt(bytes, 0);
      if (bytes.length < side.size) side.blob.resize(bytes.length);
      side.size = bytes.length;
      await side.blob.sync();
      side.version = version;
    });
  }

  private encode(version: number): Uint8Array {
    const keys = [...this.map.keys()].sort();
    let length = VERSION_BYTES + CRC_BYTES;
    for (const k of keys) {
      const { value } = this.map.get(k)!;
      length += this.keySize + varintU32Size(value.length) + value.length;
    }
    const out = new Uint8Array(length);
    const view = new DataView(out.buffer);
    view.setUint32(0, Math.floor(version / 2 ** 32));
    view.setUint32(4, version >>> 0);
    let at = VERSION_BYTES;
    for (const k of keys) {
      const { key, value } = this.map.get(k)!;
      out.set(key, at);
      at += this.keySize;
      at += writeVarintU32(out, at, value.length);
      out.set(value, at);
      at += value.length;
    }
    writeCrc(out, 0, at);
    return out;
  }

  private keyString(key: Uint8Array): string {
    if (key.length !== this.keySize) {
      throw new JournalError("InvalidArgument", `key has ${key.length} bytes, expected ${this.keySize}`);
    }
    return latin1(key);
  }

  private releaseFiles(): void {
    for (const side of this.sides) side.blob.close();
  }
}

/** Parse one blob; an unusable one (too short, bad CRC) is emptied and synced, as in Rust. */
async function load(blob: Blob, size: number, keySize: number): Promise<{ version: number; size: number; map: Map<string, Entry> }> {
  const map = new Map<string, Entry>();
  if (size === 0) return { version: 0, size, map };
  const buf = new Uint8Array(size);
  blob.readAt(buf, 0);
  const crcAt = size - CRC_BYTES;
  const valid = size >= VERSION_BYTES + CRC_BYTES && crcMatches(buf, 0, crcAt);
  if (!valid) {
    blob.resize(0);
    await blob.sync();
    return { version: 0, size: 0, map };
  }
  const view = new DataView(buf.buffer);
  const version = view.getUint32(0) * 2 ** 32 + view.getUint32(4);
  const corrupt = (what: string, offset: number) => new JournalError("Corruption", `${blob.path} at offset ${offset}: ${what}`, { file: blob.path, offset });
  if (!Number.isSafeInteger(version)) throw corrupt(`version ${version} exceeds 2^53`, 0);
  let at = VERSION_BYTES;
  while (at < crcAt) {
    if (at + keySize > crcAt) throw corrupt(`truncated key (keySize ${keySize})`, at);
    const key = buf.slice(at, at + keySize);
    at += keySize;
    const v = readVarintU32(buf, at, crcAt);
    if (v < 0) throw corrupt("invalid value length", at);
    const len = Math.floor(v / 8);
    at += v % 8;
    if (at + len > crcAt) throw corrupt(`value of ${len} bytes runs past the end`, at);
    map.set(latin1(key), { key, value: buf.slice(at, at + len) });
    at += len;
  }
  return { version, size, map };
}

function latin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1");
}
