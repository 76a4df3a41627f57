/**
 * End-to-end sync with real `sync-server` and `sync-client` processes: fresh syncs of both kinds,
 * a client killed with SIGKILL mid-sync that resumes without refetching what it held, a target
 * that moves while syncing, and a server restarted mid-sync. Client and server roots must match.
 */
import { spawn } from "node:child_process";
import path from "node:path";
import { type LogLine, Proc } from "../helpers/process";
import { ROOT, type ServerProcess, cleanup, requireBuilt, spawnServer, serverArgs, startServer, tempDir } from "./harness";

const CLIENT_BIN = path.join(ROOT, "bin/sync-client.js");
const DONE = "✅ sync completed successfully";

function startClient(addr: string, dir: string, extra: readonly string[] = []): Proc {
  requireBuilt();
  const args = ["-s", addr, "-d", dir, "-m", "0", "--log-format", "json", ...extra];
  return new Proc("client", spawn(process.execPath, [CLIENT_BIN, ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] }));
}

/** The server's committed states it reported: op count → root (hex). */
function serverStates(server: ServerProcess): Map<string, string> {
  const states = new Map<string, string>();
  for (const l of server.lines)
    if ((l.msg === "database ready" || l.msg === "added operations") && typeof l.op_count === "string") states.set(l.op_count, l.root as string);
  return states;
}

async function appliedOps(client: Proc): Promise<number> {
  const ready = client.logs("client ready")[0];
  if (ready === undefined) return 0;
  try {
    const body = await (await fetch(`http://${ready.metrics_addr as string}/metrics`)).text();
    const m = /^client_applied_operations_total (\d+)/m.exec(body);
    return m === null ? 0 : Number(m[1]);
  } catch {
    return 0;
  }
}

async function waitForApplied(client: Proc, n: number, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while ((await appliedOps(client)) < n) {
    if (Date.now() > until) throw new Error(`client did not apply ${n} operations in time; ${client.tail()}`);
    if (!client.running) throw new Error(`client exited: ${client.tail()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const completed = (c: Proc, from = 0): Promise<LogLine> => c.waitForLog((l) => l.msg === DONE, DONE, 30_000, from);

jest.setTimeout(60_000);
afterAll(cleanup);

describe("sync-client against a live sync-server", () => {
  test.each(["any", "immutable"] as const)("fresh sync (%s): every completed sync's root equals the server's at that op count", async (db) => {
    const server = await startServer({ db, initialOps: 3000, opInterval: "50ms", opsPerInterval: 5 });
    const client = startClient(server.addr, tempDir(), ["--db", db, "-b", "100", "-i", "200ms"]);
    await completed(client);
    await client.waitForLog(() => client.logs(DONE).length >= 3, "three completed syncs", 30_000);
    await client.stop();
    const states = serverStates(server);
    for (const done of client.logs(DONE)) {
      expect(states.get(done.op_count as string)).toBe(done.root);
    }
    expect(client.logs("sync failed")).toHaveLength(0);
  });

  test("a client killed with SIGKILL mid-sync resumes from its local data and completes", async () => {
    const server = await startServer({ db: "any", initialOps: 60_000, opInterval: "1h", extra: ["--seed", "7"] });
    const dir = tempDir();
    const first = startClient(server.addr, dir, ["-b", "10"]);
    await waitForApplied(first, 25_000);
    await first.stop("SIGKILL");
    expect(first.logs(DONE)).toHaveLength(0);

    const second = startClient(server.addr, dir, ["-b", "200"]);
    const opened = await second.waitForLog((l) => l.msg === "opened local log", "opened local log");
    expect(opened.origin).toBe("reused");
    const held = BigInt(opened.local_ops as string);
    expect(held).toBeGreaterThanOrEqual(10_000n); // at least one durable commit (every 10 000 ops)
    const done = await completed(second);
    await second.stop();
    const upper = BigInt(done.op_count as string);
    expect(BigInt(done.operations_fetched as string)).toBe(upper - held);
    expect(done.root).toBe(server.ready.root);
  });

  test("the target moves while syncing: the client follows it and ends at the server's root", async () => {
    const server = await startServer({ db: "any", initialOps: 20_000, opInterval: "20ms", opsPerInterval: 5 });
    const client = startClient(server.addr, tempDir(), ["-b", "10", "-i", "10s"]);
    const done = await completed(client);
    await client.stop();
    expect(client.logs("following new target").length).toBeGreaterThan(0);
    const start = client.logs("starting sync")[0]!;
    expect(BigInt(done.op_count as string)).toBeGreaterThan(BigInt((start.target as { upper_bound: string }).upper_bound));
    expect(serverStates(server).get(done.op_count as string)).toBe(done.root);
  });

  test("the server restarts mid-sync: the client retries and completes", async () => {
    const dir = tempDir();
    const server = await startServer({ db: "any", dir, initialOps: 60_000, opInterval: "1h", extra: ["--seed", "3"] });
    const port = server.addr.split(":")[1]!;
    const client = startClient(server.addr, tempDir(), ["-b", "10"]);
    await waitForApplied(client, 5_000);
    expect((await server.stop("SIGKILL")).signal).toBe("SIGKILL");
    await new Promise((r) => setTimeout(r, 300));
    const restarted = spawnServer(serverArgs({ db: "any", dir, initialOps: 60_000, opInterval: "1h" }).map((a, i, all) => (all[i - 1] === "-p" ? port : a)));
    await restarted.waitForLog((l) => l.msg === "server listening and continuously adding operations", "restarted server listening");
    const done = await completed(client);
    await client.stop();
    expect(client.logs("retrying").length).toBeGreaterThan(0);
    expect(done.root).toBe(restarted.ready.root);
    expect(done.op_count).toBe(restarted.ready.opCount.toString());
  });
});
