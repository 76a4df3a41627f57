/**
 * Child process of the storage benchmark: opens the database in `argv[3]` (kind `argv[2]`) in a
 * fresh process, so its timing and memory are not skewed by anything the parent allocated, and
 * prints `{ seconds, bytesPerKey, activeKeys, opCount }` as JSON. Needs `--expose-gc`.
 */
import { performance } from "node:perf_hooks";
import { AnyDb } from "../src/qmdb/any";
import { ImmutableDb } from "../src/qmdb/immutable";

async function settledMemory(): Promise<number> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error("run with --expose-gc");
  for (let i = 0; i < 3; i++) {
    await new Promise((resolve) => setImmediate(resolve));
    gc();
  }
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

async function main(): Promise<void> {
  const [kind, dir] = process.argv.slice(2);
  const open = kind === "any" ? AnyDb.open : kind === "immutable" ? ImmutableDb.open : undefined;
  if (open === undefined || dir === undefined) throw new Error("usage: reopen-probe any|immutable DIR");
  await (await open(dir)).close(); // warm-up: module state and buffer pools exist before measuring
  const before = await settledMemory();
  const t = performance.now();
  const db = await open(dir);
  const seconds = (performance.now() - t) / 1000;
  const after = await settledMemory();
  console.log(JSON.stringify({ seconds, bytesPerKey: (after - before) / db.activeKeys, activeKeys: db.activeKeys, opCount: db.opCount.toString() }));
  await db.close();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
