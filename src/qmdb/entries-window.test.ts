/**
 * `entries()` reads live operations in windows of up to 1024 locations: at window edges, across
 * gaps longer than a window, across journal blob boundaries and after pruning it still lists
 * exactly the live keys, in log order, with their current values.
 */
import { AnyDb } from "./any";
import { tempDir } from "../../test/helpers/tmp";
import { hex } from "../../test/helpers/vectors";

const key = (i: number): Uint8Array => {
  const k = new Uint8Array(32);
  new DataView(k.buffer).setUint32(0, i);
  return k;
};
const value = (i: number, v: number): Uint8Array => new Uint8Array(32).fill((i * 7 + v) & 0xff);

test("AnyDb.entries() lists the live keys in log order at window edges, across long gaps, blobs and pruning", async () => {
  const db = await AnyDb.open(tempDir(), { logItemsPerBlob: 333 });
  const live = new Map<string, string>();
  const put = (i: number, v: number): void => {
    db.update(key(i), value(i, v));
    live.set(hex(key(i)), hex(value(i, v)));
  };
  for (let i = 0; i < 5000; i++) put(i, 0);
  await db.commit();
  // Rewrite most keys so the live ones are left with gaps of every size, some past 1024.
  for (let i = 0; i < 5000; i++) if (i % 1500 > 3 && i !== 1023 && i !== 1024 && i !== 2600) put(i, 1);
  for (let i = 0; i < 50; i++) {
    if (db.delete(key(i * 40))) live.delete(hex(key(i * 40)));
  }
  await db.commit();
  await db.prune(db.inactivityFloorLoc);
  expect(db.oldestRetainedLoc).toBeGreaterThan(0n);
  const got = [...db.entries()].map(([k, v]) => [hex(k), hex(v)]);
  // Log order: a live key's location is the last update of it in the log (commits move updates up).
  const lastLoc = new Map<string, bigint>();
  for (let loc = db.oldestRetainedLoc; loc < db.opCount; loc++) {
    const op = db.operation(loc);
    if (op.type === "update") lastLoc.set(hex(op.key), loc);
  }
  const want = [...live.entries()].sort((a, b) => (lastLoc.get(a[0])! < lastLoc.get(b[0])! ? -1 : 1));
  expect(got.length).toBe(db.activeKeys);
  expect(got).toEqual(want);
  await db.close();
});
