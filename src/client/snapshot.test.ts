/** `SyncedSnapshot`: lookups and iteration over packed rows, with keys that collide on their prefix. */
import { SyncedSnapshot } from "./snapshot";
import { hex } from "../../test/helpers/vectors";

const target = { root: new Uint8Array(32).fill(7), lowerBound: 0n, upperBound: 99n };

function keyed(i: number, samePrefix: boolean): [Uint8Array, Uint8Array] {
  const key = new Uint8Array(32).fill(samePrefix ? 0xab : i & 0xff);
  key[31] = i & 0xff; // keys differ only after the 8-byte prefix when `samePrefix`
  key[30] = i >> 8;
  return [key, new Uint8Array(32).fill((i * 7) & 0xff)];
}

test.each([false, true])("every key is found with its value, absent keys are not (shared prefixes: %s)", async (samePrefix) => {
  const pairs = Array.from({ length: 300 }, (_, i) => keyed(i, samePrefix));
  const snap = await SyncedSnapshot.build("any", target, pairs.length, pairs);
  expect(snap.size).toBe(300);
  expect(snap.opCount).toBe(99n);
  for (const [k, v] of pairs) expect(hex(snap.get(k)!)).toBe(hex(v));
  expect(snap.get(keyed(1000, samePrefix)[0])).toBeUndefined();
  expect(snap.get(new Uint8Array(31))).toBeUndefined();
  expect([...snap.entries()].map(([k, v]) => hex(k) + hex(v))).toEqual(pairs.map(([k, v]) => hex(k) + hex(v)));
  const viaAsync: string[] = [];
  for await (const [k] of snap.entries()) viaAsync.push(hex(k));
  expect(viaAsync).toHaveLength(300);
  // Returned values are copies: changing one does not change the snapshot.
  snap.get(pairs[0]![0])!.fill(0);
  expect(hex(snap.get(pairs[0]![0])!)).toBe(hex(pairs[0]![1]));
});

test("a database listing more or fewer live keys than it counts is refused", async () => {
  const pairs = [keyed(1, false), keyed(2, false)];
  await expect(SyncedSnapshot.build("any", target, 1, pairs)).rejects.toThrow(/more than its 1 live keys/);
  await expect(SyncedSnapshot.build("any", target, 3, pairs)).rejects.toThrow(/listed 2 live keys, expected 3/);
});

test.each([0, 1, 13, 4097])("a snapshot of %i keys finds each of them and nothing else", async (count) => {
  const pairs = Array.from({ length: count }, (_, i) => keyed(i, false));
  const snap = await SyncedSnapshot.build("immutable", target, count, pairs);
  expect(snap.size).toBe(count);
  for (const [k, v] of pairs) expect(hex(snap.get(k)!)).toBe(hex(v));
  for (let i = count; i < count + 50; i++) expect(snap.has(keyed(i, false)[0])).toBe(false);
  expect([...snap.entries()]).toHaveLength(count);
});
