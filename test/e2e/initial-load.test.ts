/**
 * End-to-end: the initial load (`-i N`) is made durable once, at its end. A server killed with
 * SIGKILL in the middle of it, restarted on its directory, deletes the unfinished load, loads
 * again and reaches the same root as a run that was never interrupted. SIGINT/SIGTERM during a
 * long load stop the server promptly with exit 0, never serving anything, and the next start
 * loads again from scratch.
 */
import { existsSync, readdirSync } from "node:fs";
import path from "node:path";
import { KINDS, type Kind, type ServerProcess, cleanup, serverArgs, spawnServer, startServer, tempDir } from "./harness";

jest.setTimeout(90_000);
afterAll(cleanup);

const RELOAD = "the initial load did not finish: deleting it and loading again";

/** Resolves once the load has written `blobs` MMR blobs (so it is under way, with data on disk). */
async function loadUnderWay(server: ServerProcess, dir: string, blobs = 3): Promise<void> {
  await server.waitForMsg("creating initial operations");
  const mmr = path.join(dir, "mmr_journal");
  while ((existsSync(mmr) ? readdirSync(mmr).length : 0) < blobs) {
    if (!server.running) throw new Error(`server exited during the load; ${server.tail()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test.concurrent.each(KINDS)("--db %s: SIGKILL during the initial load; the restart loads again and reaches the uninterrupted root", async (kind: Kind) => {
  const base = { db: kind, initialOps: 60_000, opInterval: "1h", extra: ["--seed", "11"] } as const;
  const dir = tempDir();
  const killed = spawnServer(serverArgs({ ...base, dir }));
  await loadUnderWay(killed, dir);
  expect(await killed.stop("SIGKILL")).toEqual({ code: null, signal: "SIGKILL" });
  expect(killed.logs("database ready")).toEqual([]); // it really died mid-load

  const [restarted, fresh] = await Promise.all([startServer({ ...base, dir }), startServer(base)]);
  expect(restarted.logs(RELOAD)).toHaveLength(1);
  expect(BigInt(restarted.logs(RELOAD)[0]!.op_count as string)).toBeGreaterThan(1n); // part of the load was on disk
  expect(restarted.logs("creating initial operations")).toHaveLength(1);
  expect(restarted.ready).toEqual(fresh.ready);
  expect(fresh.logs(RELOAD)).toEqual([]);

  // A finished load is not loaded again.
  expect(await restarted.stop()).toEqual({ code: 0, signal: null });
  const again = await startServer({ ...base, dir });
  expect(again.logs(RELOAD)).toEqual([]);
  expect(again.logs("creating initial operations")).toEqual([]);
  expect(again.ready).toEqual(fresh.ready);
  await Promise.all([again.stop(), fresh.stop()]);
});

test.concurrent.each([
  ["any", "SIGTERM"],
  ["immutable", "SIGINT"],
] as const)(
  "--db %s: %s during a long initial load exits 0 promptly without serving; the next start loads from scratch",
  async (kind: Kind, signal: NodeJS.Signals) => {
    const dir = tempDir();
    const long = spawnServer(serverArgs({ db: kind, dir, initialOps: 5_000_000, opInterval: "1h", extra: ["--seed", "12"] }));
    await loadUnderWay(long, dir);
    const sentAt = Date.now();
    const exit = await long.stop(signal);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(Date.now() - sentAt).toBeLessThan(5_000); // the whole load would take far longer
    expect(long.stderr).toBe("");
    const msgs = long.lines.map((l) => l.msg);
    expect(msgs).toContain("database closed before it was ready; bye");
    expect(msgs).not.toContain("database ready");
    expect(msgs).not.toContain("server listening and continuously adding operations");

    // Restarted with a small load (same seed): the unfinished big one is deleted, not served.
    const small = { db: kind, initialOps: 100, opInterval: "1h", extra: ["--seed", "12"] } as const;
    const [restarted, fresh] = await Promise.all([startServer({ ...small, dir }), startServer(small)]);
    expect(restarted.logs(RELOAD)).toHaveLength(1);
    expect(restarted.ready).toEqual(fresh.ready);
    await Promise.all([restarted.stop(), fresh.stop()]);
  },
);
