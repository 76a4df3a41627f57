/**
 * One behavioural contract for every contiguous journal (commonware's `run_contiguous_tests`), run
 * against the fixed and the variable journal, both with 10 items per blob/section, and again with a
 * single cached handle (every read of an older blob may reopen it). Ends with a model-based property:
 * random appends, syncs, rewinds, prunes and reopens agree with an array.
 */
import fc from "fast-check";
import type { Contiguous } from "./contiguous";
import { FixedJournal } from "./fixed";
import { VariableJournal } from "./variable";
import { expectJournalError } from "../../test/helpers/journal";
import { tempDir } from "../../test/helpers/tmp";

/** What the contract needs from an implementation. */
interface JournalFactory {
  open(root: string, partition: string): Promise<Contiguous>;
  initAtSize(root: string, partition: string, size: number): Promise<Contiguous>;
  /** The item appended as number `i` (each implementation picks its own shape). */
  item(i: number): Uint8Array;
}

const PER_BLOB = 10;

function describeJournalContract(name: string, factory: JournalFactory): void {
  describe(`${name} journal contract`, () => {
    let root: string;
    beforeEach(() => {
      root = tempDir("journal-contract-");
    });

    const open = (partition = "p") => factory.open(root, partition);
    const fill = (j: Contiguous, from: number, to: number) => {
      for (let i = from; i < to; i++) expect(j.append(factory.item(i))).toBe(i);
    };
    const expectItems = (j: Contiguous, from: number, to: number) => {
      for (let i = from; i < to; i++) expect(j.read(i)).toEqual(factory.item(i));
    };

    test("a new journal is empty", async () => {
      const j = await open();
      expect(j.size).toBe(0);
      expect(j.oldestRetainedPos).toBeUndefined();
      expect(j.pruningBoundary).toBe(0);
      expectJournalError(() => j.read(0), "ItemOutOfRange", 0);
      await j.destroy();
    });

    test("appends get consecutive positions and are readable before any sync", async () => {
      const j = await open();
      fill(j, 0, 25);
      expect(j.size).toBe(25);
      expect(j.oldestRetainedPos).toBe(0);
      expectItems(j, 0, 25);
      await j.close();
    });

    test("read outside the retained range throws typed errors naming the position", async () => {
      const j = await open();
      fill(j, 0, 30);
      await j.prune(15);
      expectJournalError(() => j.read(30), "ItemOutOfRange", 30);
      expectJournalError(() => j.read(9), "ItemPruned", 9);
      expectJournalError(() => j.read(-1), "InvalidArgument");
      expectJournalError(() => j.read(1.5), "InvalidArgument");
      expect(j.read(10)).toEqual(factory.item(10));
      await j.close();
    });

    test("replay visits items in order from any retained position and can stop early", async () => {
      const j = await open();
      fill(j, 0, 35);
      const seen: number[] = [];
      j.replay(0, (pos, item) => {
        expect(item).toEqual(factory.item(pos));
        seen.push(pos);
      });
      expect(seen).toEqual([...Array(35).keys()]);
      seen.length = 0;
      j.replay(13, (pos) => {
        seen.push(pos);
        return pos < 21;
      });
      expect(seen).toEqual([13, 14, 15, 16, 17, 18, 19, 20, 21]);
      seen.length = 0;
      j.replay(35, (pos) => void seen.push(pos));
      expect(seen).toEqual([]);
      expectJournalError(() => j.replay(36, () => undefined), "ItemOutOfRange", 36);
      await j.prune(20);
      expectJournalError(() => j.replay(19, () => undefined), "ItemPruned", 19);
      j.replay(20, (pos) => void seen.push(pos));
      expect(seen).toEqual([...Array(15).keys()].map((i) => i + 20));
      await j.close();
    });

    test("replay on an empty journal visits nothing", async () => {
      const j = await open();
      j.replay(0, () => {
        throw new Error("unexpected item");
      });
      await j.destroy();
    });

    test("prune removes whole blobs only and never changes positions or size", async () => {
      const j = await open();
      fill(j, 0, 30);
      expect(await j.prune(5)).toBe(false);
      expect(j.oldestRetainedPos).toBe(0);
      expect(await j.prune(10)).toBe(true);
      expect(j.oldestRetainedPos).toBe(10);
      expect(await j.prune(25)).toBe(true);
      expect(j.oldestRetainedPos).toBe(20);
      expect(j.pruningBoundary).toBe(20);
      expect(await j.prune(25)).toBe(false);
      expect(j.size).toBe(30);
      expectItems(j, 20, 30);
      fill(j, 30, 33);
      expectItems(j, 20, 33);
      await j.close();
    });

    test("pruning everything leaves an empty journal at the same size", async () => {
      const j = await open();
      fill(j, 0, 30);
      expect(await j.prune(1000)).toBe(true);
      expect(j.size).toBe(30);
      expect(j.oldestRetainedPos).toBeUndefined();
      expect(j.pruningBoundary).toBe(30);
      await j.close();
      const again = await open();
      expect(again.size).toBe(30);
      expect(again.oldestRetainedPos).toBeUndefined();
      expect(again.append(factory.item(30))).toBe(30);
      expect(again.read(30)).toEqual(factory.item(30));
      await again.destroy();
    });

    test("items, size and pruning survive close and reopen", async () => {
      const j = await open();
      fill(j, 0, 27);
      await j.prune(12);
      await j.close();
      const again = await open();
      expect(again.size).toBe(27);
      expect(again.oldestRetainedPos).toBe(10);
      expectItems(again, 10, 27);
      fill(again, 27, 41);
      await again.sync();
      await again.close();
      const third = await open();
      expect(third.size).toBe(41);
      expectItems(third, 10, 41);
      await third.destroy();
    });

    test("sync and commit make appends durable without closing", async () => {
      const j = await open("a");
      fill(j, 0, 13);
      await j.sync();
      const k = await open("b");
      fill(k, 0, 17);
      await k.commit();
      // Reopen a second handle on the same files, as a restarted process would.
      const ja = await open("a");
      const kb = await open("b");
      expect(ja.size).toBe(13);
      expect(kb.size).toBe(17);
      expectItems(ja, 0, 13);
      expectItems(kb, 0, 17);
      for (const h of [j, k, ja, kb]) await h.close();
    });

    test("rewind drops later items and appends continue from the new size", async () => {
      const j = await open();
      fill(j, 0, 25);
      await j.rewind(25);
      expect(j.size).toBe(25);
      await j.rewind(8);
      expect(j.size).toBe(8);
      expectJournalError(() => j.read(8), "ItemOutOfRange", 8);
      expectItems(j, 0, 8);
      expect(j.append(factory.item(100))).toBe(8);
      expect(j.read(8)).toEqual(factory.item(100));
      await j.sync();
      await j.close();
      const again = await open();
      expect(again.size).toBe(9);
      expect(again.read(8)).toEqual(factory.item(100));
      await again.rewind(0);
      expect(again.size).toBe(0);
      expect(again.oldestRetainedPos).toBeUndefined();
      expect(again.append(factory.item(42))).toBe(0);
      expect(again.read(0)).toEqual(factory.item(42));
      await again.destroy();
    });

    test("rewind forward or into pruned items is rejected without changing state", async () => {
      const j = await open();
      fill(j, 0, 30);
      await j.prune(10);
      await expect(async () => j.rewind(31)).rejects.toMatchObject({ kind: "InvalidRewind", position: 31 });
      await expect(async () => j.rewind(5)).rejects.toMatchObject({ kind: "ItemPruned", position: 5 });
      expect(j.size).toBe(30);
      expect(j.oldestRetainedPos).toBe(10);
      await j.rewind(20);
      expect(j.oldestRetainedPos).toBe(10);
      expectItems(j, 10, 20);
      expect(j.append(factory.item(999))).toBe(20);
      await j.close();
    });

    test("rewinding to a blob boundary after pruning to it leaves an empty journal", async () => {
      const j = await open();
      fill(j, 0, 12);
      await j.prune(10);
      expectJournalError(() => j.read(9), "ItemPruned", 9);
      await j.rewind(10);
      expect(j.size).toBe(10);
      expect(j.oldestRetainedPos).toBeUndefined();
      expect(j.append(factory.item(777))).toBe(10);
      expect(j.oldestRetainedPos).toBe(10);
      await j.sync();
      await j.close();
      const again = await open();
      expect(again.size).toBe(11);
      expect(again.read(10)).toEqual(factory.item(777));
      await again.destroy();
    });

    test("rewind is durable after sync even across several blobs", async () => {
      const j = await open();
      fill(j, 0, 47);
      await j.sync();
      await j.rewind(13);
      await j.sync();
      await j.close();
      const again = await open();
      expect(again.size).toBe(13);
      expectItems(again, 0, 13);
      await again.destroy();
    });

    test("initAtSize starts an empty journal at a blob-aligned position", async () => {
      const j = await factory.initAtSize(root, "p", 20);
      expect(j.size).toBe(20);
      expect(j.oldestRetainedPos).toBeUndefined();
      expectJournalError(() => j.read(19), "ItemPruned", 19);
      fill(j, 20, 34);
      expect(j.oldestRetainedPos).toBe(20);
      expectItems(j, 20, 34);
      await j.sync();
      await j.close();
      const again = await open();
      expect(again.size).toBe(34);
      expect(again.oldestRetainedPos).toBe(20);
      expectItems(again, 20, 34);
      expectJournalError(() => again.read(19), "ItemPruned", 19);
      expect(await again.prune(30)).toBe(true);
      expect(again.oldestRetainedPos).toBe(30);
      await again.destroy();
    });

    test("initAtSize reopened before any append keeps its size", async () => {
      const j = await factory.initAtSize(root, "p", 30);
      await j.sync();
      await j.close();
      const again = await open();
      expect(again.size).toBe(30);
      expect(again.oldestRetainedPos).toBeUndefined();
      expect(again.append(factory.item(30))).toBe(30);
      await again.destroy();
    });

    test("initAtSize refuses a partition that already holds data", async () => {
      const j = await open();
      fill(j, 0, 3);
      await j.close();
      await expect(factory.initAtSize(root, "p", 20)).rejects.toMatchObject({ kind: "InvalidConfig" });
    });

    test("destroy removes everything so the partition starts fresh", async () => {
      const j = await open();
      fill(j, 0, 20);
      await j.prune(10);
      await j.destroy();
      const again = await open();
      expect(again.size).toBe(0);
      expect(again.oldestRetainedPos).toBeUndefined();
      await again.destroy();
    });

    test("a closed handle refuses every call", async () => {
      const j = await open();
      fill(j, 0, 3);
      await j.close();
      expectJournalError(() => j.append(factory.item(3)), "Closed");
      expectJournalError(() => j.read(0), "Closed");
      await expect(j.sync()).rejects.toMatchObject({ kind: "Closed" });
      await expect(j.rewind(0)).rejects.toMatchObject({ kind: "Closed" });
      await expect(j.close()).rejects.toMatchObject({ kind: "Closed" });
    });

    test("mutations issued without awaiting each other reach the disk in call order", async () => {
      const j = await open();
      const model: number[] = [];
      const add = (from: number, to: number) => {
        for (let i = from; i < to; i++) {
          model.push(i);
          expect(j.append(factory.item(i))).toBe(model.length - 1);
        }
      };
      add(0, 25);
      const pending: Promise<unknown>[] = [j.sync()];
      pending.push(j.rewind(13));
      model.length = 13;
      add(100, 109); // refills blob 1 and starts blob 2 again
      pending.push(j.prune(10), j.commit());
      add(200, 215);
      pending.push(j.rewind(27));
      model.length = 27;
      add(300, 302);
      pending.push(j.sync());
      expect(j.size).toBe(29);
      expect(j.pruningBoundary).toBe(10);
      for (let pos = 10; pos < 29; pos++) expect(j.read(pos)).toEqual(factory.item(model[pos]));
      await Promise.all(pending);
      await j.close();
      const again = await open();
      expect(again.size).toBe(29);
      expect(again.pruningBoundary).toBe(10);
      for (let pos = 10; pos < 29; pos++) expect(again.read(pos)).toEqual(factory.item(model[pos]));
      await again.destroy();
    });

    test("random operations agree with an in-memory model, across reopens", async () => {
      type Op = { kind: "append"; n: number } | { kind: "sync" } | { kind: "reopen" } | { kind: "rewind"; back: number } | { kind: "prune"; ahead: number };
      const op: fc.Arbitrary<Op> = fc.oneof(
        { weight: 5, arbitrary: fc.integer({ min: 1, max: 25 }).map((n) => ({ kind: "append" as const, n })) },
        { weight: 1, arbitrary: fc.constant({ kind: "sync" as const }) },
        { weight: 1, arbitrary: fc.constant({ kind: "reopen" as const }) },
        { weight: 2, arbitrary: fc.integer({ min: 0, max: 30 }).map((back) => ({ kind: "rewind" as const, back })) },
        { weight: 2, arbitrary: fc.integer({ min: 0, max: 40 }).map((ahead) => ({ kind: "prune" as const, ahead })) },
      );
      let run = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(op, { maxLength: 30 }), async (ops) => {
          const partition = `model${run++}`;
          let j = await factory.open(root, partition);
          const model: number[] = []; // position → item number
          let boundary = 0;
          let next = 0;
          try {
            for (const o of ops) {
              if (o.kind === "append") {
                for (let i = 0; i < o.n; i++) {
                  model.push(next);
                  expect(j.append(factory.item(next++))).toBe(model.length - 1);
                }
              } else if (o.kind === "sync") {
                await j.sync();
              } else if (o.kind === "reopen") {
                await j.close();
                j = await factory.open(root, partition);
              } else if (o.kind === "rewind") {
                const size = Math.max(boundary, model.length - o.back);
                await j.rewind(size);
                model.length = size;
              } else {
                const min = boundary + o.ahead;
                const expected = Math.max(boundary, Math.floor(Math.min(min, model.length) / PER_BLOB) * PER_BLOB);
                expect(await j.prune(min)).toBe(expected > boundary);
                boundary = expected;
              }
              expect(j.size).toBe(model.length);
              expect(j.pruningBoundary).toBe(boundary);
            }
            const seen: number[] = [];
            j.replay(boundary, (pos, item) => {
              expect(item).toEqual(factory.item(model[pos]));
              seen.push(pos);
            });
            expect(seen.length).toBe(model.length - boundary);
          } finally {
            await j.destroy();
          }
        }),
        { numRuns: 40 },
      );
    });
  });
}

