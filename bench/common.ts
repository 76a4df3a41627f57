/**
 * What the end-to-end benchmarks share: the single-core SHA-256 rates they report ratios against,
 * a database built quickly for a server to serve, the real `sync-server` binary in its own
 * process, a fresh client process, and a per-stage breakdown of a process's CPU profile.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import * as crypto from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { cpus, loadavg, setPriority } from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { sha256Into } from "../src/mmr";
import { AnyDb, ImmutableDb, createTestOperations } from "../src/qmdb";

/** Single-core rate (hashes/s) of `hash` on 72-byte inputs (an MMR node's shape). */
export function hashRate(hash: (input: Uint8Array, out: Uint8Array) => void, ms = 1500): number {
  const input = new Uint8Array(72);
  const out = new Uint8Array(32);
  const view = new DataView(input.buffer);
  let n = 0;
  const until = performance.now() + ms;
  const t = performance.now();
  while (performance.now() < until) {
    for (let i = 0; i < 1000; i++, n++) {
      view.setUint32(4, n);
      hash(input, out);
    }
  }
  return n / ((performance.now() - t) / 1000);
}

/** `crypto.hash` and the hot path's (`sha256Into`) rates on 72 B, measured now. */
export function hashRates(): { crypto: number; hot: number } {
  const nodeHash = (crypto as unknown as { hash: (a: string, d: Uint8Array, e: "buffer") => Buffer }).hash;
  return { crypto: hashRate((input, out) => out.set(nodeHash("sha256", input, "buffer"))), hot: hashRate((input, out) => sha256Into(input, out, 0)) };
}

/**
 * A database of about `ops` operations of fresh keys (a commit every 10 000, made durable once at
 * the end: building it is not what is measured). Returns its op count.
 */
export async function buildDb(kind: "any" | "immutable", dir: string, ops: number): Promise<bigint> {
  const db = kind === "any" ? await AnyDb.open(dir) : await ImmutableDb.open(dir);
  for (let seed = 0n; db.opCount < BigInt(ops); seed++) {
    for (const op of createTestOperations(kind, 10_000, seed)) {
      if (op.type === "update") (db as AnyDb).update(op.key, op.value);
      else if (op.type === "set") (db as ImmutableDb).set(op.key, op.value);
    }
    await db.commit(undefined, { durable: false });
  }
  await db.sync();
  const n = db.opCount;
  await db.close();
  return n;
}

/** A `sync-server` process. */
export interface ServerProcess {
  readonly address: string;
  readonly child: ChildProcess;
  /** SIGTERM; resolves with everything it printed on stdout after "listening" (JSON lines). */
  stop(): Promise<string[]>;
}

const BIN = path.join(__dirname, "..", "..", "bin", "sync-server.js");

/** Starts `script` (default: the real `sync-server` binary) serving `dir`, with extra node flags and server flags. */
export async function startServer(
  kind: "any" | "immutable",
  dir: string,
  nodeFlags: string[] = [],
  script = BIN,
  serverFlags: string[] = [],
): Promise<ServerProcess> {
  const args = [...nodeFlags, script, "--db", kind, "-d", dir, "-p", "0", "-m", "0", "-t", "1h", "--log-format", "json", ...serverFlags];
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
  const lines = createInterface({ input: child.stdout! });
  const after: string[] = [];
  let listening = false;
  const address = await new Promise<string>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`server exited with ${code}`)));
    lines.on("line", (line) => {
      if (listening) return void after.push(line);
      if (!line.startsWith("{")) return; // not a log line (e.g. node's --trace-gc output)
      const entry = JSON.parse(line) as { msg?: string; addr?: string };
      if (entry.msg?.startsWith("server listening") === true) {
        listening = true;
        resolve(entry.addr!);
      }
    });
  });
  return {
    address,
    child,
    stop: () =>
      new Promise<string[]>((resolve) => {
        child.once("exit", () => resolve(after));
        child.kill("SIGTERM");
      }),
  };
}

/** What `sync-probe` prints. */
export interface ProbeResult {
  readonly seconds: number;
  readonly operations: string;
  readonly bytes: number;
  readonly maxRssBytes: number;
  readonly root: string;
}

