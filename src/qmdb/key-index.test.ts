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
  test("matches a Map model under random inserts, moves and removals with colliding prefixes", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom("set", "remove", "move"), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 40 })), {
          maxLength: 400,
        }),
        (script) => {
          const index = new KeyIndex();
          const model = new Map<string, number>();
          // The "log": location → key.
          const log: Uint8Array[] = [];
          const keyAt = (loc: number): Uint8Array => log[loc]!;
          for (const [action, prefix, rest] of script) {
            const key = makeKey(prefix, rest);
            const id = `${prefix}/${rest}`;
            if (action === "set") {
              log.push(key);
              const isNew = index.set(key, log.length - 1, keyAt);
              expect(isNew).toBe(!model.has(id));
              model.set(id, log.length - 1);
            } else if (action === "remove") {
              expect(index.remove(key, keyAt)).toBe(model.get(id) ?? -1);
              model.delete(id);
            } else if (model.has(id)) {
              log.push(key);
              expect(index.move(key, model.get(id)!, log.length - 1)).toBe(true);
              model.set(id, log.length - 1);
            }
            expect(index.size).toBe(model.size);
          }
          for (let p = 0; p <= 3; p++) {
            for (let r = 0; r <= 40; r++) {
              const key = makeKey(p, r);
              const expected = model.get(`${p}/${r}`) ?? -1;
              expect(index.get(key, keyAt)).toBe(expected);
              if (expected >= 0) expect(index.hasAt(key, expected)).toBe(true);
            }
          }
        },
      ),
      { numRuns: 200 },
    );
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
    expect(index.byteLength).toBeLessThanOrEqual(16 * 16_384);
  });
});
