/**
 * Soak: one real `sync-server` committing every 100 ms, 16 honest `sync-client` processes that
 * follow pushed targets (`--target-updates watch`, a new sync every second), and 64 hostile
 * GetOperations streams that never read (raw HTTP/2 with a 16-byte window, 16 from each of
 * 127.0.0.2–127.0.0.5: each address's stream cap), reopened whenever the server ends one. Runs
 * 10 minutes, or `--duration <DURATION>` (e.g. `npm run bench -- soak --duration 60s`).
 *
 * Sampled every `duration / 40`: the server's RSS and open fds (/proc/<pid>; fds on storage
 * files apart from the others, since journals keep a handle per blob read and the log keeps
 * growing), its JS heap, `server_event_listeners` total, queued response bytes and open streams
 * (metrics). Reported: whether RSS, heap and non-storage fds are flat after warm-up (the first
 * quarter; last sample ≤ first + 10 %), listeners per open stream flat, the honest clients' lag
 * from a commit to a client holding it (p50/p99, pino timestamps of the same machine) and their
 * sync durations, and every warning in any log (the server's expected stalled-stream warnings
 * are counted apart).
 */
import { spawn } from "node:child_process";
import { type Dirent, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { GetOperationsRequest } from "../gen/commonware/sync/v1/sync";
import { type LogLine, LISTENING, Proc } from "../test/helpers/process";
import { RawGrpcConnection } from "../test/helpers/raw-grpc";
import { percentile } from "./common";

const ROOT = path.join(__dirname, "..", "..");
const HONEST = 16;
const HOSTILE_ADDRESSES = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"];
const HOSTILE_PER_ADDRESS = 16;
const STALLED = "ended a stream whose client stopped reading";
const SYNCED = "✅ sync completed successfully";

/** `--duration <DURATION>` from the bench command line (default 10 minutes). */
function durationMs(): number {
  const i = process.argv.indexOf("--duration");
  if (i < 0) return 10 * 60_000;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(process.argv[i + 1] ?? "");
  if (m === null) throw new Error(`--duration: expected e.g. 60s or 10m, got '${process.argv[i + 1]}'`);
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000 }[m[2] as "ms" | "s" | "m"];
}

function spawnBin(name: string, bin: string, args: readonly string[]): Proc {
  return new Proc(name, spawn(process.execPath, [path.join(ROOT, "bin", bin), ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] }));
}

interface Sample {
  readonly atS: number;
  readonly rssMb: number;
  readonly heapMb: number;
  readonly externalMb: number;
  /** Open descriptors on files of the storage directory (journal blobs: one per blob read, at most 32 per journal). */
  readonly storageFds: number;
  /** All other descriptors (sockets, pipes, …): what a leak would grow. */
  readonly otherFds: number;
  readonly blobs: number;
  readonly listeners: number;
  readonly queuedMb: number;
  readonly cacheMb: number;
  readonly streams: number;
  readonly stalled: number;
}

async function metrics(addr: string): Promise<Map<string, number>> {
  const text = await (await fetch(`http://${addr}/metrics`)).text();
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line.startsWith("#") || line.length === 0) continue;
    const name = line.slice(0, line.search(/[ {]/));
    out.set(name, (out.get(name) ?? 0) + Number(line.split(" ").pop()));
  }
  return out;
}

/** Keeps `perAddress` never-reading GetOperations streams open from `localAddress`, reopening ended ones. */
async function hostile(addr: string, localAddress: string, opCount: bigint, stop: AbortSignal): Promise<number> {
  const request = GetOperationsRequest.encode({ opCount, startLoc: 0n, maxOps: opCount, batchSize: 10_000 }).finish();
  let opened = 0;
  const conn = await RawGrpcConnection.connect(addr, { localAddress, initialWindowSize: 16 });
  const stopped = new Promise<undefined>((r) => stop.addEventListener("abort", () => r(undefined), { once: true }));
  const keep = async (): Promise<void> => {
    while (!stop.aborted && !conn.closed) {
      opened++;
      const call = conn.call("/commonware.sync.v1.SyncService/GetOperations", request, { read: false });
      const ended = await Promise.race([call.ended, stopped]);
      if (ended !== undefined && ended.code !== undefined) await sleep(1000); // refused (slot not yet free): retry later
    }
  };
  await Promise.all(Array.from({ length: HOSTILE_PER_ADDRESS }, keep));
  conn.destroy();
  return opened;
}

const warnings = (p: Proc, except: readonly string[] = []): LogLine[] => p.lines.filter((l) => (l.level as number) >= 40 && !except.includes(l.msg));
const mb = (bytes: number): number => Math.round(bytes / 1e5) / 10;

