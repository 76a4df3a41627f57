/**
 * `entries()` on both databases lists exactly the live keys with their values, checked against a
 * plain Map model through random updates, deletes, commits, reopen and (immutable) pruning.
 */
import fc from "fast-check";
import { AnyDb } from "./any";
import { ImmutableDb } from "./immutable";
import { tempDir } from "../../test/helpers/tmp";
import { hex } from "../../test/helpers/vectors";

const key = (i: number): Uint8Array => new Uint8Array(32).fill(0).map((_, j) => (j < 4 ? (i >> (8 * j)) & 0xff : j));
const value = (i: number, v: number): Uint8Array => new Uint8Array(32).fill((i * 31 + v) & 0xff);

function asMap(entries: Iterable<[Uint8Array, Uint8Array]>): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of entries) {
    expect(out.has(hex(k))).toBe(false); // each live key once
    out.set(hex(k), hex(v));
  }
  return out;
}

test("AnyDb.entries() equals a Map model after random updates, deletes and commits, and after reopen", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.tuple(fc.constantFrom("update", "delete", "commit"), fc.integer({ min: 0, max: 12 }), fc.integer({ min: 0, max: 255 })), { maxLength: 60 }),
      async (steps) => {
        const dir = tempDir();
        const db = await AnyDb.open(dir);
        const model = new Map<string, string>();
        let committed = new Map<string, string>();
        for (const [op, i, v] of steps) {
          if (op === "update") {
            db.update(key(i), value(i, v));
            model.set(hex(key(i)), hex(value(i, v)));
          } else if (op === "delete") {
            db.delete(key(i));
            model.delete(hex(key(i)));
          } else {
            await db.commit();
            committed = new Map(model);
          }
        }
        expect(asMap(db.entries())).toEqual(model);
        await db.close();
        const reopened = await AnyDb.open(dir);
        expect(asMap(reopened.entries())).toEqual(committed); // uncommitted operations are discarded
        await reopened.close();
      },
    ),
    { numRuns: 25 },
  );
});

test("ImmutableDb.entries() lists every set key with the value set, and forgets keys pruned away", async () => {
  const db = await ImmutableDb.open(tempDir(), { logItemsPerBlob: 8 });
  const model = new Map<string, string>();
  for (let i = 0; i < 40; i++) {
    db.set(key(i), value(i, 7));
    model.set(hex(key(i)), hex(value(i, 7)));
    if (i % 5 === 4) await db.commit();
  }
  expect(asMap(db.entries())).toEqual(model);
  await db.prune(16n);
  const kept = asMap(db.entries());
  // Locations 0..15 are gone: every listed key is one the model has, with its value; the pruned ones are missing.
  for (const [k, v] of kept) expect(model.get(k)).toBe(v);
  expect(kept.size).toBe(db.activeKeys);
  expect(kept.size).toBeLessThan(model.size);
  for (const [k] of kept) expect(db.get(Buffer.from(k, "hex"))).toBeDefined();
  await db.close();
});

test("entries() is refused on a closed database", async () => {
  const db = await AnyDb.open(tempDir());
  await db.close();
  expect(() => [...db.entries()]).toThrow(/closed/);
});
