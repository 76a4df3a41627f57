/**
 * Fanout: 1, 8 and 32 fresh client processes (`sync-probe`, batch size 1000) sync a 250 k-operation
 * `any` server at once. Meanwhile a separate client asks for the target every 50 ms (latency p99),
 * and the server (the CLI in `fanout-server.ts`, its own process, restarted for each round) reports
 * its event-loop delay (perf_hooks), peak RSS, CPU time and main-thread utilization. Aggregate
 * ops/s = operations synced by all clients ÷ wall time from the first start to the last finish.
 * Every round runs twice: with the load clients at normal CPU priority, and at the lowest
 * (`nice` 19), which models clients on other hosts: on this 2-core machine 32 client processes
 * otherwise leave the server about 1/17 of the CPU.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { SCALE, buildDb, fmt, percentile, runProbe, startServer, underLoad } from "./common";

const OPS = 250_000;
const BATCH = 1000;
const ROUNDS = [1, 8, 32];
/** The load clients' niceness in each pass: normal priority, then the lowest. */
const NICENESS = [0, 19];

interface ProberResult {
  readonly samples: Array<[number, number]>;
  readonly errors: number;
}

/** Starts a child script that prints one JSON result when sent SIGTERM. */
function startChild<T>(script: string, args: string[] = []): { stop: () => Promise<T> } {
  const child = spawn(process.execPath, [path.join(__dirname, script), ...args], { stdio: ["ignore", "pipe", "inherit"] });
  const out: string[] = [];
  createInterface({ input: child.stdout! }).on("line", (l) => out.push(l));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return {
    stop: async () => {
      child.kill("SIGTERM");
      await exited;
      return JSON.parse(out.join("")) as T;
    },
  };
}

interface IdleResult {
  readonly loopDelayP99Ms: number;
}

interface Round {
  readonly clients: number;
  readonly niceness: number;
  readonly ops: number;
  readonly seconds: number;
  readonly failed: number;
  /** Why clients failed (distinct first lines of their errors). */
  readonly failures: string[];
  readonly targetP99: number;
  readonly targetMax: number;
  readonly targetErrors: number;
  readonly loopP99: number;
  readonly loopMax: number;
  readonly idleLoopP99: number;
  readonly serverRss: number;
  readonly serverCpuMs: number;
  readonly mainThreadUtilization: number;
}

async function round(root: string, serverDir: string, clients: number, niceness: number): Promise<Round> {
  // Every client connects from 127.0.0.1, which the server counts as one client: lift the
  // per-client stream cap (16) that would otherwise refuse most of 32 processes.
  const server = await startServer("any", serverDir, [], path.join(__dirname, "fanout-server.js"), ["--max-streams-per-client", "0"]);
  let prober: ReturnType<typeof startChild<ProberResult>> | undefined;
  let idle: ReturnType<typeof startChild<IdleResult>> | undefined;
  let from: number;
  let to: number;
  let results: PromiseSettledResult<Awaited<ReturnType<typeof runProbe>>>[];
  let probe: ProberResult;
  let idleLoop: IdleResult;
  let lines: string[];
  try {
    prober = startChild<ProberResult>("target-prober.js", [server.address]);
    idle = startChild<IdleResult>("fanout-idle.js");
    await new Promise((r) => setTimeout(r, 500)); // the prober is connected
    server.child.kill("SIGUSR2"); // event-loop delay from here on
    from = Date.now();
    results = await Promise.allSettled(
      Array.from({ length: clients }, (_, i) => runProbe("any", path.join(root, `client-${clients}-${i}`), server.address, BATCH, [], true, niceness)),
    );
    to = Date.now();
  } finally {
    probe = (await prober?.stop()) ?? { samples: [], errors: 0 };
    idleLoop = (await idle?.stop()) ?? { loopDelayP99Ms: NaN };
    lines = await server.stop();
  }
  const stats = JSON.parse(lines.find((l) => l.includes('"bench stats"'))!) as {
    loopDelayP99Ms: number;
    loopDelayMaxMs: number;
    maxRssBytes: number;
    cpuMs: number;
    mainThreadUtilization: number;
  };
  for (let i = 0; i < clients; i++) rmSync(path.join(root, `client-${clients}-${i}`), { recursive: true, force: true });
  const during = probe.samples.filter(([at]) => at >= from && at <= to).map(([, ms]) => ms);
  const ok = results.filter((r): r is PromiseFulfilledResult<Awaited<ReturnType<typeof runProbe>>> => r.status === "fulfilled");
  return {
    clients,
    niceness,
    ops: ok.reduce((a, r) => a + Number(r.value.operations), 0),
    seconds: (to - from) / 1000,
    failed: results.length - ok.length,
    failures: [...new Set(results.flatMap((r) => (r.status === "rejected" ? [whyFailed(r.reason)] : [])))],
    targetP99: percentile(during, 0.99),
    targetMax: Math.max(...during),
    targetErrors: probe.errors,
    loopP99: stats.loopDelayP99Ms,
    loopMax: stats.loopDelayMaxMs,
    idleLoopP99: idleLoop.loopDelayP99Ms,
    serverRss: stats.maxRssBytes,
    serverCpuMs: stats.cpuMs,
    mainThreadUtilization: stats.mainThreadUtilization,
  };
}

