/**
 * End-to-end sync benchmark: a fresh client (its own process) syncs a server database of 1 M
 * `any` operations over loopback gRPC. Reports operations/s, the single-core SHA-256 rate on
 * 72-byte inputs measured in the same run, their ratio (ops/s ÷ (hashes/s ÷ 2): a verifying
 * client needs about two hashes per operation), wire bytes per operation against the 65-byte
 * encoded operation, and the client's peak RSS.
 */
import { execFileSync, spawn } from "node:child_process";
import * as crypto from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { SHA256_IMPLEMENTATION, sha256Into } from "../src/mmr";
import { AnyDb, createTestOperations } from "../src/qmdb";

const OPERATIONS = 1_000_000;
const BATCH = 1000;
const ENCODED_OP_BYTES = 65;

/** Single-core rate (hashes/s) of `hash` on 72-byte inputs (an MMR node's shape). */
function hashRate(hash: (input: Uint8Array, out: Uint8Array) => void): number {
  const input = new Uint8Array(72);
  const out = new Uint8Array(32);
  const view = new DataView(input.buffer);
  let n = 0;
  const until = performance.now() + 1500;
  const t = performance.now();
  while (performance.now() < until) {
    for (let i = 0; i < 1000; i++, n++) {
      view.setUint32(4, n);
      hash(input, out);
    }
  }
  return n / ((performance.now() - t) / 1000);
}

async function buildServerDb(dir: string): Promise<bigint> {
  const db = await AnyDb.open(dir);
  // Fresh keys, a commit every 10 000 updates (fsyncs would dominate otherwise): 1 M operations.
  for (let seed = 0n; db.opCount < BigInt(OPERATIONS); seed++) {
    for (const op of createTestOperations("any", 10_000, seed)) if (op.type === "update") db.update(op.key, op.value);
    await db.commit();
  }
  const n = db.opCount;
  await db.close();
  return n;
}

async function startServer(dir: string): Promise<{ address: string; stop: () => Promise<void> }> {
  const bin = path.join(__dirname, "..", "..", "bin", "sync-server.js");
  const child = spawn(process.execPath, [bin, "-d", dir, "-p", "0", "-m", "0", "-t", "1h", "--log-format", "json"], { stdio: ["ignore", "pipe", "inherit"] });
  const lines = createInterface({ input: child.stdout! });
  const address = await new Promise<string>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`server exited with ${code}`)));
    lines.on("line", (line) => {
      const entry = JSON.parse(line) as { msg?: string; addr?: string };
      if (entry.msg?.startsWith("server listening") === true) resolve(entry.addr!);
    });
  });
  return {
    address,
    stop: () =>
      new Promise<void>((resolve) => {
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}

export default async function syncBench(): Promise<string> {
  const root = mkdtempSync(path.join(tmpdir(), "bench-sync-"));
  try {
    const serverDir = path.join(root, "server");
    let t = performance.now();
    const ops = await buildServerDb(serverDir);
    const buildSeconds = (performance.now() - t) / 1000;
    const server = await startServer(serverDir);
    try {
      const nodeHash = (crypto as unknown as { hash: (a: string, d: Uint8Array, e: "buffer") => Buffer }).hash;
      const cryptoRate = hashRate((input, out) => out.set(nodeHash("sha256", input, "buffer")));
      const hotRate = hashRate((input, out) => sha256Into(input, out, 0));
      const hashesPerSecond = Math.max(cryptoRate, hotRate);
      t = performance.now();
      const out = execFileSync(process.execPath, [path.join(__dirname, "sync-probe.js"), "any", path.join(root, "client"), server.address, String(BATCH)], {
        encoding: "utf8",
        maxBuffer: 1 << 20,
      });
      const r = JSON.parse(out) as { seconds: number; operations: string; bytes: number; maxRssBytes: number };
      const synced = Number(r.operations);
      const opsPerSecond = synced / r.seconds;
      const ratio = opsPerSecond / (hashesPerSecond / 2);
      const bytesPerOp = r.bytes / synced;
      return [
        `A fresh client process syncs a server database of ${ops.toLocaleString("en-US")} \`any\` operations (built in ${buildSeconds.toFixed(1)} s; ` +
          `the server runs as its own process, idle) over loopback gRPC with batch size ${BATCH} and one stream at a time. ` +
          `Hash rate: single-core SHA-256 of 72-byte inputs in this run, the faster of \`crypto.hash\` ` +
          `(${(cryptoRate / 1e6).toFixed(2)} M/s) and the hot path's ${SHA256_IMPLEMENTATION} (${(hotRate / 1e6).toFixed(2)} M/s). ` +
          `Ratio = ops/s ÷ (hashes/s ÷ 2); target ≥ 0.6 (against \`crypto.hash\` alone: ${(opsPerSecond / (cryptoRate / 2)).toFixed(2)}). ` +
          `Wire bytes: gRPC response bytes received ÷ operations, against the ${ENCODED_OP_BYTES}-byte encoded operation; target ≤ 1.15×. ` +
          `Peak RSS: the client process's maxRSS; target ≤ 200 MB.`,
        "",
        "| operations synced | time | ops/s | SHA-256/s (1 core) | ratio | wire bytes/op | × encoded size | client peak RSS |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
        `| ${synced.toLocaleString("en-US")} | ${r.seconds.toFixed(2)} s | ${Math.round(opsPerSecond).toLocaleString("en-US")} | ` +
          `${Math.round(hashesPerSecond).toLocaleString("en-US")} | ${ratio.toFixed(2)} | ${bytesPerOp.toFixed(1)} | ` +
          `${(bytesPerOp / ENCODED_OP_BYTES).toFixed(3)} | ${(r.maxRssBytes / 1e6).toFixed(0)} MB |`,
      ].join("\n");
    } finally {
      await server.stop();
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
