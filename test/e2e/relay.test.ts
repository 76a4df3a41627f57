/**
 * Scale-out with real processes: a signing origin, a chain origin → relay → relay, and clients.
 * A client of the last relay that trusts only the origin's key reaches roots the origin
 * committed (targets are passed on verbatim, signature and signer); a relay restarted on its
 * directory serves its last reached target at once and resumes from it; a relay of a lying
 * upstream (every batch with a flipped operation byte) serves nothing and names the liar; a
 * multi-source client completes despite a lying source and names it, and with two honest
 * sources takes work from both (per-source metrics). Generator flags are refused with --upstream.
 */
import path from "node:path";
import { type ServiceError, status } from "@grpc/grpc-js";
import {
  type LogLine,
  type Proc,
  SERVER_BIN,
  SYNCED,
  cleanup,
  getTarget,
  hex,
  makePki,
  rejection,
  run,
  spawnClient,
  startServer,
  stub,
  tempDir,
} from "../production/helpers";
import type { GetOperationsRequest, SyncServiceClient } from "../../gen/commonware/sync/v1/sync";
import { type LyingProxy, startLyingProxy } from "../helpers/lying-proxy";
import { ORIGIN_LOGS, committedRoots, eventually, healthStatus, metricSum, metricsAddr, scrape, startRelay } from "../helpers/scale-out";

jest.setTimeout(60_000);

const REACHED = "relay reached target";
const EXCLUDED = "source sent invalid data; excluding it";

let publicKey: string;
let origin: Proc;
let relay1: Proc;
let relay1Dir: string;
let relay2: Proc;
let liar: LyingProxy | undefined;

beforeAll(async () => {
  const keyFile = path.join(tempDir("cw-key-"), "signing.key");
  const r = await run(SERVER_BIN, ["--generate-signing-key", keyFile]);
  expect(r.code).toBe(0);
  publicKey = r.stdout.trim();
  origin = await startServer({ initialOps: 300, opInterval: "100ms", opsPerInterval: 5, extra: ["--signing-key", keyFile, ...ORIGIN_LOGS] });
  relay1Dir = tempDir("cw-relay1-");
  relay1 = await startRelay(origin.addr, relay1Dir, ["--trusted-key", publicKey]);
  // The second relay trusts nobody: it passes on whatever its upstream signed.
  relay2 = await startRelay(relay1.addr, tempDir("cw-relay2-"));
});

afterAll(async () => {
  await liar?.close();
  await cleanup();
});

/** Reads a whole GetOperations stream (rejects with the status on failure). */
function collect(c: SyncServiceClient, req: GetOperationsRequest): Promise<number> {
  return new Promise((resolve, reject) => {
    let messages = 0;
    const call = c.getOperations(req);
    call.on("data", () => messages++);
    call.on("error", reject);
    call.on("end", () => resolve(messages));
  });
}

/** Waits for a client's first successful sync and checks its root is one the origin committed. */
async function expectOriginRoot(client: Proc): Promise<LogLine> {
  const synced = await client.waitForLog((l) => l.msg === SYNCED, "a completed sync", 30_000);
  const roots = committedRoots(origin);
  expect(roots.get(synced.op_count as string)).toBe(synced.root);
  return synced;
}

