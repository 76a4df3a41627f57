/**
 * Storage benchmarks for both databases: durable append+commit throughput (a commit, with its
 * fsync, every 100 operations), reopen time of a closed database holding 1 M operations, and the
 * heap and array-buffer bytes the open database keeps per active key (measured in a child process,
 * `reopen-probe.ts`, so nothing the benchmark itself allocated skews it).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { AnyDb } from "../src/qmdb/any";
import { ImmutableDb } from "../src/qmdb/immutable";
import { sha256 } from "../src/mmr";

const THROUGHPUT_OPS = 50_000;
const COMMIT_EVERY = 100;
const REOPEN_OPS = 1_000_000;

function keyOf(i: number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setFloat64(0, i);
  return sha256(b);
}

interface Writable {
  readonly opCount: bigint;
  commit(): Promise<unknown>;
  close(): Promise<void>;
}

interface KindBench {
  readonly name: string;
  open(dir: string): Promise<Writable>;
  /** Writes operation i (a fresh key). */
  write(db: Writable, i: number, ops: number): void;
}

const KINDS: KindBench[] = [
  { name: "any", open: (dir) => AnyDb.open(dir), write: (db, i, ops) => (db as AnyDb).update(keyOf(i), keyOf(i + ops)) },
  { name: "immutable", open: (dir) => ImmutableDb.open(dir), write: (db, i, ops) => (db as ImmutableDb).set(keyOf(i), keyOf(i + ops)) },
];

/** Writes `ops` operations, committing every `every`; returns the op count. */
async function fill(kind: KindBench, dir: string, ops: number, every: number): Promise<bigint> {
  const db = await kind.open(dir);
  for (let i = 0; i < ops; i++) {
    kind.write(db, i, ops);
    if ((i + 1) % every === 0) await db.commit();
  }
  await db.commit();
  const n = db.opCount;
  await db.close();
  return n;
}

/** Durable throughput (ops/s) of `kind`: fresh keys, a commit every 100 operations, in a fresh directory. */
export async function durableOpsPerSecond(kind: "any" | "immutable"): Promise<number> {
  const dir = mkdtempSync(path.join(tmpdir(), `bench-durable-${kind}-`));
  try {
    const t = performance.now();
    await fill(
      KINDS.find((k) => k.name === kind)!,
      dir,
      THROUGHPUT_OPS,
      COMMIT_EVERY,
    );
    return THROUGHPUT_OPS / ((performance.now() - t) / 1000);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export default async function storageBench(): Promise<string> {
  const rows: string[] = [];
  for (const kind of KINDS) {
    const dir = mkdtempSync(path.join(tmpdir(), `bench-${kind.name}-`));
    try {
      const t = performance.now();
      const written = await fill(kind, path.join(dir, "tp"), THROUGHPUT_OPS, COMMIT_EVERY);
      const tpSeconds = (performance.now() - t) / 1000;

      // The 1 M-operation database is filled with large commits (filling is not what is measured).
      const big = path.join(dir, "big");
      const bigOps = await fill(kind, big, REOPEN_OPS, 10_000);
      const probe = execFileSync(process.execPath, ["--expose-gc", path.join(__dirname, "reopen-probe.js"), kind.name, big], { encoding: "utf8" });
      const r = JSON.parse(probe) as { seconds: number; bytesPerKey: number; activeKeys: number; opCount: string };
      if (BigInt(r.opCount) !== bigOps) throw new Error(`reopen found ${r.opCount} ops, expected ${bigOps}`);
      rows.push(
        `| ${kind.name} | ${Math.round(THROUGHPUT_OPS / tpSeconds).toLocaleString("en-US")} | ${written} | ` +
          `${r.seconds.toFixed(2)} s | ${bigOps} | ${r.activeKeys.toLocaleString("en-US")} | ${r.bytesPerKey.toFixed(1)} |`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return [
    `Durable throughput: ${THROUGHPUT_OPS.toLocaleString("en-US")} updates (any) or sets (immutable) of fresh keys, with a commit ` +
      `(fsync of the op log) every ${COMMIT_EVERY} operations. Reopen: open a closed database of ${REOPEN_OPS.toLocaleString("en-US")} ` +
      `such operations in a fresh process (replays the log into the key index; the MMR is already on disk). Bytes per key: heap + ` +
      `array buffers retained by that open (after a warm-up open/close and forced GC), divided by the active keys.`,
    "",
    "| db | durable ops/s (commit every 100) | ops written | reopen time | ops at reopen | active keys | bytes per active key |",
    "|---|---:|---:|---:|---:|---:|---:|",
    ...rows,
  ].join("\n");
}
