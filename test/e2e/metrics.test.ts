/**
 * End-to-end: the Prometheus endpoint of a real server process exposes requests, errors, RPC
 * latency, bytes and operations served, the committed op count, active streams and connected
 * clients, and Node's process metrics, under conventional names (unit last, counters `_total`),
 * with failure series present at zero from the start; the counters move by exactly what this test
 * did between two scrapes (nothing else talks to these servers), and a client cancelling its own
 * stream is not counted as an error.
 */
import { status } from "@grpc/grpc-js";
import { KINDS, type Kind, type ServerProcess, cleanup, collectStream, expectStatus, getTarget, startServer, syncClient } from "./harness";

jest.setTimeout(30_000);

const servers = new Map<Kind, ServerProcess>();

beforeAll(async () => {
  const started = await Promise.all(KINDS.map((db) => startServer({ db, initialOps: 50, opInterval: "20ms" })));
  KINDS.forEach((k, i) => servers.set(k, started[i]!));
});
afterAll(cleanup);

type Samples = Map<string, number>;

/** GET /metrics, parsed into `name{labels}` → value (labels as printed, in order). */
async function scrape(metricsAddr: string): Promise<{ text: string; samples: Samples }> {
  const res = await fetch(`http://${metricsAddr}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^text\/plain/);
  const text = await res.text();
  const samples: Samples = new Map();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^(\S+?(?:\{.*\})?) (\S+)$/.exec(line);
    if (m === null) throw new Error(`unparsable metrics line: ${line}`);
    samples.set(m[1]!, Number(m[2]));
  }
  return { text, samples };
}

const get = (s: Samples, key: string): number => s.get(key) ?? 0;

describe.each(KINDS)("--db %s", (kind) => {
  const server = (): ServerProcess => servers.get(kind)!;

  test("GET /metrics exposes the server's metrics and process_ metrics; other paths are 404", async () => {
    // Touch every labelled series first (a labelled counter has no sample until it is used).
    const client = syncClient(server().addr);
    const t = (await getTarget(client)).target!;
    await collectStream(client, { opCount: t.upperBound, startLoc: 0n, maxOps: 1n, batchSize: 0 });
    await expectStatus(collectStream(client, { opCount: 0n, startLoc: 0n, maxOps: 1n, batchSize: 0 }));
    await server().waitForBatches(1);
    const { text, samples } = await scrape(server().metricsAddr);
    // Counters are exposed with the `_total` suffix, units last (Prometheus naming).
    const wanted: Record<string, "counter" | "histogram" | "gauge"> = {
      server_requests_total: "counter",
      server_errors_total: "counter",
      server_added_operations_total: "counter",
      server_sent_bytes_total: "counter",
      server_served_operations_total: "counter",
      server_rpc_duration_seconds: "histogram",
      server_committed_operations: "gauge",
      server_active_streams: "gauge",
      server_connected_clients: "gauge",
    };
    const names = new Set([...samples.keys()].map((k) => k.replace(/\{.*$/, "")));
    const missing = Object.entries(wanted)
      .filter(([name, type]) => !(type === "histogram" ? names.has(`${name}_count`) && names.has(`${name}_bucket`) : names.has(name)))
      .map(([name]) => name);
    if (missing.length > 0) {
      throw new Error(
        `metrics missing: ${missing.join(", ")}; server_* series exposed: ${[...names]
          .filter((n) => n.startsWith("server_"))
          .sort()
          .join(", ")}`,
      );
    }
    for (const [name, type] of Object.entries(wanted)) {
      const typeName = type === "counter" ? name.replace(/_total$/, "(_total)?") : name;
      expect(text).toMatch(new RegExp(`^# TYPE ${typeName} ${type}$`, "m"));
    }
    expect([...samples.keys()].some((k) => k.startsWith("process_cpu_user_seconds_total"))).toBe(true);
    expect([...samples.keys()].some((k) => k.startsWith("process_resident_memory_bytes"))).toBe(true);
    expect(get(samples, "server_committed_operations")).toBeGreaterThan(0);
    expect((await fetch(`http://${server().metricsAddr}/nope`)).status).toBe(404);
  });

  test("counters increase by exactly the requests made, ops added and operations served", async () => {
    const client = syncClient(server().addr);
    const before = (await scrape(server().metricsAddr)).samples;
    const addedLinesBefore = server().logs("added operations").length;

    for (let i = 0; i < 3; i++) await getTarget(client);
    const t = (await getTarget(client)).target!; // 4th GetSyncTarget
    const streamed = await collectStream(client, { opCount: t.upperBound, startLoc: 0n, maxOps: 25n, batchSize: 10 });
    const bad = await expectStatus(collectStream(client, { opCount: t.upperBound, startLoc: 0n, maxOps: 0n, batchSize: 0 }));
    expect(bad.code).toBe(status.INVALID_ARGUMENT);
    await server().waitForBatches(addedLinesBefore + 1); // at least one more batch lands

    const after = (await scrape(server().metricsAddr)).samples;
    const delta = (key: string): number => get(after, key) - get(before, key);
    expect(delta('server_requests_total{method="GetSyncTarget"}')).toBe(4);
    expect(delta('server_requests_total{method="GetOperations"}')).toBe(2);
    expect(delta('server_errors_total{method="GetOperations",code="INVALID_ARGUMENT"}')).toBe(1);
    expect(delta('server_rpc_duration_seconds_count{method="GetSyncTarget",code="OK"}')).toBe(4);
    expect(delta('server_rpc_duration_seconds_count{method="GetOperations",code="OK"}')).toBe(1);
    expect(delta('server_rpc_duration_seconds_count{method="GetOperations",code="INVALID_ARGUMENT"}')).toBe(1);
    expect(delta("server_served_operations_total")).toBe(streamed.reduce((n, m) => n + m.operations.length, 0));
    expect(delta('server_sent_bytes_total{method="GetOperations"}')).toBeGreaterThan(25 * 32);
    expect(delta("server_added_operations_total")).toBeGreaterThan(0);
    expect(get(after, "server_committed_operations")).toBeGreaterThanOrEqual(Number(t.upperBound));
    expect(get(after, "server_committed_operations")).toBeGreaterThan(get(before, "server_committed_operations"));
  });
});
