/**
 * Issue 11, item 1: one process at a time owns a storage directory. Real processes: a second
 * server, a client and a library `AnyDb.open`/`ImmutableDb.open` on a live server's directory are
 * refused at once (exit non-zero, naming the pid) and touch nothing; a lock left by a SIGKILLed
 * server never blocks a restart; a graceful stop releases the lock.
 */
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { CLIENT_BIN, LISTENING, ROOT, SERVER_BIN, cleanup, getTarget, run, snapshot, spawnClient, startServer, stub, tempDir } from "../production/helpers";

jest.setTimeout(60_000);
afterAll(cleanup);

const inUse = (dir: string, pid: number): string => `storage directory ${dir} is in use by another process (pid ${pid})`;

/** Runs `AnyDb.open`/`ImmutableDb.open` (the built library) on `dir` in a child process; resolves with what it printed. */
function libraryOpen(kind: "any" | "immutable", dir: string): Promise<{ code: number | null; out: string }> {
  const cls = kind === "any" ? "AnyDb" : "ImmutableDb";
  const body = `require(${JSON.stringify(path.join(ROOT, "dist/src"))}).${cls}.open(${JSON.stringify(dir)})
    .then(async (db) => { await db.close(); console.log("opened"); })
    .catch((e) => { console.log(e.name + ": " + e.message); process.exitCode = 3; });`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["-e", body], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (s: string) => (out += s));
    child.once("error", reject);
    child.once("exit", (code) => resolve({ code, out: out.trim() }));
  });
}

test.each(["any", "immutable"] as const)(
  "--db %s: a second server, a client and AnyDb/ImmutableDb.open on a live server's directory are refused",
  async (db) => {
    const dir = tempDir();
    const first = await startServer({ db, dir, opInterval: "20ms" });
    const pid = first.child.pid!;
    const lock = JSON.parse(readFileSync(path.join(dir, "LOCK"), "utf8")) as { pid: number };
    expect(lock.pid).toBe(pid);
    const before = (await getTarget(stub(first.addr))).target!.upperBound;

    const started = Date.now();
    const second = await run(SERVER_BIN, ["--db", db, "-p", "0", "-m", "0", "-d", dir, "--log-format", "json"]);
    expect(second.code).toBe(1);
    expect(second.stderr).toBe(`sync-server: ${inUse(dir, pid)}\n`);
    expect(Date.now() - started).toBeLessThan(10_000); // at once, not after a timeout

    const client = await run(CLIENT_BIN, ["--db", db, "-s", first.addr, "-m", "0", "-d", dir, "--log-format", "json"]);
    expect(client.code).toBe(1);
    expect(client.stderr).toBe(`sync-client: ${inUse(dir, pid)}\n`);

    const lib = await libraryOpen(db, dir);
    expect(lib).toEqual({ code: 3, out: `DirectoryInUseError: ${inUse(dir, pid)}` });

    // The owner was not disturbed: it keeps committing and serving.
    const c = stub(first.addr);
    for (let i = 0; i < 100 && (await getTarget(c)).target!.upperBound <= before; i++) await new Promise((r) => setTimeout(r, 50));
    expect((await getTarget(c)).target!.upperBound).toBeGreaterThan(before);
    expect(first.running).toBe(true);

    // A graceful stop releases the lock; the library then opens the directory.
    expect(await first.stop()).toEqual({ code: 0, signal: null });
    expect(existsSync(path.join(dir, "LOCK"))).toBe(false);
    expect(await libraryOpen(db, dir)).toEqual({ code: 0, out: "opened" });
  },
);

test("a lock left by a SIGKILLed server never blocks a restart", async () => {
  const dir = tempDir();
  for (let i = 0; i < 3; i++) {
    const s = await startServer({ dir, opInterval: "10ms" });
    expect(existsSync(path.join(dir, "LOCK"))).toBe(true);
    expect(await s.stop("SIGKILL")).toEqual({ code: null, signal: "SIGKILL" });
    expect(existsSync(path.join(dir, "LOCK"))).toBe(true); // left behind, owner dead
  }
  const s = await startServer({ dir });
  expect(s.logs(LISTENING)).toHaveLength(1);
  expect(await s.stop()).toEqual({ code: 0, signal: null });
});

test("a running client owns its directory: a second client and a server are refused, and its files are untouched", async () => {
  const server = await startServer({ opInterval: "50ms" });
  const first = spawnClient(server.addr, ["-i", "60s"]);
  await first.waitForMsg("✅ sync completed successfully");
  const files = snapshot(first.dir);
  const pid = first.child.pid!;
  const second = await run(CLIENT_BIN, ["-s", server.addr, "-m", "0", "-d", first.dir, "--log-format", "json"]);
  expect(second.code).toBe(1);
  expect(second.stderr).toBe(`sync-client: ${inUse(first.dir, pid)}\n`);
  const srv = await run(SERVER_BIN, ["-p", "0", "-m", "0", "-d", first.dir, "--log-format", "json"]);
  expect(srv.code).toBe(1);
  expect(srv.stderr).toBe(`sync-server: ${inUse(first.dir, pid)}\n`);
  expect(snapshot(first.dir)).toEqual(files);
  // SIGKILLed, the client's lock does not keep a new client out.
  await first.stop("SIGKILL");
  const again = spawnClient(server.addr, ["-i", "60s"], first.dir);
  await again.waitForMsg("✅ sync completed successfully");
  expect(await again.stop()).toEqual({ code: 0, signal: null });
  expect(existsSync(path.join(first.dir, "LOCK"))).toBe(false);
});