test("origin → relay → relay: a client of the last relay trusting only the origin's key reaches the origin's roots", async () => {
  await relay2.waitForMsg(REACHED);
  const served = await getTarget(stub(relay2.addr));
  expect(hex(served.signer)).toBe(publicKey); // passed on verbatim by both relays
  expect(served.signature.length).toBe(64);
  expect(committedRoots(origin).get(served.target!.upperBound.toString())).toBe(hex(served.target!.root));

  // An op count the relay has not reached yet may come soon: UNAVAILABLE (retry), not OUT_OF_RANGE.
  const ahead = served.target!.upperBound + 100_000n;
  const notYet: ServiceError = await rejection(collect(stub(relay2.addr), { opCount: ahead, startLoc: 0n, maxOps: 1n, batchSize: 1 }));
  expect(notYet.code).toBe(status.UNAVAILABLE);
  expect(notYet.details).toMatch(/beyond the op count \d+ this relay has reached/);

  const client = spawnClient(relay2.addr, ["--trusted-key", publicKey, "-b", "20"]);
  await expectOriginRoot(client);
  expect(client.lines.filter((l) => l.msg === "sync failed")).toEqual([]);
  // Later iterations follow the relays as they move on.
  const second = await client.waitForLog((l) => l.msg === SYNCED && l.sync_iteration === 2, "a second sync", 30_000);
  expect(committedRoots(origin).get(second.op_count as string)).toBe(second.root);
  await client.stop();

  expect(await healthStatus(relay2.addr)).toBe(1);
  const m = await scrape(metricsAddr(relay2));
  expect(metricSum(m, "relay_served_operations")).toBeGreaterThan(300);
  expect(metricSum(m, "relay_upstream_operations")).toBeGreaterThanOrEqual(metricSum(m, "relay_served_operations"));
  expect(metricSum(m, "relay_behind_operations")).toBeGreaterThanOrEqual(0);
  expect(m.has("relay_behind_seconds")).toBe(true);
  expect(metricSum(m, "relay_reached_targets_total")).toBeGreaterThan(1);
  expect(metricSum(m, "relay_source_received_operations_total", { source: relay1.addr })).toBeGreaterThan(300);
});

test("a relay restarted on its directory serves its last reached target at once and resumes from it", async () => {
  await relay1.waitForMsg(REACHED);
  await relay1.stop("SIGKILL");
  const reachedBefore = relay1.logs(REACHED).map((l) => BigInt(l.op_count as string));
  const lastBefore = reachedBefore[reachedBefore.length - 1]!;

  relay1 = await startRelay(origin.addr, relay1Dir, ["--trusted-key", publicKey]);
  const resumed = await relay1.waitForMsg("relay resumes from the target it last reached");
  expect(BigInt(resumed.op_count as string)).toBe(lastBefore);
  // Served before any new sync: health and the target are there from the start.
  const served = await getTarget(stub(relay1.addr));
  expect(served.target!.upperBound).toBeGreaterThanOrEqual(lastBefore);
  expect(await healthStatus(relay1.addr)).toBe(1);
  // Resumed, not restarted: the next target needs only the operations added since.
  const next = await relay1.waitForMsg(REACHED);
  expect(BigInt(next.operations_fetched as string)).toBeLessThan(BigInt(next.op_count as string) - lastBefore + 50n);
  expect(BigInt(next.op_count as string) - BigInt(next.operations_fetched as string)).toBeGreaterThanOrEqual(lastBefore);
  expect(relay1.lines.filter((l) => l.msg === "relay opened its local log")).toEqual([]);
});

test("several sources: with --trusted-key the newest validly signed target wins; without, the first source's", async () => {
  // relay2's upstream (the first relay1 process) was SIGKILLed above: it keeps serving its last target.
  const frozen = (await getTarget(stub(relay2.addr))).target!.upperBound;
  await eventually(async () => (await getTarget(stub(origin.addr))).target!.upperBound > frozen, "the origin to move past the frozen relay");
  const sources = `${relay2.addr},${origin.addr}`;
  const firstTarget = async (extra: string[]): Promise<bigint> => {
    const client = spawnClient(sources, extra);
    const start = await client.waitForMsg("starting sync");
    await client.stop();
    return BigInt((start.target as { upper_bound: string }).upper_bound);
  };
  expect(await firstTarget(["--trusted-key", publicKey])).toBeGreaterThan(frozen);
  expect(await firstTarget([])).toBe(frozen);
});

test("a relay of a lying upstream serves nothing and names the liar", async () => {
  liar = await startLyingProxy(origin.addr);
  const relay = await startRelay(liar.addr, tempDir("cw-relay-liar-"));
  const excluded = await relay.waitForLog((l) => l.msg === EXCLUDED, "the liar's exclusion", 20_000);
  expect(excluded.source).toBe(liar.addr);
  expect(excluded.reason).toBe("bad proof");
  expect(liar.corrupted()).toBeGreaterThan(0);

  expect(relay.logs(REACHED)).toEqual([]);
  expect(await healthStatus(relay.addr)).toBe(2);
  expect(await healthStatus(relay.addr, "commonware.sync.v1.SyncService")).toBe(2);
  const err: ServiceError = await rejection(getTarget(stub(relay.addr)));
  expect(err.code).toBe(status.UNAVAILABLE);
  expect(err.details).toMatch(/not reached a target/);
  const m = await scrape(metricsAddr(relay));
  expect(metricSum(m, "relay_source_invalid_batches_total", { source: liar.addr, reason: "bad proof" })).toBeGreaterThan(0);
  expect(metricSum(m, "relay_served_operations")).toBe(0);
  await relay.stop("SIGKILL");
});

