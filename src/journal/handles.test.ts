/**
 * Open file handles stay bounded however many blobs a journal has: the tail stays open, older blobs
 * are opened on demand through a small LRU cache (`maxOpenBlobs`). Counted as entries of
 * /proc/self/fd, so these tests see every descriptor the process really holds.
 */
import { readdirSync } from "node:fs";
import type { Contiguous } from "./contiguous";
import { FixedJournal } from "./fixed";
import { DEFAULT_MAX_OPEN_BLOBS } from "./handles";
import { type Storage } from "./storage";
import { VariableJournal } from "./variable";
import { tempDir } from "../../test/helpers/tmp";
import { FaultyStorage, expectJournalError } from "../../test/helpers/journal";

// `storage.ts` reads `fs.openSync` off the shared core module at call time, so a spy here sees its calls.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const nodeFs = require("node:fs") as typeof import("node:fs");

const ITEMS = 2000;
const PER_BLOB = 4; // 500 blobs per partition
/** Descriptors the journals may add to the baseline (the bound the task sets: far below 500). */
const FD_BUDGET = 100;

const openFds = (): number => readdirSync("/proc/self/fd").length;

let root: string;
let baseline: number;
beforeEach(() => {
  root = tempDir("journal-handles-");
  baseline = openFds();
});

/** Tracks the highest descriptor count above the baseline seen at each `sample()`. */
function peakMeter(): { sample(): void; readonly peak: number } {
  let peak = 0;
  return {
    sample() {
      peak = Math.max(peak, openFds() - baseline);
    },
    get peak() {
      return peak;
    },
  };
}

function u64be(i: number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(i));
  return out;
}
const variableItem = (i: number): Uint8Array => Uint8Array.from({ length: i % 41 }, (_, k) => (i * 31 + k) & 0xff);

/** A fixed permutation of 0..n-1 (a linear congruential walk), so reads jump between blobs. */
function scattered(n: number): number[] {
  const out: number[] = [];
  let x = 7;
  const seen = new Uint8Array(n);
  while (out.length < n) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    let p = x % n;
    while (seen[p]) p = (p + 1) % n;
    seen[p] = 1;
    out.push(p);
  }
  return out;
}

interface Case {
  name: string;
  /** Partitions (each bounded separately): 1 for the fixed journal, data and offsets for the variable one. */
  partitions: number;
  /** Files held besides each partition's blobs: the data section created ahead of its turn (variable). */
  ahead: number;
  open(maxOpenBlobs?: number): Promise<Contiguous>;
  item(i: number): Uint8Array;
}

const cases: Case[] = [
  {
    name: "fixed",
    partitions: 1,
    ahead: 0,
    open: (maxOpenBlobs) => FixedJournal.open(root, "p", { itemSize: 8, itemsPerBlob: PER_BLOB, maxOpenBlobs }),
    item: u64be,
  },
  {
    name: "variable",
    partitions: 2,
    ahead: 1,
    open: (maxOpenBlobs) => VariableJournal.open(root, "log", { itemsPerSection: PER_BLOB, maxOpenBlobs }),
    item: variableItem,
  },
];

