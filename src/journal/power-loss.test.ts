/**
 * Power loss, modelled strictly: only what was fsynced survives. A file keeps the bytes of its last
 * `sync` (none if never synced), and exists at all only if its directory entry was made durable:
 * created without `deferDirectorySync`, or covered by a later `syncDirectory` of its partition.
 * Journals create the blobs they grow into with the directory fsync deferred, so every durability
 * point (`commit`, `sync`, `close`) must make those entries durable: after each one a power cut
 * must keep every item appended before it, and at any other moment a power cut must recover a
 * prefix of what was appended.
 */
import type { Contiguous } from "./contiguous";
import { JournalError } from "./errors";
import { FixedJournal } from "./fixed";
import { type Blob, type OpenOptions, type Storage } from "./storage";
import { memBlobKey, memScan } from "../../test/helpers/journal";
import { VariableJournal } from "./variable";

interface File {
  bytes: Uint8Array;
  /** Bytes as of the last fsync. */
  synced: Uint8Array;
  /** Whether the directory entry survives a power cut. */
  entryDurable: boolean;
}

class PowerLossStorage implements Storage {
  private readonly files = new Map<string, File>();
  /** Directory syncs that had entries to cover (one per durability point at most). */
  directorySyncs = 0;

  /** Files as a power cut would leave them. */
  static survivorsOf(storage: PowerLossStorage): PowerLossStorage {
    const next = new PowerLossStorage();
    for (const [key, f] of storage.files) {
      if (f.entryDurable) next.files.set(key, { bytes: f.synced.slice(), synced: f.synced.slice(), entryDurable: true });
    }
    return next;
  }

  locate(partition: string, name: Uint8Array): string {
    return memBlobKey(partition, name);
  }
  async scan(partition: string): Promise<Uint8Array[]> {
    return memScan(this.files.keys(), partition);
  }
  async open(partition: string, name: Uint8Array, options: OpenOptions = {}): Promise<{ blob: Blob; size: number }> {
    const key = this.locate(partition, name);
    if (!this.files.has(key)) this.files.set(key, { bytes: new Uint8Array(0), synced: new Uint8Array(0), entryDurable: options.deferDirectorySync !== true });
    return { blob: this.blob(key), size: this.files.get(key)!.bytes.length };
  }
  async syncDirectory(partition: string): Promise<void> {
    let covered = false;
    for (const [key, f] of this.files) {
      if (key.startsWith(`${partition}/`) && !f.entryDurable) {
        f.entryDurable = true;
        covered = true;
      }
    }
    if (covered) this.directorySyncs++;
  }
  async remove(partition: string, name?: Uint8Array): Promise<void> {
    const keys = name === undefined ? [...this.files.keys()].filter((k) => k.startsWith(`${partition}/`)) : [this.locate(partition, name)];
    for (const key of keys) this.files.delete(key); // removals fsync their directory
  }

  private blob(key: string): Blob {
    const file = (): File => {
      const f = this.files.get(key);
      if (f === undefined) throw new JournalError("Io", `${key} was removed`);
      return f;
    };
    return {
      path: key,
      readAt: (out, offset) => {
        const { bytes } = file();
        if (offset + out.length > bytes.length) throw new JournalError("Io", `short read of ${key}`);
        out.set(bytes.subarray(offset, offset + out.length));
      },
      writeAt: (data, offset) => {
        const f = file();
        const next = new Uint8Array(Math.max(f.bytes.length, offset + data.length));
        next.set(f.bytes);
        next.set(data, offset);
        f.bytes = next;
      },
      resize: (size) => {
        const f = file();
        const next = new Uint8Array(size);
        next.set(f.bytes.subarray(0, Math.min(size, f.bytes.length)));
        f.bytes = next;
      },
      sync: async () => {
        const f = file();
        f.synced = f.bytes.slice();
      },
      close: () => undefined,
    };
  }
}

interface Scenario {
  open(storage: Storage): Promise<Contiguous & { commit(): Promise<void> }>;
  item(id: number): Uint8Array;
}

const scenarios: [string, Scenario][] = [
  [
    "fixed",
    {
      open: (storage) => FixedJournal.open(storage, "p", { itemSize: 8, itemsPerBlob: 10, writeBufferBytes: 30 }),
      item: (id) => Uint8Array.from({ length: 8 }, (_, k) => (id * 13 + k) & 0xff),
    },
  ],
  [
    "variable",
    {
      open: (storage) => VariableJournal.open(storage, "log", { itemsPerSection: 10, writeBufferBytes: 40 }),
      item: (id) => Uint8Array.from({ length: 1 + (id % 37) }, (_, k) => (id * 7 + k) & 0xff),
    },
  ],
];

/** Reopens what a power cut now would leave; returns the recovered items. */
async function afterPowerCut(scenario: Scenario, storage: PowerLossStorage): Promise<Uint8Array[]> {
  const recovered = await scenario.open(PowerLossStorage.survivorsOf(storage));
  const items: Uint8Array[] = [];
  // Nothing was pruned: a journal that starts later read lost items as pruned ones.
  expect(recovered.pruningBoundary).toBe(0);
  recovered.replay(0, (_pos, bytes) => void items.push(bytes.slice()));
  expect(recovered.size).toBe(items.length);
  await recovered.close();
  return items;
}

describe.each(scenarios)("%s journal under power loss", (_name, scenario) => {
  test.each([3, 7, 25])("every commit (every %i items) survives a power cut, and any cut recovers a prefix", async (every) => {
    const storage = new PowerLossStorage();
    const j = await scenario.open(storage);
    const appended: Uint8Array[] = [];
    let committed = 0;
    const check = async (): Promise<void> => {
      const items = await afterPowerCut(scenario, storage);
      expect(items.length).toBeGreaterThanOrEqual(committed);
      expect(items.length).toBeLessThanOrEqual(appended.length);
      items.forEach((item, i) => expect(Buffer.from(item).equals(Buffer.from(appended[i]!))).toBe(true));
    };
    for (let id = 0; id < 95; id++) {
      const item = scenario.item(id);
      appended.push(item);
      j.append(item);
      if ((id + 1) % every === 0) {
        await j.commit();
        committed = appended.length;
      }
      await check();
    }
    await j.close();
    committed = appended.length;
    await check();
    // The blobs grown into were created without a directory fsync each: commits synced them in bulk.
    expect(storage.directorySyncs).toBeLessThanOrEqual(Math.ceil(95 / every) + 1);
    expect(storage.directorySyncs).toBeGreaterThan(0);
  });
});
