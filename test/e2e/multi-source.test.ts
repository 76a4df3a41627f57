/**
 * The multi-source client as a library (`SyncClient` with several servers) against a real origin
 * process and misbehaving in-process sources: one that never answers operations requests (its
 * ranges move to another source after the stall timeout) and one that refuses connections. The
 * sync completes from the honest source, and the failovers are counted per source.
 */
import { rmSync } from "node:fs";
import { type AddressInfo, type Socket, createServer } from "node:net";
import path from "node:path";
import { ClientMetrics, MultiSourceResolver, SyncClient } from "../../src/client";
import { TargetVerifier } from "../../src/sync";
import { type LyingProxy, startSilentServer, startStaleProxy } from "../helpers/lying-proxy";
import { SERVER_BIN, cleanup, getTarget, run, startServer, stub, tempDir } from "../production/helpers";
import { ORIGIN_LOGS, committedRoots, eventually } from "../helpers/scale-out";

jest.setTimeout(60_000);

let silent: LyingProxy | undefined;
const closers: Array<() => void> = [];
afterAll(async () => {
  for (const close of closers) close();
  await silent?.close();
  await cleanup();
});

async function counter(metrics: ClientMetrics, name: string, source: string): Promise<number> {
  const m = await metrics.registry.getSingleMetric(name)!.get();
  return m.values.filter((v) => v.labels.source === source).reduce((a, v) => a + v.value, 0);
}

test("a stalled source and a dead one lose their ranges to the honest source; the sync completes", async () => {
  const origin = await startServer({ initialOps: 400, opInterval: "1s", opsPerInterval: 1, extra: ORIGIN_LOGS });
  silent = await startSilentServer(origin.addr);
  const dead = "127.0.0.1:1";
  const lines: Array<{ msg: string; source?: unknown }> = [];
  const record = (obj: object, msg: string): void => void lines.push({ ...obj, msg });
  const metrics = new ClientMetrics();
  const dir = tempDir("cw-multi-");
  const client = new SyncClient({
    server: [origin.addr, silent.addr, dead],
    kind: "any",
    directory: dir,
    fetchBatchSize: 10,
    retry: { requestTimeoutMs: 3000 }, // the stall timeout is a third of it
    metrics,
    logger: { debug: () => {}, info: record, warn: record, error: record },
  });
  const result = await client.syncOnce(1);
  const root = Buffer.from(result.database.root()).toString("hex");
  await result.database.close();

  expect(committedRoots(origin).get(result.target.upperBound.toString())).toBe(root);
  expect(silent.corrupted()).toBeGreaterThan(0); // it was asked, and stalled
  expect(await counter(metrics, "client_source_failovers_total", silent.addr)).toBeGreaterThan(0);
  expect(await counter(metrics, "client_source_failovers_total", dead)).toBeGreaterThan(0);
  expect(await counter(metrics, "client_source_received_operations_total", origin.addr)).toBeGreaterThan(0);
  expect(await counter(metrics, "client_source_received_operations_total", silent.addr)).toBe(0);
  const moved = lines.filter((l) => l.msg === "source failed a request; moving the range to another source").map((l) => l.source);
  expect(moved).toContain(silent.addr);
  expect(moved).toContain(dead);
  rmSync(dir, { recursive: true, force: true });
});

test("with trusted keys, a source that never answers does not hold up the target: the others' newest signed one is taken", async () => {
  const keyFile = path.join(tempDir("cw-key-"), "signing.key");
  const key = await run(SERVER_BIN, ["--generate-signing-key", keyFile]);
  expect(key.code).toBe(0);
  const origin = await startServer({ initialOps: 50, opInterval: "1s", extra: ["--signing-key", keyFile] });
  // Accepts TCP connections and never says a word (not even the HTTP/2 preface).
  const sockets = new Set<Socket>();
  const blackhole = createServer((socket) => void sockets.add(socket));
  closers.push(() => {
    for (const s of sockets) s.destroy();
    blackhole.close();
  });
  await new Promise<void>((resolve) => blackhole.listen(0, "127.0.0.1", resolve));
  const hole = `127.0.0.1:${(blackhole.address() as AddressInfo).port}`;
  const resolver = new MultiSourceResolver([hole, origin.addr], "any", {
    verifier: new TargetVerifier([Uint8Array.from(Buffer.from(key.stdout.trim(), "hex"))]),
    connect: { targetTimeoutMs: 600_000 }, // far beyond this test's timeout: only the grace period can end the wait
  });
  closers.push(() => resolver.close());
  const served = await resolver.getSyncTarget();
  expect(Buffer.from(served.signer).toString("hex")).toBe(key.stdout.trim());
  expect(served.target.upperBound).toBeGreaterThan(50n);
}, 30_000);

test("behind a load balancer, a validly signed but older initial target (a lagging relay) is asked for again instead of failing", async () => {
  const keyFile = path.join(tempDir("cw-key-"), "signing.key");
  const key = await run(SERVER_BIN, ["--generate-signing-key", keyFile]);
  const trustedKeys = [Uint8Array.from(Buffer.from(key.stdout.trim(), "hex"))];
  const origin = await startServer({ initialOps: 50, opInterval: "100ms", extra: ["--signing-key", keyFile] });
  const stale = await getTarget(stub(origin.addr));
  await eventually(async () => (await getTarget(stub(origin.addr))).target!.upperBound > stale.target!.upperBound, "the origin to move on");
  const dir = tempDir("cw-stale-");
  const lines: string[] = [];
  const logger = { debug: () => {}, info: (_: object, msg: string) => void lines.push(msg), warn: () => {}, error: () => {} };
  const direct = await new SyncClient({ server: origin.addr, kind: "any", directory: dir, trustedKeys }).syncOnce(1);
  await direct.database.close();
  expect(direct.target.upperBound).toBeGreaterThan(stale.target!.upperBound);

  // Two stale answers, then the origin's current target.
  const lagging = await startStaleProxy(origin.addr, stale, 2);
  closers.push(() => void lagging.close());
  const viaProxy = await new SyncClient({ server: lagging.addr, kind: "any", directory: dir, trustedKeys, logger }).syncOnce(2);
  await viaProxy.database.close();
  expect(viaProxy.target.upperBound).toBeGreaterThanOrEqual(direct.target.upperBound);
  expect(lines.filter((m) => m === "target older than the one already synced (a lagging relay?); asking again")).toHaveLength(2);
});