for (const c of cases) {
  describe(`${c.name} journal with ${ITEMS / PER_BLOB} blobs`, () => {
    test("appends, syncs, reopens and reads everything back with few descriptors open", async () => {
      const meter = peakMeter();
      const j = await c.open();
      for (let i = 0; i < ITEMS; i++) {
        j.append(c.item(i));
        if (i % 100 === 99) {
          await j.sync();
          meter.sample();
        }
      }
      await j.sync();
      meter.sample();
      const appendPeak = meter.peak;
      await j.close();
      expect(openFds()).toBe(baseline);

      const again = await c.open();
      meter.sample();
      const afterOpen = openFds() - baseline;
      expect(again.size).toBe(ITEMS);
      for (let i = 0; i < ITEMS; i++) {
        expect(again.read(i)).toEqual(c.item(i));
        if (i % 50 === 0) meter.sample();
      }
      for (const [k, i] of scattered(ITEMS).entries()) {
        expect(again.read(i)).toEqual(c.item(i));
        if (k % 50 === 0) meter.sample();
      }
      let next = 0;
      again.replay(0, (pos, bytes) => {
        expect(pos).toBe(next++);
        expect(bytes).toEqual(c.item(pos));
        if (pos % 50 === 0) meter.sample();
      });
      expect(next).toBe(ITEMS);
      // Before the handle cache: 501 (fixed) and 1,001 (variable) at every one of these points.
      const bound = c.partitions * (DEFAULT_MAX_OPEN_BLOBS + 1) + c.ahead;
      expect(appendPeak).toBeLessThanOrEqual(bound);
      expect(afterOpen).toBe(c.partitions); // only the tails
      expect(meter.peak).toBeLessThanOrEqual(bound);
      expect(meter.peak).toBeLessThan(FD_BUDGET);
      await again.close();
      expect(openFds()).toBe(baseline);
    });

    test("a smaller maxOpenBlobs bounds the descriptors more tightly", async () => {
      const j = await c.open(2);
      for (let i = 0; i < 200; i++) j.append(c.item(i));
      await j.close();
      const again = await c.open(2);
      const meter = peakMeter();
      for (const i of scattered(200)) {
        expect(again.read(i)).toEqual(c.item(i));
        meter.sample();
      }
      // Per partition: the tail plus two cached blobs.
      expect(meter.peak).toBeLessThanOrEqual(c.partitions * 3);
      await again.close();
      expect(openFds()).toBe(baseline);
    });

    test("pruning closes the handles of pruned blobs; pruned reads still fail with ItemPruned", async () => {
      const j = await c.open();
      for (let i = 0; i < ITEMS; i++) j.append(c.item(i));
      await j.sync();
      // Fill the cache with the oldest blobs, then prune them away (without awaiting first).
      for (let i = 0; i < 40 * PER_BLOB; i++) expect(j.read(i)).toEqual(c.item(i));
      const withCache = openFds() - baseline;
      const pruned = j.prune(ITEMS / 2);
      expectJournalError(() => j.read(0), "ItemPruned");
      expectJournalError(() => j.read(ITEMS / 2 - 1), "ItemPruned");
      expect(j.read(ITEMS / 2)).toEqual(c.item(ITEMS / 2));
      expect(await pruned).toBe(true);
      expect(openFds() - baseline).toBeLessThan(withCache);
      for (let i = ITEMS / 2; i < ITEMS; i++) expect(j.read(i)).toEqual(c.item(i));
      expectJournalError(() => j.read(ITEMS / 2 - 1), "ItemPruned");
      await j.close();
      expect(openFds()).toBe(baseline);
    });

    test("rewinding into a long-closed blob reopens it for writing", async () => {
      const j = await c.open();
      for (let i = 0; i < ITEMS; i++) j.append(c.item(i));
      await j.sync();
      await j.close();
      const again = await c.open();
      // Touch many recent blobs so blob 10's handle (if it ever had one) is long gone.
      for (let i = ITEMS - 1; i >= ITEMS - 60 * PER_BLOB; i--) expect(again.read(i)).toEqual(c.item(i));
      const size = 10 * PER_BLOB + 2;
      await again.rewind(size);
      expect(again.read(size - 1)).toEqual(c.item(size - 1));
      expectJournalError(() => again.read(size), "ItemOutOfRange");
      for (let i = size; i < size + 3 * PER_BLOB; i++) expect(again.append(c.item(10_000 + i))).toBe(i);
      await again.sync();
      await again.close();
      expect(openFds()).toBe(baseline);
      const third = await c.open();
      expect(third.size).toBe(size + 3 * PER_BLOB);
      for (let i = 0; i < size; i++) expect(third.read(i)).toEqual(c.item(i));
      for (let i = size; i < third.size; i++) expect(third.read(i)).toEqual(c.item(10_000 + i));
      await third.destroy();
      expect(openFds()).toBe(baseline);
    });

    test("destroy releases every handle, cached or not", async () => {
      const j = await c.open();
      for (let i = 0; i < 400; i++) j.append(c.item(i));
      await j.sync();
      for (let i = 0; i < 400; i += 3) j.read(i);
      await j.destroy();
      expect(openFds()).toBe(baseline);
    });
  });
}

