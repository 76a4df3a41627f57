/**
 * Helpers of the scale-out tests: relay processes (`sync-server --upstream …`), a gRPC health
 * probe, Prometheus scraping, and the roots an origin logged as committed.
 */
import { spawn } from "node:child_process";
import path from "node:path";
import { Client, credentials } from "@grpc/grpc-js";
import { LISTENING, type LogLine, Proc } from "./process";

const ROOT = path.resolve(__dirname, "../..");
const SERVER_BIN = path.join(ROOT, "bin/sync-server.js");

/** Spawns a relay of `upstream` (comma-separated) on free ports; waits until it listens. */
export async function startRelay(upstream: string, dir: string, extra: readonly string[] = [], db: "any" | "immutable" = "any"): Promise<Proc> {
  const args = [
    "--db",
    db,
    "--upstream",
    upstream,
    "--host",
    "127.0.0.1",
    "-p",
    "0",
    "-m",
    "0",
    "-d",
    dir,
    "--shutdown-grace",
    "1s",
    "--log-format",
    "json",
    ...extra,
  ];
  const relay = new Proc("relay", spawn(process.execPath, [SERVER_BIN, ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] }));
  await relay.waitForMsg(LISTENING);
  return relay;
}

/** The metrics address a server or client logged. */
export function metricsAddr(p: Proc): string {
  const line = p.lines.find((l) => typeof l.metrics_addr === "string");
  if (line === undefined) throw new Error(`${p.name} has not logged its metrics address; ${p.tail()}`);
  return line.metrics_addr as string;
}

/** GET /metrics, as `name{labels}` → value. */
export async function scrape(addr: string): Promise<Map<string, number>> {
  const text = await (await fetch(`http://${addr}/metrics`)).text();
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line.startsWith("#") || line.trim() === "") continue;
    const at = line.lastIndexOf(" ");
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

/** The sum of a metric's series whose labels include every `label="value"` given. */
export function metricSum(metrics: Map<string, number>, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const [key, value] of metrics) {
    if (key !== name && !key.startsWith(`${name}{`)) continue;
    if (Object.entries(labels).every(([k, v]) => key.includes(`${k}="${v}"`))) sum += value;
  }
  return sum;
}

/** grpc.health.v1.Health/Check of `service`: 1 SERVING, 2 NOT_SERVING. */
export function healthStatus(addr: string, service = ""): Promise<number> {
  const client = new Client(addr, credentials.createInsecure());
  const name = Buffer.from(service, "utf8");
  const request = name.length === 0 ? Buffer.alloc(0) : Buffer.concat([Buffer.from([0x0a, name.length]), name]);
  return new Promise<number>((resolve, reject) => {
    client.makeUnaryRequest(
      "/grpc.health.v1.Health/Check",
      (b: Buffer) => b,
      (b: Buffer) => b,
      request,
      { deadline: Date.now() + 5000 },
      (err, res) => {
        client.close();
        if (err !== null || res === undefined) return reject(err ?? new Error("no response"));
        // HealthCheckResponse { status = 1 (varint) }; an absent field is UNKNOWN (0).
        resolve(res.length >= 2 && res[0] === 0x08 ? res[1]! : 0);
      },
    );
  });
}

/** Flags that make an origin log every committed batch ("added operations" is a debug line). */
export const ORIGIN_LOGS: readonly string[] = ["--log-level", "debug"];

/** op count → root (hex) of every state an origin logged as committed (start it with `ORIGIN_LOGS`). */
export function committedRoots(origin: Proc): Map<string, string> {
  const roots = new Map<string, string>();
  for (const l of origin.lines as LogLine[]) {
    if ((l.msg === "database ready" || l.msg === "added operations") && typeof l.op_count === "string" && typeof l.root === "string")
      roots.set(l.op_count, l.root);
  }
  return roots;
}

/** Polls `check` until it returns true (rejects after `timeoutMs`). */
export async function eventually(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