test("a relay trusting another key than the origin's says so (once, naming the upstream) and serves nothing", async () => {
  const otherKey = (await run(SERVER_BIN, ["--generate-signing-key", path.join(tempDir("cw-key-other-"), "k")])).stdout.trim();
  const relay = await startRelay(origin.addr, tempDir("cw-relay-wrong-key-"), ["--trusted-key", otherKey]);
  const refused = await relay.waitForLog((l) => l.msg === "ignoring the targets this source pushes", "the refusal", 20_000);
  expect(refused.source).toBe(origin.addr);
  expect(refused.err).toMatch(new RegExp(`signed by ${publicKey}, which is not a trusted key`));
  // The origin commits every 100 ms: still one line, not one per target.
  await new Promise((r) => setTimeout(r, 1500));
  expect(relay.logs("ignoring the targets this source pushes")).toHaveLength(1);
  expect(relay.logs(REACHED)).toEqual([]);
  expect(await healthStatus(relay.addr)).toBe(2);
  await relay.stop("SIGKILL");
});

test("multi-source client: one lying source and one honest: completes, names the liar and why", async () => {
  liar ??= await startLyingProxy(origin.addr);
  // The liar is listed first: it gets the first request, and (no trusted key) provides the target.
  const client = spawnClient(`${liar.addr},${origin.addr}`, ["-b", "10"]);
  await expectOriginRoot(client);
  const excluded = client.logs(EXCLUDED);
  expect(excluded.length).toBeGreaterThan(0);
  expect(excluded[0]!.source).toBe(liar.addr);
  expect(excluded[0]!.reason).toBe("bad proof");
  expect(excluded[0]!.err).toMatch(/bad proof: operations \[\d+, \d+\)/);
  const m = await scrape(metricsAddr(client));
  expect(metricSum(m, "client_source_invalid_batches_total", { source: liar.addr })).toBeGreaterThan(0);
  expect(metricSum(m, "client_source_invalid_batches_total", { source: origin.addr })).toBe(0);
  await client.stop();
});

test("multi-source client with two honest sources takes work from both (per-source metric)", async () => {
  const relay3 = await startRelay(origin.addr, tempDir("cw-relay3-"), ["--trusted-key", publicKey]);
  await relay3.waitForMsg(REACHED);
  const sources = [relay1.addr, relay3.addr];
  const client = spawnClient(sources.join(","), ["-b", "10", "--trusted-key", publicKey]);
  await expectOriginRoot(client);
  await eventually(async () => {
    const m = await scrape(metricsAddr(client));
    return sources.every((source) => metricSum(m, "client_source_received_operations_total", { source }) > 0);
  }, "operations from both sources");
  const m = await scrape(metricsAddr(client));
  expect(metricSum(m, "client_source_invalid_batches_total")).toBe(0);
  await client.stop();
});

test("immutable: a relay of an immutable origin serves clients the origin's roots", async () => {
  const immutableOrigin = await startServer({ db: "immutable", initialOps: 200, opInterval: "100ms", extra: ORIGIN_LOGS });
  const relay = await startRelay(immutableOrigin.addr, tempDir("cw-relay-imm-"), [], "immutable");
  await relay.waitForMsg(REACHED);
  const client = spawnClient(relay.addr, ["--db", "immutable"]);
  const synced = await client.waitForLog((l) => l.msg === SYNCED, "a completed sync", 30_000);
  expect(committedRoots(immutableOrigin).get(synced.op_count as string)).toBe(synced.root);
  await client.stop();
  await relay.stop();
  await immutableOrigin.stop();
});

