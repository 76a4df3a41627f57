/**
 * Metrics that alert correctly, scraped over HTTP from real processes: failure series exist at 0
 * from the start (server and client); a client cancelling its own watch is not a server error;
 * the server reports active streams and connected clients; `--metrics-host` puts the server's
 * metrics on another address than `--host`; the client reports its last success and keeps its
 * target lag current between iterations.
 */
import { spawn } from "node:child_process";
import path from "node:path";
import { LISTENING, Proc } from "../helpers/process";
import { ROOT, type ServerProcess, cleanup, requireBuilt, serverArgs, spawnServer, startServer, syncClient, tempDir } from "./harness";

const CLIENT_BIN = path.join(ROOT, "bin/sync-client.js");

jest.setTimeout(60_000);
afterAll(cleanup);

type Samples = Map<string, number>;

async function scrape(addr: string): Promise<Samples> {
  const res = await fetch(`http://${addr}/metrics`);
  expect(res.status).toBe(200);
  const samples: Samples = new Map();
  for (const line of (await res.text()).split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^(\S+?(?:\{.*\})?) (\S+)$/.exec(line);
    if (m !== null) samples.set(m[1]!, Number(m[2]));
  }
  return samples;
}

const sum = (s: Samples, prefix: string): number => [...s].filter(([k]) => k.startsWith(prefix)).reduce((n, [, v]) => n + v, 0);
const waitMs = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await waitMs(50);
  }
}

describe("server", () => {
  let server: ServerProcess;
  beforeAll(async () => {
    // gRPC on "localhost", metrics on 127.0.0.1: the metrics address does not follow --host.
    server = await startServer({ db: "any", initialOps: 50, opInterval: "1h", extra: ["--host", "localhost", "--metrics-host", "127.0.0.1"] });
  });

  test("--metrics-host chooses the metrics address independently of --host", () => {
    const listening = server.logs("server listening and continuously adding operations")[0]!;
    expect(listening.addr).toMatch(/^localhost:\d+$/);
    expect(listening.metrics_addr).toMatch(/^127\.0\.0\.1:\d+$/);
  });

  test("failure series exist at 0 before any failure", async () => {
    const s = await scrape(server.metricsAddr);
    for (const method of ["GetSyncTarget", "GetOperations", "WatchSyncTarget"]) {
      for (const code of ["INVALID_ARGUMENT", "OUT_OF_RANGE", "RESOURCE_EXHAUSTED", "UNAVAILABLE", "INTERNAL"]) {
        expect(s.get(`server_errors_total{method="${method}",code="${code}"}`)).toBe(0);
      }
    }
    expect(s.get('server_active_streams{method="GetOperations"}')).toBe(0);
    expect(s.get('server_active_streams{method="WatchSyncTarget"}')).toBe(0);
    expect(s.get("server_connected_clients")).toBe(0);
  });

  test("an open watch counts as an active stream and a connected client; cancelling it is not an error", async () => {
    const before = await scrape(server.metricsAddr);
    const client = syncClient(server.addr);
    const call = client.watchSyncTarget({});
    call.on("error", () => {}); // the cancellation surfaces here, on the client side only
    await new Promise<void>((resolve) => call.once("data", () => resolve()));
    const open = await scrape(server.metricsAddr);
    expect(open.get('server_active_streams{method="WatchSyncTarget"}')).toBe(1);
    expect(open.get("server_connected_clients")).toBe(1);

    call.cancel();
    const key = 'server_rpc_duration_seconds_count{method="WatchSyncTarget",code="CANCELLED"}';
    await until("the cancelled watch to be recorded", async () => ((await scrape(server.metricsAddr)).get(key) ?? 0) > (before.get(key) ?? 0));
    const after = await scrape(server.metricsAddr);
    expect(sum(after, "server_errors_total")).toBe(sum(before, "server_errors_total"));
    expect(after.get('server_active_streams{method="WatchSyncTarget"}')).toBe(0);
    expect(after.get("server_connected_clients")).toBe(0);
  });
});

test("at the default log level the server writes a periodic summary, not a line per added batch", async () => {
  const server = spawnServer([...serverArgs({ db: "any", dir: tempDir(), initialOps: 20, opInterval: "30ms", opsPerInterval: 4 }), "--log-level", "info"]);
  await server.waitForMsg(LISTENING);
  const summary = await server.waitForMsg("added operations summary", 20_000);
  expect(summary.level).toBe(30); // info
  expect(summary.batches as number).toBeGreaterThan(1);
  expect(summary.operations_added).toBe((summary.batches as number) * 5); // 4 keys and a commit per batch
  const s = await scrape(server.metricsAddr);
  expect(s.get("server_added_operations_total")!).toBeGreaterThanOrEqual(summary.operations_added as number);
  expect(server.logs("added operations")).toEqual([]);
  await server.stop();
});

describe("client", () => {
  test("failure series at 0, last-success timestamp, and target lag kept current between iterations", async () => {
    const server = await startServer({ db: "any", initialOps: 200, opInterval: "20ms", opsPerInterval: 5 });
    requireBuilt();
    const args = ["-s", server.addr, "-m", "0", "-d", tempDir(), "-i", "3s", "-t", "100ms", "--log-format", "json"];
    const client = new Proc("client", spawn(process.execPath, [CLIENT_BIN, ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] }));
    const ready = await client.waitForMsg("client ready");
    const addr = ready.metrics_addr as string;
    const started = Date.now() / 1000;

    const first = await scrape(addr);
    expect(first.get('client_syncs_total{result="error"}')).toBe(0);
    for (const reason of ["bad proof", "wrong count", "wrong start", "oversize", "wrong size", "malformed"]) {
      expect(first.get(`client_proof_failures_total{reason="${reason}"}`)).toBe(0);
    }

    await client.waitForMsg("✅ sync completed successfully");
    await waitMs(300);
    const a = await scrape(addr);
    const lastSuccess = a.get("client_last_success_timestamp_seconds")!;
    expect(lastSuccess).toBeGreaterThanOrEqual(started - 1);
    expect(lastSuccess).toBeLessThanOrEqual(Date.now() / 1000 + 1);
    expect(a.get('client_syncs_total{result="success"}')).toBe(1);
    expect(a.get("client_consecutive_failures")).toBe(0);

    // Between iterations the local database stays put while the server keeps committing: the lag grows.
    await waitMs(1200);
    const b = await scrape(addr);
    expect(b.get('client_syncs_total{result="success"}')).toBe(1); // still the same pause
    expect(b.get("client_local_operations")).toBe(a.get("client_local_operations"));
    expect(b.get("client_target_lag_operations")!).toBeGreaterThan(a.get("client_target_lag_operations")!);
    expect(b.get("client_target_lag_operations")!).toBeGreaterThan(0);
    await client.stop();
    await server.stop();
  });
});