function u64be(i: number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(i));
  return out;
}

// Lengths 0..40 cross the 16-byte alignment in every way.
const variableItem = (i: number): Uint8Array => Uint8Array.from({ length: i % 41 }, (_, k) => (i * 31 + k) & 0xff);

// Tiny write buffers make every path that moves buffered bytes to files (flush, roll, rewind) run often.
const fixedConfig = { itemSize: 8, itemsPerBlob: PER_BLOB, writeBufferBytes: 30 };
const variableConfig = { itemsPerSection: PER_BLOB, writeBufferBytes: 40 };

describeJournalContract("fixed", {
  open: (root, partition) => FixedJournal.open(root, partition, fixedConfig),
  initAtSize: (root, partition, size) => FixedJournal.initAtSize(root, partition, fixedConfig, size),
  item: u64be,
});

describeJournalContract("variable", {
  open: (root, partition) => VariableJournal.open(root, partition, variableConfig),
  initAtSize: (root, partition, size) => VariableJournal.initAtSize(root, partition, variableConfig, size),
  item: variableItem,
});

// A single cached handle: reads, rewinds and prunes keep evicting and reopening older blobs.
const fixedOneHandle = { ...fixedConfig, maxOpenBlobs: 1 };
const variableOneHandle = { ...variableConfig, maxOpenBlobs: 1 };

describeJournalContract("fixed (maxOpenBlobs 1)", {
  open: (root, partition) => FixedJournal.open(root, partition, fixedOneHandle),
  initAtSize: (root, partition, size) => FixedJournal.initAtSize(root, partition, fixedOneHandle, size),
  item: u64be,
});

describeJournalContract("variable (maxOpenBlobs 1)", {
  open: (root, partition) => VariableJournal.open(root, partition, variableOneHandle),
  initAtSize: (root, partition, size) => VariableJournal.initAtSize(root, partition, variableOneHandle, size),
  item: variableItem,
});