/**
 * One fresh client process syncing `kind` from `address` into `dir` (node flags first; `snapshot`
 * false: no snapshot kept; `niceness` > 0 runs it at that lower CPU priority, as `nice`).
 */
export function runProbe(
  kind: string,
  dir: string,
  address: string,
  batch: number,
  nodeFlags: string[] = [],
  snapshot = true,
  niceness = 0,
): Promise<ProbeResult> {
  const args = [...nodeFlags, path.join(__dirname, "sync-probe.js"), kind, dir, address, String(batch), snapshot ? "snapshot" : "no-snapshot"];
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, args, { encoding: "utf8", maxBuffer: 1 << 20 }, (err, out) =>
      err ? reject(err) : resolve(JSON.parse(out) as ProbeResult),
    );
    if (niceness !== 0 && child.pid !== undefined) setPriority(child.pid, niceness);
  });
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}

/** Rules naming the stage of a frame (first match wins); undefined passes the question to its caller. */
export type StageOf = (functionName: string, url: string) => string | undefined;

/**
 * Milliseconds of CPU profile samples by stage: each sample goes to the stage of its innermost
 * frame that `stageOf` names (walking up the stack), else "other". Reads the newest profile in
 * `dir`; only samples inside `window` (µs of `process.hrtime`) when given.
 */
export function profileStages(dir: string, stageOf: StageOf, window?: { fromUs: number; toUs: number }): Map<string, number> {
  const file = readdirSync(dir)
    .filter((f) => f.endsWith(".cpuprofile"))
    .sort()
    .pop();
  if (file === undefined) throw new Error(`no CPU profile in ${dir}`);
  const p = JSON.parse(readFileSync(path.join(dir, file), "utf8")) as { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; startTime: number };
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const stageOfNode = new Map<number, string>();
  const resolve = (id: number): string => {
    const known = stageOfNode.get(id);
    if (known !== undefined) return known;
    const n = byId.get(id)!;
    const own = stageOf(n.callFrame.functionName, n.callFrame.url);
    const up = parent.get(id);
    const stage = own ?? (up === undefined ? "other" : resolve(up));
    stageOfNode.set(id, stage);
    return stage;
  };
  const out = new Map<string, number>();
  let at = p.startTime; // µs on the monotonic clock, as `process.hrtime` (Linux)
  p.samples.forEach((id, i) => {
    at += p.timeDeltas[i] ?? 0;
    if (window !== undefined && (at < window.fromUs || at > window.toUs)) return;
    out.set(resolve(id), (out.get(resolve(id)) ?? 0) + (p.timeDeltas[i] ?? 0) / 1000);
  });
  return out;
}

/** Common frames: idle, GC, hashing in wasm; `undefined` for the rest. */
export function commonStage(fn: string, url: string): string | undefined {
  if (fn === "(idle)") return "idle";
  if (fn === "(garbage collector)") return "GC";
  if (fn.startsWith("wasm-function") || url.includes("/src/mmr/")) return "hash";
  return undefined;
}

/** Percentile `p` (0..1) of `values`. */
export function percentile(values: readonly number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
}

/** `n` with thousands separators. */
export const fmt = (n: number): string => Math.round(n).toLocaleString("en-US");

/** Now, in µs of the clock CPU profiles use. */
export const monotonicUs = (): number => Number(process.hrtime.bigint() / 1000n);

/** `BENCH_SCALE` (default 1) scales the benchmarks' sizes, for a quick trial run (`BENCH_SCALE=0.1`). */
export const SCALE = Number(process.env.BENCH_SCALE ?? "1");

/**
 * Measures the machine's load around `run` and returns its result with a sentence saying how busy
 * the machine was (other processes skew absolute numbers; ratios within one run compare better).
 */
export async function underLoad<T>(run: () => Promise<T>): Promise<{ result: T; conditions: string }> {
  const before = loadavg()[0]!;
  const result = await run();
  const after = loadavg()[0]!;
  return {
    result,
    conditions: `Machine load (1-minute load average, ${cpus().length} cores) ${before.toFixed(1)} at the start, ${after.toFixed(1)} at the end.`,
  };
}
