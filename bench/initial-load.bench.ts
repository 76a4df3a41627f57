/**
 * Initial load: the real `sync-server` binary with `-i 1000000` (a new directory, a fixed seed)
 * from spawn until it logs "database ready", next to the storage layer's durable write rate
 * (fresh keys, a commit every 100 operations) measured in the same run.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { SCALE, fmt, underLoad } from "./common";
import { durableOpsPerSecond } from "./storage.bench";

const KEYS = 1_000_000;
const TARGET_SECONDS = 30;

/** Spawns the server; resolves with seconds until "database ready" (from spawn, from the load's start) and the op count. */
function loadOnce(kind: "any" | "immutable", keys: number, dir: string): Promise<{ seconds: number; loadSeconds: number; opCount: number }> {
  const bin = path.join(__dirname, "..", "..", "bin", "sync-server.js");
  const started = performance.now();
  const child = spawn(
    process.execPath,
    [bin, "--db", kind, "-i", String(keys), "--seed", "1", "-d", dir, "-p", "0", "-m", "0", "-t", "1h", "--log-format", "json"],
    {
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  return new Promise((resolve, reject) => {
    let loadFrom = started;
    let ready: { seconds: number; loadSeconds: number; opCount: number } | undefined;
    child.once("exit", (code) => {
      if (ready === undefined) return reject(new Error(`server exited with ${code} before it was ready`));
      resolve(ready);
    });
    createInterface({ input: child.stdout! }).on("line", (line) => {
      const entry = JSON.parse(line) as { msg?: string; op_count?: string };
      if (entry.msg === "creating initial operations") loadFrom = performance.now();
      if (entry.msg === "database ready") {
        const now = performance.now();
        ready = { seconds: (now - started) / 1000, loadSeconds: (now - loadFrom) / 1000, opCount: Number(entry.op_count) };
        child.kill("SIGTERM");
      }
    });
  });
}

export default async function initialLoadBench(): Promise<string> {
  const { result, conditions } = await underLoad(measure);
  return `${result}\n\n${conditions}`;
}

async function measure(): Promise<string> {
  const keys = Math.round(KEYS * SCALE);
  const rows: string[] = [];
  for (const kind of ["any", "immutable"] as const) {
    const durable = await durableOpsPerSecond(kind);
    const dir = mkdtempSync(path.join(tmpdir(), `bench-load-${kind}-`));
    try {
      const r = await loadOnce(kind, keys, dir);
      const rate = r.opCount / r.loadSeconds;
      rows.push(
        `| ${kind} | ${fmt(r.opCount)} | ${r.seconds.toFixed(1)} s ${r.seconds <= TARGET_SECONDS ? "✓" : "✗"} | ${r.loadSeconds.toFixed(1)} s | ${fmt(rate)} | ` +
          `${fmt(durable)} | ${(rate / durable).toFixed(2)} ${rate >= durable ? "✓" : "✗"} |`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return [
    `\`sync-server --db KIND -i ${fmt(keys)} --seed 1 -d NEW_DIR\` (the real binary), from spawn until it logs "database ready" ` +
      `(target ≤ ${TARGET_SECONDS} s for \`any\`); the load itself runs from "creating initial operations" to "database ready". ` +
      `Its ops/s (operations in the database ÷ load time) next to the storage layer's durable rate measured just before it ` +
      `(fresh keys, a commit with its fsync every 100 operations; target ≥ 1×). The load makes its commits durable once, at the end.`,
    "",
    "| db | ops in the database | spawn → ready | load | load ops/s | storage durable ops/s | load ÷ durable |",
    "|---|---:|---:|---:|---:|---:|---:|",
    ...rows,
  ].join("\n");
}
