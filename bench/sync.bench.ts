/**
 * End-to-end sync benchmark: a fresh client process syncs from the real `sync-server` binary (its
 * own process) over loopback gRPC, batch size 1000, one stream: 1 M and 4 M `any` operations and
 * 1 M `immutable` ones. Reports ops/s, the single-core `crypto.hash` and single-hash-path SHA-256 rates
 * on 72 B measured in the same run, ratio = ops/s ÷ (crypto.hash rate ÷ 2), the client's peak
 * RSS, and (from CPU profiles of a second, profiled run of each 1 M case) where the client's and
 * the server's time went during the sync.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { SHA256_BATCH_IMPLEMENTATION, SHA256_IMPLEMENTATION } from "../src/mmr";
import {
  type ProbeResult,
  SCALE,
  type StageOf,
  buildDb,
  commonStage,
  fmt,
  hashRates,
  monotonicUs,
  profileStages,
  runProbe,
  startServer,
  underLoad,
} from "./common";

const BATCH = 1000;
const ENCODED_OP_BYTES = 65;
/** Peak RSS targets: 200 MB at 1 M operations, plus 40 B per extra live key. */
const RSS_BASE = 200e6;
const RSS_PER_EXTRA_KEY = 40;

interface Case {
  readonly kind: "any" | "immutable";
  readonly ops: number;
  /** A second, profiled run for the per-stage breakdown. */
  readonly profile: boolean;
  /** A third run with the client's default snapshot for `get`/`entries` (64 B a live key plus its table slot). */
  readonly withSnapshot: boolean;
}
const CASES: Case[] = [
  { kind: "any", ops: 1_000_000, profile: true, withSnapshot: true },
  { kind: "any", ops: 4_000_000, profile: false, withSnapshot: false },
  { kind: "immutable", ops: 1_000_000, profile: true, withSnapshot: false },
];

const NATIVE_FILE_CALLS = new Set(["fsync", "fdatasync", "open", "close", "openSync", "closeSync", "mkdir", "rename", "unlink"]);
const TRANSPORT = ["@grpc/grpc-js", "node:internal/http2", "node:net", "node:internal/stream_base_commons", "node:internal/streams"];

const CLIENT_STAGES = [
  "receive + decode",
  "verify/hash",
  "journal append",
  "index",
  "commit/fsync + file open/close",
  "idle (waiting for the server or the disk)",
  "GC",
  "other",
];
const clientStage: StageOf = (fn, url) => {
  const common = commonStage(fn, url);
  if (common === "idle") return "idle (waiting for the server or the disk)";
  if (common === "hash") return "verify/hash";
  if (common !== undefined) return common;
  if (url === "" && NATIVE_FILE_CALLS.has(fn)) return "commit/fsync + file open/close";
  if (url.includes("/src/wire/") || TRANSPORT.some((t) => url.includes(t))) return "receive + decode";
  if (url.includes("/src/journal/")) return "journal append";
  if (url.includes("/src/qmdb/key-index")) return "index";
  return undefined;
};

const SERVER_STAGES = ["read", "prove", "encode", "send", "idle", "GC", "other"];
const serverStage: StageOf = (fn, url) => {
  const common = commonStage(fn, url);
  if (common === "hash") return "prove";
  if (common !== undefined) return common;
  if (url.includes("/src/journal/")) return "read";
  if (url.includes("/src/wire/")) return "encode";
  if (TRANSPORT.some((t) => url.includes(t))) return "send";
  return undefined;
};

interface Row {
  readonly c: Case;
  readonly snapshot: boolean;
  readonly serverOps: bigint;
  readonly buildSeconds: number;
  readonly synced: number;
  readonly seconds: number;
  readonly bytes: number;
  readonly rss: number;
  readonly client?: Map<string, number>;
  readonly server?: Map<string, number>;
}

async function runCase(root: string, c: Case): Promise<Row[]> {
  const serverDir = path.join(root, `server-${c.kind}-${c.ops}`);
  const t = Date.now();
  const serverOps = await buildDb(c.kind, serverDir, c.ops * SCALE);
  const buildSeconds = (Date.now() - t) / 1000;
  const server = await startServer(c.kind, serverDir);
  let r;
  let withSnapshot;
  try {
    r = await runProbe(c.kind, path.join(root, `client-${c.kind}-${c.ops}`), server.address, BATCH, [], false);
    if (c.withSnapshot) withSnapshot = await runProbe(c.kind, path.join(root, `client-snap-${c.kind}-${c.ops}`), server.address, BATCH, [], true);
  } finally {
    await server.stop();
  }
  let client: Map<string, number> | undefined;
  let serverStages: Map<string, number> | undefined;
  if (c.profile) {
    const [cprof, sprof] = [path.join(root, `cprof-${c.kind}`), path.join(root, `sprof-${c.kind}`)];
    const profiled = await startServer(c.kind, serverDir, ["--cpu-prof", "--cpu-prof-dir", sprof]);
    const fromUs = monotonicUs();
    try {
      await runProbe(c.kind, path.join(root, `client-prof-${c.kind}`), profiled.address, BATCH, ["--cpu-prof", "--cpu-prof-dir", cprof], false);
    } finally {
      const toUs = monotonicUs();
      await profiled.stop();
      serverStages = profileStages(sprof, serverStage, { fromUs, toUs });
    }
    client = profileStages(cprof, clientStage);
  }
  const row = (p: ProbeResult, snapshot: boolean): Row => ({
    c,
    snapshot,
    serverOps,
    buildSeconds,
    synced: Number(p.operations),
    seconds: p.seconds,
    bytes: p.bytes,
    rss: p.maxRssBytes,
  });
  return [{ ...row(r, false), client, server: serverStages }, ...(withSnapshot === undefined ? [] : [row(withSnapshot, true)])];
}

