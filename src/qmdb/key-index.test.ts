import fc from "fast-check";
import { KeyIndex } from "./key-index";

// Keys whose first 8 bytes come from a tiny alphabet, so prefix collisions are frequent.
function makeKey(prefix: number, rest: number): Uint8Array {
  const k = new Uint8Array(32);
  k[7] = prefix;
  k[31] = rest;
  k[30] = rest >> 8;
  return k;
}

describe("KeyIndex", () => {
  // Locations start at `base`: 0, just below 2^32 (where the table adds its high-bits array) and far above.
  const bases = [0, 2 ** 32 - 30, 2 ** 45];

  test("matches a Map model under random inserts, moves, removals and retainFrom with colliding prefixes", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom("set", "remove", "move"), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 40 })), {
          maxLength: 400,
        }),
        fc.constantFrom(...bases),
        fc.integer({ min: 0, max: 200 }),
        fc.integer({ min: 0, max: 400 }),
        (script, base, expectedKeys, retain) => {
          const index = new KeyIndex(expectedKeys);
          const model = new Map<string, number>();
          // The "log": location → key.
          const log = new Map<number, Uint8Array>();
          let tip = base;
          const keyAt = (loc: number): Uint8Array => log.get(loc)!;
          for (const [action, prefix, rest] of script) {
            const key = makeKey(prefix, rest);
            const id = `${prefix}/${rest}`;
            if (action === "set") {
              log.set(tip, key);
              const isNew = index.set(key, tip, keyAt);
              expect(isNew).toBe(!model.has(id));
              model.set(id, tip++);
            } else if (action === "remove") {
              expect(index.remove(key, keyAt)).toBe(model.get(id) ?? -1);
              model.delete(id);
            } else if (model.has(id)) {
              log.set(tip, key);
              expect(index.move(key, model.get(id)!, tip)).toBe(true);
              model.set(id, tip++);
            }
            expect(index.size).toBe(model.size);
          }
          const check = (): void => {
            for (let p = 0; p <= 3; p++) {
              for (let r = 0; r <= 40; r++) {
                const key = makeKey(p, r);
                const expected = model.get(`${p}/${r}`) ?? -1;
                expect(index.get(key, keyAt)).toBe(expected);
                if (expected >= 0) expect(index.hasAt(key, expected)).toBe(true);
              }
            }
            expect([...index.sortedLocations()]).toEqual([...model.values()].sort((a, b) => a - b));
          };
          check();
          const minLoc = base + retain;
          index.retainFrom(minLoc);
          for (const [id, loc] of model) if (loc < minLoc) model.delete(id);
          expect(index.size).toBe(model.size);
          check();
        },
      ),
      { numRuns: 300 },
    );
  });

  test("setRange over keys inside encoded operations builds the same index as set over the keys alone", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 40 })), { maxLength: 300 }), (script) => {
        const byKey = new KeyIndex();
        const byRange = new KeyIndex();
        const log: Uint8Array[] = []; // location → encoded operation: tag ‖ key ‖ value
        const keyAt = (loc: number): Uint8Array => log[loc]!.subarray(1, 33);
        for (const [prefix, rest] of script) {
          const op = new Uint8Array(65).fill(0xee);
          op[0] = 3;
          op.set(makeKey(prefix, rest), 1);
          log.push(op);
          const loc = log.length - 1;
          expect(byRange.setRange(op, 1, 33, loc, keyAt)).toBe(byKey.set(op.slice(1, 33), loc, keyAt));
        }
        expect([...byRange.sortedLocations()]).toEqual([...byKey.sortedLocations()]);
        for (let p = 0; p <= 3; p++) for (let r = 0; r <= 40; r++) expect(byRange.get(makeKey(p, r), keyAt)).toBe(byKey.get(makeKey(p, r), keyAt));
      }),
      { numRuns: 200 },
    );
  });

  test("a presized index holds its keys without growing, at 12 bytes a slot", () => {
    const index = new KeyIndex(3000);
    const bytes = index.byteLength;
    for (let i = 0; i < 3000; i++) index.insertNew(makeKey(i & 0xff, i >> 8), i);
    expect(index.byteLength).toBe(bytes);
    expect(bytes).toBeLessThanOrEqual(12 * (4000 + 1));
    index.reserve(10); // never shrinks
    expect(index.byteLength).toBe(bytes);
    index.reserve(6000);
    expect(index.byteLength).toBeGreaterThan(bytes);
    for (let i = 0; i < 3000; i++) expect(index.hasAt(makeKey(i & 0xff, i >> 8), i)).toBe(true);
  });

  test("grows past its initial capacity and keeps every key", () => {
    const index = new KeyIndex();
    const log: Uint8Array[] = [];
    for (let i = 0; i < 10_000; i++) {
      const key = new Uint8Array(32);
      new DataView(key.buffer).setUint32(0, Math.imul(i, 2654435761) >>> 0);
      key[8] = i & 0xff;
      log.push(key);
      index.insertNew(key, i);
    }
    expect(index.size).toBe(10_000);
    for (let i = 0; i < 10_000; i += 7) expect(index.get(log[i]!, (l) => log[l]!)).toBe(i);
    expect(index.byteLength).toBeLessThanOrEqual(12 * 16_384);
  });
});