test("a cache hit reads without opening or closing anything", async () => {
  const j = await FixedJournal.open(root, "p", { itemSize: 8, itemsPerBlob: PER_BLOB, maxOpenBlobs: 4 });
  for (let i = 0; i < 100; i++) j.append(u64be(i));
  await j.close();
  const again = await FixedJournal.open(root, "p", { itemSize: 8, itemsPerBlob: PER_BLOB, maxOpenBlobs: 4 });
  const opens = jest.spyOn(nodeFs, "openSync");
  const closes = jest.spyOn(nodeFs, "closeSync");
  try {
    // Blobs 0..3 fit in the cache: one open each, then only reads.
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 4 * PER_BLOB; i++) expect(again.read(i)).toEqual(u64be(i));
    }
    expect(opens).toHaveBeenCalledTimes(4);
    expect(closes).toHaveBeenCalledTimes(0);
    // A fifth blob evicts the least recently used one (blob 0).
    expect(again.read(4 * PER_BLOB)).toEqual(u64be(4 * PER_BLOB));
    expect(opens).toHaveBeenCalledTimes(5);
    expect(closes).toHaveBeenCalledTimes(1);
    expect(again.read(PER_BLOB)).toEqual(u64be(PER_BLOB));
    expect(opens).toHaveBeenCalledTimes(5);
    expect(again.read(0)).toEqual(u64be(0));
    expect(opens).toHaveBeenCalledTimes(6);
    // Opened read-only: only a rewind back into an old blob makes it writable.
    for (const [, flags] of opens.mock.calls) expect(flags).toBe(nodeFs.constants.O_RDONLY);
  } finally {
    opens.mockRestore();
    closes.mockRestore();
  }
  await again.close();
});

test("maxOpenBlobs must be a positive safe integer", async () => {
  for (const bad of [0, -1, 1.5]) {
    await expect(FixedJournal.open(root, "p", { itemSize: 8, itemsPerBlob: 4, maxOpenBlobs: bad })).rejects.toMatchObject({
      kind: "InvalidConfig",
    });
    await expect(VariableJournal.open(root, "v", { itemsPerSection: 4, maxOpenBlobs: bad })).rejects.toMatchObject({
      kind: "InvalidConfig",
    });
  }
});

const opens: [string, (storage: Storage) => Promise<Contiguous>, (i: number) => Uint8Array][] = [
  ["fixed", (storage) => FixedJournal.open(storage, "p", { itemSize: 8, itemsPerBlob: PER_BLOB }), u64be],
  ["variable", (storage) => VariableJournal.open(storage, "log", { itemsPerSection: PER_BLOB }), variableItem],
];

for (const [name, open, item] of opens) {
  test(`${name} journal: blobs rewound away are closed by destroy even when their removal never ran`, async () => {
    const storage = new FaultyStorage(root);
    const j = await open(storage);
    for (let i = 0; i < 40; i++) j.append(item(i));
    await j.sync();
    // Blobs 1..9 are cached (open) when the rewind takes them out of the journal; their handles are
    // closed by the rewind's task, which fails at its first removal and poisons the journal.
    storage.failRemove = true;
    await expect(j.rewind(2)).rejects.toMatchObject({ kind: "Io" });
    expectJournalError(() => j.read(0), "Poisoned");
    storage.failRemove = false;
    await j.destroy();
    expect(openFds()).toBe(baseline);
  });
}