function stageTable(title: string, stages: string[], rows: Row[], pick: (r: Row) => Map<string, number> | undefined): string[] {
  const profiled = rows.filter((r) => pick(r) !== undefined);
  const head = `| ${title} | ${profiled.map((r) => `${fmt(r.c.ops / 1e6)} M ${r.c.kind}`).join(" | ")} |`;
  const lines = [head, `|---|${profiled.map(() => "---:").join("|")}|`];
  for (const s of stages) {
    lines.push(
      `| ${s} | ${profiled
        .map((r) => {
          const m = pick(r)!;
          const total = [...m.values()].reduce((a, b) => a + b, 0);
          const v = m.get(s) ?? 0;
          return `${fmt(v)} ms (${((100 * v) / total).toFixed(0)} %)`;
        })
        .join(" | ")} |`,
    );
  }
  return lines;
}

export default async function syncBench(): Promise<string> {
  const { result, conditions } = await underLoad(measure);
  return `${result}\n\n${conditions}`;
}

async function measure(): Promise<string> {
  const root = mkdtempSync(path.join(tmpdir(), "bench-sync-"));
  try {
    const rows: Row[] = [];
    const rates: Array<{ crypto: number; hot: number }> = [];
    for (const c of CASES) {
      rates.push(hashRates());
      rows.push(...(await runCase(root, c)));
      rmSync(path.join(root, `server-${c.kind}-${c.ops}`), { recursive: true, force: true });
    }
    rates.push(hashRates());
    const cryptoRate = rates.reduce((a, r) => a + r.crypto, 0) / rates.length;
    const hotRate = rates.reduce((a, r) => a + r.hot, 0) / rates.length;
    const opsPerSecond = (r: Row): number => r.synced / r.seconds;
    const any1 = rows.find((r) => r.c.kind === "any" && r.c.ops === 1_000_000 && !r.snapshot)!;
    const any4 = rows.find((r) => r.c.kind === "any" && r.c.ops === 4_000_000 && !r.snapshot)!;
    const rssTarget = (r: Row): number => RSS_BASE + RSS_PER_EXTRA_KEY * Math.max(0, r.synced - 1_000_000);
    const table = rows.map((r) => {
      const ops = opsPerSecond(r);
      const ratio = ops / (cryptoRate / 2);
      const bytesPerOp = r.bytes / r.synced;
      return (
        `| ${r.c.kind}${r.snapshot ? " (default client: keeps a snapshot)" : ""} | ${fmt(Number(r.serverOps))} | ${fmt(r.synced)} | ${r.seconds.toFixed(2)} s | ${fmt(ops)} | ${ratio.toFixed(2)} ${ratio >= 2 ? "✓" : "✗"} | ` +
        `${(ops / (hotRate / 2)).toFixed(2)} | ${bytesPerOp.toFixed(1)} (×${(bytesPerOp / ENCODED_OP_BYTES).toFixed(3)}) | ` +
        `${(r.rss / 1e6).toFixed(0)} MB ${r.rss <= rssTarget(r) ? "✓" : "✗"} (≤ ${(rssTarget(r) / 1e6).toFixed(0)} MB) |`
      );
    });
    const scaling = opsPerSecond(any4) / opsPerSecond(any1);
    return [
      `A fresh client process (\`bench/sync-probe.ts\`: \`SyncClient.syncOnce\`, batch size ${BATCH}, one stream) syncs from the real ` +
        `\`sync-server\` binary (its own process, idle) over loopback gRPC. The server's database holds fresh keys (built in ` +
        `${rows.map((r) => `${r.buildSeconds.toFixed(0)} s`).join(", ")}). SHA-256 on 72 B, single core, averaged over ${rates.length} measurements ` +
        `taken between the cases: \`crypto.hash\` ${(cryptoRate / 1e6).toFixed(2)} M/s, the single-hash path's ${SHA256_IMPLEMENTATION} ` +
        `${(hotRate / 1e6).toFixed(2)} M/s (batch verification hashes through ${SHA256_BATCH_IMPLEMENTATION}, see the \`hash\` section). ` +
        `Ratio = ops/s ÷ (crypto.hash rate ÷ 2), target ≥ 2.0; the column after it divides by the single-hash path's rate instead. Peak RSS: the client process's maxRSS; target ≤ 200 MB at 1 M operations, + 40 B per extra live key. ` +
        `The client keeps no snapshot for \`get\`/\`entries\` (\`keepSnapshot: false\`) except in the row marked "default client", ` +
        `which shows that feature's cost (it holds every live key and value: about 70 B a key).`,
      "",
      "| db | server ops | synced | time | ops/s | ratio (crypto.hash) | ratio (single-hash path) | wire bytes/op | client peak RSS |",
      "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
      ...table,
      "",
      `Scaling: ops/s at 4 M ÷ ops/s at 1 M = ${scaling.toFixed(2)} (target ≥ 0.9 ${scaling >= 0.9 ? "✓" : "✗"}).`,
      "",
      "Where the time went (CPU profiles of a second, profiled run: `node --cpu-prof`; each sample is charged to the innermost " +
        "frame of a known stage; the server's profile is cut to the client's sync window). The client's idle time is spent " +
        "waiting for the next batch or for the previous commit: a commit waits for every fsync the journals queued before it " +
        "(each filled blob is fsynced before anything is written to the next one), and appends wait for it when the next commit is due:",
      "",
      ...stageTable("client stage", CLIENT_STAGES, rows, (r) => r.client),
      "",
      ...stageTable("server stage", SERVER_STAGES, rows, (r) => r.server),
    ].join("\n");
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