export default async function soak(): Promise<string> {
  const duration = durationMs();
  const dir = mkdtempSync(path.join(tmpdir(), "bench-soak-"));
  const storage = path.join(dir, "server");
  const server = spawnBin("sync-server", "sync-server.js", [
    "-p",
    "0",
    "-m",
    "0",
    "-d",
    storage,
    "-i",
    "10000",
    "-t",
    "100ms",
    "-o",
    "5",
    "--log-format",
    "json",
    "--log-level",
    "debug", // per-commit "added operations" lines, for the lag
    // The honest clients all come from 127.0.0.1 and hold 2 streams each while syncing (operations
    // and the target watch): one address's default cap of 16 would throttle them.
    "--max-streams-per-client",
    String(2 * HONEST + 8),
  ]);
  const listening = await server.waitForMsg(LISTENING, 60_000);
  const addr = server.addr;
  const metricsAddr = listening.metrics_addr as string;
  const pid = server.child.pid!;
  const clients = Array.from({ length: HONEST }, (_, i) =>
    spawnBin(`sync-client-${i}`, "sync-client.js", [
      "-s",
      addr,
      "-m",
      "0",
      "-d",
      path.join(dir, `client-${i}`),
      "-i",
      "1s",
      "-b",
      "1000",
      "--target-updates",
      "watch",
      "--log-format",
      "json",
    ]),
  );
  const opCount = BigInt((server.lines.find((l) => l.msg === "database ready")!.op_count as string) ?? "1");
  const stop = new AbortController();
  const attackers = HOSTILE_ADDRESSES.map((a) => hostile(addr, a, opCount, stop.signal));

  const samples: Sample[] = [];
  const started = Date.now();
  const every = duration / 40;
  while (Date.now() - started < duration) {
    await sleep(every);
    const m = await metrics(metricsAddr);
    const targets = readdirSync(`/proc/${pid}/fd`).map((fd) => {
      try {
        return readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        return ""; // closed meanwhile
      }
    });
    const storageFds = targets.filter((t) => t.startsWith(storage)).length;
    samples.push({
      atS: Math.round((Date.now() - started) / 1000),
      rssMb: mb(Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) * 1024),
      heapMb: mb(m.get("nodejs_heap_size_used_bytes") ?? NaN),
      externalMb: mb(m.get("nodejs_external_memory_bytes") ?? NaN),
      storageFds,
      otherFds: targets.length - storageFds,
      blobs: (readdirSync(storage, { recursive: true, withFileTypes: true }) as Dirent[]).filter((e) => e.isFile()).length,
      listeners: m.get("server_event_listeners") ?? NaN,
      queuedMb: mb(m.get("server_queued_response_bytes") ?? NaN),
      cacheMb: mb(m.get("server_batch_cache_bytes") ?? NaN),
      streams: m.get("server_active_streams") ?? NaN,
      stalled: m.get("server_stalled_streams_total") ?? 0,
    });
  }
  stop.abort();
  const hostileOpened = (await Promise.all(attackers)).reduce((a, b) => a + b, 0);
  await Promise.all(clients.map((c) => c.stop()));
  await server.stop();
  rmSync(dir, { recursive: true, force: true });

  // Lag: for each commit, until the first honest client logs a completed sync at or past it.
  const commits = server.logs("added operations").map((l) => ({ at: l.time as number, ops: BigInt(l.op_count as string) }));
  const syncs = clients.flatMap((c) => c.logs(SYNCED)).map((l) => ({ at: l.time as number, ops: BigInt(l.op_count as string) }));
  syncs.sort((a, b) => a.at - b.at);
  const warm = started + duration / 4;
  const lags: number[] = [];
  for (const c of commits.filter((c) => c.at >= warm && c.at < started + duration - 5000)) {
    const hit = syncs.find((s) => s.at >= c.at && s.ops >= c.ops);
    if (hit !== undefined) lags.push(hit.at - c.at);
  }
  const durations = clients.flatMap((c) => c.logs(SYNCED)).map((l) => l.duration_ms as number);
  const clientFailures = clients.reduce((a, c) => a + c.logs("sync failed").length, 0);

  const after = samples.filter((s) => s.atS * 1000 >= duration / 4);
  const first = after[0]!;
  const last = after[after.length - 1]!;
  const rssFlat = last.rssMb <= first.rssMb * 1.1;
  const heapFlat = last.heapMb <= first.heapMb * 1.1;
  const fdsFlat = last.otherFds <= first.otherFds * 1.1;
  const storageFdsBounded = after.every((s) => s.storageFds <= s.blobs);
  // Listeners come with streams (a few per stream); flat means per open stream, whatever the mix.
  const perStream = after.map((s) => Math.round((s.listeners / Math.max(1, s.streams)) * 100) / 100);
  const listenersFlat = Math.max(...perStream) <= perStream[0]! * 1.1;
  const serverWarnings = warnings(server, [STALLED]);
  const clientWarnings = clients.flatMap((c) => warnings(c));
  const stderrWarnings = [server, ...clients].filter((p) => /warning/i.test(p.stderr)).map((p) => p.name);
  for (const l of [...serverWarnings, ...clientWarnings].slice(0, 5)) console.error("warning:", JSON.stringify(l));
  const pass = (ok: boolean): string => (ok ? "yes" : "**NO**");

  const shown = samples.filter((_, i) => i % Math.max(1, Math.floor(samples.length / 10)) === 0 || i === samples.length - 1);
  return [
    `One server (\`-i 10000 -t 100ms -o 5 --max-streams-per-client ${2 * HONEST + 8}\`, otherwise default limits: 1 MiB per stream, ` +
      `256 MiB in total, 30 s stall timeout; the cap is raised because the honest clients share 127.0.0.1), ` +
      `${HONEST} \`sync-client\` processes (\`--target-updates watch -i 1s -b 1000\`) and ${HOSTILE_ADDRESSES.length * HOSTILE_PER_ADDRESS} ` +
      `never-reading GetOperations streams (whole log, 10 000-operation batches, 16-byte HTTP/2 window, from ${HOSTILE_ADDRESSES.join(", ")}; ` +
      `each reopened when the server ends it) for ${duration / 1000} s. Warm-up: the first quarter.`,
    "",
    "| t (s) | server RSS (MB) | JS heap used (MB) | external (MB) | fds: storage / storage files / other | event listeners | queued response (MB) | batch cache (MB) | open streams | stalled streams ended |",
    "|---|---|---|---|---|---|---|---|---|---|",
    ...shown.map(
      (s) =>
        `| ${s.atS} | ${s.rssMb} | ${s.heapMb} | ${s.externalMb} | ${s.storageFds} / ${s.blobs} / ${s.otherFds} | ${s.listeners} | ${s.queuedMb} | ${s.cacheMb} | ${s.streams} | ${s.stalled} |`,
    ),
    "",
    "| check | result |",
    "|---|---|",
    `| RSS flat after warm-up (last ≤ first + 10 %) | ${pass(rssFlat)}: ${first.rssMb} → ${last.rssMb} MB |`,
    `| JS heap used flat after warm-up (last ≤ first + 10 %) | ${pass(heapFlat)}: ${first.heapMb} → ${last.heapMb} MB |`,
    `| fds other than storage files flat after warm-up (last ≤ first + 10 %) | ${pass(fdsFlat)}: ${first.otherFds} → ${last.otherFds} |`,
    `| storage fds never above the number of storage files (they follow the log's growth, at most 32 per journal) | ${pass(storageFdsBounded)}: ${first.storageFds} → ${last.storageFds} (files ${first.blobs} → ${last.blobs}) |`,
    `| event listeners per open stream flat after warm-up (max ≤ first + 10 %) | ${pass(listenersFlat)}: ${perStream[0]} → max ${Math.max(...perStream)} |`,
    `| warnings in the server log (besides ${last.stalled} expected "${STALLED}") | ${serverWarnings.length}${serverWarnings.length > 0 ? `: ${[...new Set(serverWarnings.map((l) => l.msg))].join("; ")}` : ""} |`,
    `| warnings in the clients' logs | ${clientWarnings.length}${clientWarnings.length > 0 ? `: ${[...new Set(clientWarnings.map((l) => l.msg))].join("; ")}` : ""} |`,
    `| processes with a warning on stderr (e.g. MaxListenersExceededWarning) | ${stderrWarnings.length === 0 ? "none" : stderrWarnings.join(", ")} |`,
    `| honest syncs completed / failed | ${durations.length} / ${clientFailures} |`,
    `| lag from a commit to the first client synced past it, p50 / p99 (after warm-up) | ${percentile(lags, 0.5)} / ${percentile(lags, 0.99)} ms (${lags.length} commits) |`,
    `| sync duration of an iteration, p50 / p99 | ${percentile(durations, 0.5)} / ${percentile(durations, 0.99)} ms |`,
    `| hostile streams opened | ${hostileOpened} |`,
  ].join("\n");
}
