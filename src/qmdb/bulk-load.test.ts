/**
 * A bulk load (commits with `durable: false`, one `sync` at the end, as the server's initial load
 * does) against the plain path (every commit durable): same roots after every commit, same files
 * byte for byte, same database when reopened. Small blobs put journal and MMR blob boundaries,
 * and a prune, at odd places.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { AnyDb } from "./any";
import { ImmutableDb } from "./immutable";
import { createAnyTestOperations, createImmutableTestOperations, testOperationCount, testOperations } from "./generator";
import type { AnyOperation, ImmutableOperation } from "./operation";
import { FaultyStorage } from "../../test/helpers/journal";
import { tempDir } from "../../test/helpers/tmp";
import { hex } from "../../test/helpers/vectors";

const OPTIONS = { logItemsPerBlob: 7, mmrItemsPerBlob: 11 };

/** Every file under `dir` (relative path → contents). */
function files(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const f of readdirSync(dir, { recursive: true, encoding: "utf8" }).sort()) {
    const p = path.join(dir, f);
    try {
      out.set(f, readFileSync(p));
    } catch {
      // a directory
    }
  }
  return out;
}

interface Loadable<Op> {
  apply(op: Op, options?: { durable?: boolean }): Promise<void>;
  root(): Uint8Array;
  readonly opCount: bigint;
  sync(): Promise<void>;
  close(): Promise<void>;
}

async function run<Op extends { type: string }>(
  db: Loadable<Op>,
  ops: readonly Op[],
  durable: boolean,
  prune: (db: Loadable<Op>) => Promise<void>,
): Promise<string[]> {
  const roots: string[] = [];
  let pruned = false;
  for (const [i, op] of ops.entries()) {
    await db.apply(op, { durable });
    if (op.type !== "commit" && op.type !== "commitFloor") continue;
    roots.push(`${db.opCount}:${hex(db.root())}`);
    if (!pruned && i >= ops.length / 2) {
      await prune(db); // right after a commit, half way
      pruned = true;
    }
  }
  if (!durable) await db.sync();
  await db.close();
  return roots;
}

describe.each([0, 1, 9, 10, 123, 1001])("bulk load of %d generated keys", (count) => {
  test("any: same roots, files and reopened state as durable commits", async () => {
    // Overwrites and deletes too, so commits raise the floor by more than one step.
    const ops: AnyOperation[] = createAnyTestOperations(count, 3n);
    for (let i = 0; i < Math.min(count, 40); i += 3)
      ops.push(i % 2 === 0 ? { type: "delete", key: (ops[i] as { key: Uint8Array }).key } : { ...(ops[i] as AnyOperation) });
    ops.push({ type: "commitFloor", metadata: undefined, floorLoc: 0n });
    const prune = async (db: Loadable<AnyOperation>): Promise<void> => (db as AnyDb).prune((db as AnyDb).inactivityFloorLoc);
    const [a, b] = [tempDir(), tempDir()];
    const durable = await run(await AnyDb.open(a, OPTIONS), ops, true, prune);
    const bulk = await run(await AnyDb.open(b, OPTIONS), ops, false, prune);
    expect(bulk).toEqual(durable);
    expect(files(b)).toEqual(files(a));
    const [ra, rb] = [await AnyDb.open(a, OPTIONS), await AnyDb.open(b, OPTIONS)];
    expect([rb.opCount, hex(rb.root()), rb.activeKeys, rb.inactivityFloorLoc]).toEqual([ra.opCount, hex(ra.root()), ra.activeKeys, ra.inactivityFloorLoc]);
    await Promise.all([ra.close(), rb.close()]);
  });

  test("immutable: same roots, files and reopened state as durable commits", async () => {
    const ops: ImmutableOperation[] = createImmutableTestOperations(count, 3n);
    const prune = async (db: Loadable<ImmutableOperation>): Promise<void> => (db as ImmutableDb).prune(db.opCount - 1n);
    const [a, b] = [tempDir(), tempDir()];
    const durable = await run(await ImmutableDb.open(a, OPTIONS), ops, true, prune);
    const bulk = await run(await ImmutableDb.open(b, OPTIONS), ops, false, prune);
    expect(bulk).toEqual(durable);
    expect(files(b)).toEqual(files(a));
    const [ra, rb] = [await ImmutableDb.open(a, OPTIONS), await ImmutableDb.open(b, OPTIONS)];
    expect([rb.opCount, hex(rb.root()), rb.activeKeys]).toEqual([ra.opCount, hex(ra.root()), ra.activeKeys]);
    await Promise.all([ra.close(), rb.close()]);
  });

  test.each(["any", "immutable"] as const)(
    "%s: a non-durable commit waits while the log's filled blobs wait for their fsync (their bytes stay in memory)",
    async (kind) => {
      const storage = new FaultyStorage(tempDir());
      // Tiny log blobs, MMR blobs too large to fill: only the log's backlog can hold the commit.
      const options = { logItemsPerBlob: 4, mmrItemsPerBlob: 100_000 };
      const db = kind === "any" ? await AnyDb.open(storage, options) : await ImmutableDb.open(storage, options);
      let release!: () => void;
      storage.holdSync = new Promise<void>((resolve) => (release = resolve));
      for (const op of testOperations(kind, 100, 5n)) {
        if (op.type === "update") (db as AnyDb).update(op.key, op.value);
        else if (op.type === "set") (db as ImmutableDb).set(op.key, op.value);
      }
      let done = false;
      const commit = db.commit(undefined, { durable: false }).then(() => (done = true));
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(done).toBe(false);
      storage.holdSync = undefined;
      release();
      await commit;
      await db.close();
    },
  );

  test("the streaming generator yields exactly createTestOperations, and testOperationCount of them", () => {
    for (const kind of ["any", "immutable"] as const) {
      const all = kind === "any" ? createAnyTestOperations(count, 9n) : createImmutableTestOperations(count, 9n);
      const streamed = [...testOperations(kind, count, 9n)];
      expect(streamed).toEqual(all);
      expect(streamed.length).toBe(testOperationCount(count));
    }
  });
});