export default async function fanoutBench(): Promise<string> {
  const { result, conditions } = await underLoad(measure);
  return `${result}\n\n${conditions}`;
}

async function measure(): Promise<string> {
  const root = mkdtempSync(path.join(tmpdir(), "bench-fanout-"));
  try {
    const serverDir = path.join(root, "server");
    const serverOps = await buildDb("any", serverDir, OPS * SCALE);
    const rows: string[] = [];
    for (const niceness of NICENESS) {
      const rounds: Round[] = [];
      for (const n of ROUNDS) rounds.push(await round(root, serverDir, n, niceness));
      const lone = rounds[0]!.ops / rounds[0]!.seconds;
      rows.push(...rounds.map((r) => row(r, lone)));
    }
    return [
      `${ROUNDS.join(", ")} fresh client processes (\`sync-probe\`, batch size ${BATCH}) sync a ${fmt(Number(serverOps))}-operation \`any\` server ` +
        `at once, over loopback; the server (the CLI in its own process, restarted per round, \`--max-streams-per-client 0\` since every client comes from 127.0.0.1) is idle otherwise. A separate client asks ` +
        `\`GetSyncTarget\` every 50 ms during the round (latency p99 target ≤ 100 ms). Aggregate ops/s = all clients' operations ÷ wall time; ` +
        `target at 32 clients ≥ 1.0 × the lone client's (at the same priority). Event-loop delay: \`perf_hooks.monitorEventLoopDelay\` in the server during the round. ` +
        `Server CPU per op = the server process's CPU time (all threads) during the round ÷ operations synced; main thread busy = its event-loop utilization ` +
        `(\`performance.eventLoopUtilization\`), which counts time it was runnable but waiting for a core too. ` +
        `Idle process loop delay p99: the same monitor in a Node process that does nothing, run alongside (the machine's scheduling delay, ` +
        `which the server's includes).`,
      "",
      `Each round runs twice. **Client priority normal**: the load clients run at the server's priority; with ${ROUNDS.at(-1)} client processes on ` +
        `${cpus().length} cores the OS then gives the server about 1/${ROUNDS.at(-1)! / cpus().length + 1} of the CPU, and every millisecond of its work ` +
        `takes many milliseconds of wall time. **Client priority low**: the load clients run at \`nice\` ${NICENESS.at(-1)} (the prober and the server ` +
        `at normal priority), a model of a real deployment where clients run on other hosts and do not take the server's cores.`,
      "",
      "| client priority | clients | ops synced | wall time | aggregate ops/s | × lone | GetSyncTarget p99 | max | server loop delay p99 | max | idle process loop delay p99 | server CPU per op | main thread busy | server peak RSS | errors |",
      "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
      ...rows,
    ].join("\n");
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

function row(r: Round, lone: number): string {
  const agg = r.ops / r.seconds;
  const vsLone = agg / lone;
  return (
    `| ${r.niceness === 0 ? "normal" : `low (nice ${r.niceness})`} | ${r.clients} | ${fmt(r.ops)} | ${r.seconds.toFixed(1)} s | ${fmt(agg)} | ` +
    `${vsLone.toFixed(2)}${r.clients === 32 ? (vsLone >= 1 ? " ✓" : " ✗") : ""} | ` +
    `${r.targetP99.toFixed(1)} ms ${r.targetP99 <= 100 ? "✓" : "✗"} | ${r.targetMax.toFixed(1)} ms | ${r.loopP99.toFixed(1)} ms | ${r.loopMax.toFixed(1)} ms | ${r.idleLoopP99.toFixed(1)} ms | ` +
    `${r.ops > 0 ? ((r.serverCpuMs * 1000) / r.ops).toFixed(2) : "–"} µs | ${(r.mainThreadUtilization * 100).toFixed(0)} % | ` +
    `${(r.serverRss / 1e6).toFixed(0)} MB | ${r.failed} failed clients${r.failed > 0 ? ` (${r.failures.join("; ")})` : ""}, ${r.targetErrors} failed target calls |`
  );
}

/** The gist of a client process's failure: the first line of its stderr (execFile puts it after the command line). */
function whyFailed(reason: unknown): string {
  const lines = String(reason instanceof Error ? reason.message : reason)
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.length > 0 && !l.startsWith("Command failed"));
  return (lines[0] ?? "unknown").replaceAll("|", "/").slice(0, 160);
}
