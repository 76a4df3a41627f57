/**
 * Reading what was synced, through the library: a `SyncClient` syncs from a seeded `sync-server`
 * process, and `get` and `entries` must list exactly the keys and values the server's seeded
 * operations imply (derived here from the generator, independently of the client), for both
 * kinds; before the first sync `get` throws `NotSyncedError`; while a later sync runs, reads keep
 * answering from the last completed one.
 */
import { NotSyncedError, SyncClient, type SyncedSnapshot } from "../../src/client";
import { createTestOperations } from "../../src/qmdb";
import { KINDS, type Kind, cleanup, startServer, tempDir } from "./harness";
import { hex } from "../helpers/vectors";

jest.setTimeout(60_000);
afterAll(cleanup);

const SEED = 11n;
const INITIAL = 400;
const PER_BATCH = 5;

/** key → [value, batch] for the initial load (batch 0) and batches 1..maxBatch of a seeded server. */
function seededKeys(kind: Kind, maxBatch: number): Map<string, { value: string; batch: number }> {
  const out = new Map<string, { value: string; batch: number }>();
  for (let batch = 0; batch <= maxBatch; batch++) {
    const ops = createTestOperations(kind, batch === 0 ? INITIAL : PER_BATCH, SEED + BigInt(batch));
    for (const op of ops) if (op.type === "update" || op.type === "set") out.set(hex(op.key), { value: hex(op.value), batch });
  }
  return out;
}

/**
 * Checks that `pairs` is exactly the seeded state after batches 0..m for some m: every initial key,
 * whole batches 1..m and nothing else, each with its generated value. Returns m.
 */
function expectSeededState(kind: Kind, pairs: ReadonlyArray<[Uint8Array, Uint8Array]>): number {
  const universe = seededKeys(kind, 2000);
  const perBatch = new Map<number, number>();
  const seen = new Set<string>();
  for (const [k, v] of pairs) {
    const want = universe.get(hex(k));
    if (want === undefined) throw new Error(`key ${hex(k)} is not one the seeded server wrote`);
    expect(hex(v)).toBe(want.value);
    expect(seen.has(hex(k))).toBe(false);
    seen.add(hex(k));
    perBatch.set(want.batch, (perBatch.get(want.batch) ?? 0) + 1);
  }
  expect(perBatch.get(0)).toBe(INITIAL);
  const m = Math.max(...perBatch.keys());
  for (let b = 1; b <= m; b++) expect(perBatch.get(b)).toBe(PER_BATCH);
  expect(pairs.length).toBe(INITIAL + m * PER_BATCH);
  return m;
}

describe.each(KINDS)("%s", (kind) => {
  test("get and entries answer from the last completed sync, exactly as the seeded operations imply", async () => {
    const server = await startServer({ db: kind, initialOps: INITIAL, opInterval: "100ms", opsPerInterval: PER_BATCH, extra: ["--seed", String(SEED)] });
    const client = new SyncClient({ server: server.addr, kind, directory: tempDir(), syncIntervalMs: 300, fetchBatchSize: 40 });
    const anyKey = createTestOperations(kind, 1, SEED)[0]! as { key: Uint8Array };
    expect(() => client.get(anyKey.key)).toThrow(NotSyncedError);
    expect(() => client.entries()).toThrow(NotSyncedError);

    const snapshots: SyncedSnapshot[] = [];
    const duringSecondSync: Array<Array<[Uint8Array, Uint8Array]>> = [];
    client.on("synced", ({ snapshot, opCount, root }) => {
      expect(snapshot).toBeDefined();
      expect(snapshot!.opCount).toBe(opCount);
      expect(hex(snapshot!.root)).toBe(hex(root));
      expect(client.snapshot).toBe(snapshot);
      snapshots.push(snapshot!);
    });
    // When the second iteration starts, the first one's data must still be what reads return.
    client.on("start", ({ iteration }) => {
      if (iteration === 2) duringSecondSync.push([...client.entries()]);
    });
    const stop = new AbortController();
    client.on("synced", ({ iteration }) => {
      if (iteration === 2) stop.abort();
    });
    await client.run(stop.signal, { maxIterations: 3 });
    await server.stop();
    expect(snapshots.length).toBeGreaterThanOrEqual(1);

    // The last snapshot: every live key through get, entries (sync and async) the same set.
    const last = snapshots[snapshots.length - 1]!;
    const viaEntries = [...client.entries()];
    const m = expectSeededState(kind, viaEntries);
    const viaAsync: Array<[Uint8Array, Uint8Array]> = [];
    for await (const pair of client.entries()) viaAsync.push(pair);
    expect(viaAsync.map(([k, v]) => hex(k) + hex(v)).sort()).toEqual(viaEntries.map(([k, v]) => hex(k) + hex(v)).sort());
    expect(last.size).toBe(viaEntries.length);
    for (const [k, { value, batch }] of seededKeys(kind, m + 3)) {
      const got = client.get(Buffer.from(k, "hex"));
      if (batch <= m) expect(got === undefined ? undefined : hex(got)).toBe(value);
      else expect(got).toBeUndefined();
    }
    expect(client.get(new Uint8Array(32).fill(0xee))).toBeUndefined();

    // Reads during the second sync returned the first sync's state, whole.
    expect(duringSecondSync).toHaveLength(1);
    const first = snapshots[0]!;
    expect(duringSecondSync[0]!.map(([k]) => hex(k)).sort()).toEqual([...first.entries()].map(([k]) => hex(k)).sort());
    expectSeededState(kind, duringSecondSync[0]!);
  });
});

test("with keepSnapshot: false, get says that no snapshot is kept", async () => {
  const server = await startServer({ db: "any", initialOps: 20, opInterval: "1h" });
  const client = new SyncClient({ server: server.addr, kind: "any", directory: tempDir(), keepSnapshot: false });
  await client.run(new AbortController().signal, { maxIterations: 1, maxConsecutiveFailures: 1 });
  await server.stop();
  expect(client.snapshot).toBeUndefined();
  expect(() => client.get(new Uint8Array(32))).toThrow(/keepSnapshot: false/);
});

test("a sync that changes nothing keeps the snapshot it had (no second copy)", async () => {
  const server = await startServer({ db: "immutable", initialOps: 50, opInterval: "1h" });
  const client = new SyncClient({ server: server.addr, kind: "immutable", directory: tempDir(), syncIntervalMs: 50 });
  const snapshots: Array<SyncedSnapshot | undefined> = [];
  client.on("synced", ({ snapshot }) => snapshots.push(snapshot));
  await client.run(new AbortController().signal, { maxIterations: 2, maxConsecutiveFailures: 1 });
  await server.stop();
  expect(snapshots).toHaveLength(2);
  expect(snapshots[1]).toBe(snapshots[0]);
  expect(snapshots[0]!.size).toBe(50);
});