test("a relay reaches a mutual-TLS origin with --upstream-tls-ca/--upstream-tls-cert/--upstream-tls-key, and not without its certificate", async () => {
  const pki = makePki();
  const tlsOrigin = await startServer({ extra: ["--tls-cert", pki.serverCert, "--tls-key", pki.serverKey, "--tls-client-ca", pki.ca] });
  const upstream = `localhost:${tlsOrigin.addr.split(":")[1]}`;
  const relay = await startRelay(upstream, tempDir("cw-relay-tls-"), [
    "--upstream-tls-ca",
    pki.ca,
    "--upstream-tls-cert",
    pki.clientCert,
    "--upstream-tls-key",
    pki.clientKey,
  ]);
  await relay.waitForMsg(REACHED);
  expect(await healthStatus(relay.addr)).toBe(1);
  const refused = await startRelay(upstream, tempDir("cw-relay-notls-"), ["--upstream-tls-ca", pki.ca]);
  const warned = await refused.waitForMsg("cannot get a target from the upstream");
  expect(warned.err).toMatch(/UNAVAILABLE/);
  expect(refused.logs(REACHED)).toEqual([]);
  expect(await healthStatus(refused.addr)).toBe(2);
  await Promise.all([relay.stop(), refused.stop("SIGKILL")]);
  await tlsOrigin.stop();
});

test.each([
  [["-i", "5"], /-i\/--initial-ops cannot be used with --upstream/],
  [["--ops-per-interval", "3"], /-o\/--ops-per-interval cannot be used with --upstream/],
  [["-t", "1s"], /-t\/--op-interval cannot be used with --upstream/],
  [["--seed=7"], /--seed cannot be used with --upstream/],
  [["--signing-key", "00".repeat(32)], /--signing-key cannot be used with --upstream/],
])("sync-server --upstream refuses generator flag %j (exit 2)", async (flag, says) => {
  const r = await run(SERVER_BIN, ["--upstream", "127.0.0.1:1", "-p", "0", "-m", "0", "-d", tempDir(), ...flag]);
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(says);
});

test("relay flags need --upstream, and upstream addresses are checked (exit 2)", async () => {
  const orphan = await run(SERVER_BIN, ["--trusted-key", "00".repeat(32), "-p", "0", "-m", "0", "-d", tempDir()]);
  expect(orphan.code).toBe(2);
  expect(orphan.stderr).toMatch(/--trusted-key needs --upstream/);
  const bad = await run(SERVER_BIN, ["--upstream", "127.0.0.1:1,nope:x", "-p", "0", "-m", "0", "-d", tempDir()]);
  expect(bad.code).toBe(2);
  expect(bad.stderr).toMatch(/--upstream: 'nope:x' has an invalid port/);
});

test("a relay whose copy cannot reach its upstream's root wipes it, is NOT_SERVING meanwhile, then SERVING again with the upstream's root", async () => {
  // Relay a first origin to its (fixed) target, then point the same directory at a second origin
  // with other operations and more of them: the kept prefix makes the final root differ.
  const dir = tempDir("cw-relay-wipe-");
  const first = await startServer({ initialOps: 300, opInterval: "1h", seed: 1 });
  const relay = await startRelay(first.addr, dir);
  await relay.waitForMsg(REACHED);
  await relay.stop();
  const second = await startServer({ initialOps: 600, opInterval: "1h", seed: 2 });
  const restarted = await startRelay(second.addr, dir);
  await restarted.waitForMsg("relay resumes from the target it last reached");

  // Health from now until the relay has reached the second origin's target and says SERVING again.
  const seen: number[] = [];
  let reached = false;
  void restarted.waitForMsg(REACHED, 30_000).then(() => (reached = true));
  while (!reached || seen[seen.length - 1] !== 1) {
    const s = await healthStatus(restarted.addr).catch(() => -1);
    if (seen[seen.length - 1] !== s) seen.push(s);
    await new Promise((r) => setTimeout(r, 20));
  }
  expect(restarted.logs("relay log does not match the verified target; wiping it and starting over")).toHaveLength(1);
  // (SERVING the first origin's target, if polled in time) → NOT_SERVING (wiped) → SERVING (reached).
  expect(seen.slice(seen.indexOf(2))).toEqual([2, 1]);
  expect(seen.every((s) => s === 1 || s === 2)).toBe(true);
  const served = await getTarget(stub(restarted.addr));
  const origin = await getTarget(stub(second.addr));
  expect(hex(served.target!.root)).toBe(hex(origin.target!.root));
  expect(await healthStatus(restarted.addr)).toBe(1);
});
