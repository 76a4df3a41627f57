/**
 * Target-update lag: the time from a server commit to a client holding the new target, with the
 * target pushed (`WatchSyncTarget`) versus polled (`GetSyncTarget` every second, the seed's
 * default). Server and client run in one process so both timestamps come from the same clock.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import pino from "pino";
import { GrpcResolver } from "../src/client";
import { SyncServer } from "../src/server";

const COMMITS = 40;
const POLL_MS = 1000;

function summary(lags: number[]): string {
  const s = [...lags].sort((a, b) => a - b);
  const q = (p: number): number => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  return `${s.length} | ${q(0.5).toFixed(1)} ms | ${q(0.95).toFixed(1)} ms | ${s[s.length - 1]!.toFixed(1)} ms`;
}

export default async function watchBench(): Promise<string> {
  const dir = mkdtempSync(path.join(tmpdir(), "bench-watch-"));
  const server = await SyncServer.start({
    kind: "any",
    storageDir: dir,
    host: "127.0.0.1",
    port: 0,
    metricsHost: "127.0.0.1",
    metricsPort: 0,
    workload: { initialOps: 10, opsPerInterval: 5, intervalMs: 137 },
    logger: pino({ level: "silent" }),
  });
  const committedAt = new Map<bigint, number>();
  server.database.on("target", (t) => committedAt.set(t.upperBound, performance.now()));
  const resolver = new GrpcResolver(`127.0.0.1:${server.port}`, "any");
  try {
    // For each commit, the lag until the client holds that target or a newer one.
    let seenUpTo = server.database.target!.upperBound; // a writer always has a target
    const lagsUntil = (upper: bigint, now: number, into: number[]): void => {
      for (const [u, at] of committedAt) if (u > seenUpTo && u <= upper) into.push(now - at);
      if (upper > seenUpTo) seenUpTo = upper;
    };
    const pushed: number[] = [];
    const ac = new AbortController();
    for await (const { target } of resolver.watchSyncTarget(ac.signal)) {
      lagsUntil(target.upperBound, performance.now(), pushed);
      if (pushed.length >= COMMITS) ac.abort();
    }
    const polled: number[] = [];
    while (polled.length < COMMITS) {
      await sleep(POLL_MS);
      const { target } = await resolver.getSyncTarget();
      lagsUntil(target.upperBound, performance.now(), polled);
    }
    return [
      `Lag from a server commit to the client holding the new target (one process, loopback gRPC; the server commits every 137 ms). ` +
        `For every commit: the time until the client holds that target or a newer one. Polling asks every ${POLL_MS} ms ` +
        `(the client's default \`--target-update-interval\`), so its lag is spread over one interval.`,
      "",
      "| how | samples | median | p95 | max |",
      "|---|---:|---:|---:|---:|",
      `| pushed (\`WatchSyncTarget\`) | ${summary(pushed)} |`,
      `| polled every ${POLL_MS} ms | ${summary(polled)} |`,
    ].join("\n");
  } finally {
    resolver.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
