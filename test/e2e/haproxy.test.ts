/**
 * The deployment of `deploy/haproxy/haproxy.cfg`, with real processes on 127.0.0.1: a signing
 * origin, three relays trusting its key, HAProxy (Debian package `haproxy`, installed by
 * `.ci/run`) balancing gRPC over HTTP/2 in front of them, and 16 clients that trust only the
 * origin's key syncing through HAProxy. Every client reaches roots the origin committed; one relay
 * is SIGKILLed mid-run and every client keeps completing syncs.
 */
import { spawnSync, spawn } from "node:child_process";
import { createServer, connect } from "node:net";
import path from "node:path";
import { type LogLine, type Proc as ProcType, ROOT, SERVER_BIN, SYNCED, cleanup, run, spawnClient, startServer, tempDir } from "../production/helpers";
import { Proc } from "../helpers/process";
import { ORIGIN_LOGS, committedRoots, eventually, metricSum, metricsAddr, scrape, startRelay } from "../helpers/scale-out";

jest.setTimeout(120_000);
afterAll(cleanup);

const CONFIG = path.join(ROOT, "deploy/haproxy/haproxy.cfg");
const CLIENTS = 16;

/** A port that was free a moment ago (HAProxy binds it next). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

function accepting(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect(port, "127.0.0.1");
    c.once("connect", () => {
      c.destroy();
      resolve(true);
    });
    c.once("error", () => resolve(false));
  });
}

function haproxyEnv(port: number, relays: readonly string[]): NodeJS.ProcessEnv {
  return { ...process.env, SYNC_LB_BIND: `127.0.0.1:${port}`, SYNC_RELAY_1: relays[0], SYNC_RELAY_2: relays[1], SYNC_RELAY_3: relays[2] };
}

test("16 clients through HAProxy in front of 3 relays reach the origin's roots, and keep syncing after a relay is SIGKILLed", async () => {
  const version = spawnSync("haproxy", ["-v"], { encoding: "utf8" });
  if (version.error !== undefined) throw new Error("haproxy is not installed: `apt-get install haproxy` (.ci/run does it)");

  const keyFile = path.join(tempDir("cw-key-"), "signing.key");
  const key = await run(SERVER_BIN, ["--generate-signing-key", keyFile]);
  expect(key.code).toBe(0);
  const publicKey = key.stdout.trim();
  const origin = await startServer({ initialOps: 200, opInterval: "200ms", opsPerInterval: 5, extra: ["--signing-key", keyFile, ...ORIGIN_LOGS] });
  const relays = await Promise.all([1, 2, 3].map((i) => startRelay(origin.addr, tempDir(`cw-relay${i}-`), ["--trusted-key", publicKey])));
  await Promise.all(relays.map((r) => r.waitForMsg("relay reached target")));

  const port = await freePort();
  const env = haproxyEnv(
    port,
    relays.map((r) => r.addr),
  );
  const check = spawnSync("haproxy", ["-c", "-f", CONFIG], { env, encoding: "utf8" });
  expect(`${check.stdout}${check.stderr}`).toMatch(/Configuration file is valid/);
  const haproxy = new Proc("haproxy", spawn("haproxy", ["-db", "-f", CONFIG], { env, stdio: ["ignore", "pipe", "pipe"] }));
  await eventually(async () => {
    if (!haproxy.running) throw new Error(`haproxy exited: ${haproxy.tail()}`);
    return accepting(port);
  }, "HAProxy to listen");
  const lb = `127.0.0.1:${port}`;

  const clients: ProcType[] = [];
  for (let i = 0; i < CLIENTS; i++) clients.push(spawnClient(lb, ["--trusted-key", publicKey, "-i", "300ms", "-b", "100"]));
  const synced = (c: ProcType): LogLine[] => c.logs(SYNCED);
  await eventually(() => clients.every((c) => synced(c).length >= 1), "every client's first sync", 60_000);

  // Every relay carries part of the load; then one is SIGKILLed mid-run, and every client must
  // complete two more syncs after that.
  for (const r of relays) {
    await eventually(async () => metricSum(await scrape(metricsAddr(r)), "server_served_operations_total") > 0, `${r.addr} to serve operations`);
  }
  const before = clients.map((c) => synced(c).length);
  await relays[1]!.stop("SIGKILL");
  await eventually(() => clients.every((c, i) => synced(c).length >= before[i]! + 2), "two more syncs by every client after the kill", 60_000);

  const roots = committedRoots(origin);
  for (const c of clients) {
    expect(c.running).toBe(true);
    for (const s of synced(c)) expect({ op_count: s.op_count, root: roots.get(s.op_count as string) }).toEqual({ op_count: s.op_count, root: s.root });
  }
  // The clients were served by the surviving relays (the origin is not behind HAProxy).
  expect(relays[0]!.running && relays[2]!.running).toBe(true);
  expect(haproxy.running).toBe(true);
  await Promise.all(clients.map((c) => c.stop()));
  await haproxy.stop();
});
