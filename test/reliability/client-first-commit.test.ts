/**
 * Issue 11, item 10: a client killed before its first durable commit says what happened on its
 * next start (not "could not be recovered: ItemPruned"), and `-r` above the server's per-client
 * stream cap is clamped with a warning instead of endless RESOURCE_EXHAUSTED.
 */
import { SYNCED, cleanup, spawnClient, startServer } from "../production/helpers";

jest.setTimeout(60_000);
afterAll(cleanup);

test.each(["any", "immutable"] as const)("--db %s: killed before its first durable commit, the client says so and syncs", async (db) => {
  const server = await startServer({ db, initialOps: 20_000, opInterval: "1h" });
  for (const delayMs of [150, 400]) {
    const first = spawnClient(server.addr, ["--db", db, "-b", "20"]);
    await first.waitForMsg("starting sync");
    await new Promise((r) => setTimeout(r, delayMs));
    await first.stop("SIGKILL");
    expect(first.logs(SYNCED)).toEqual([]);
    const again = spawnClient(server.addr, ["--db", db, "-b", "2000", "-i", "60s"], first.dir);
    const opened = await again.waitForMsg("opened local log");
    // Either the kill came before anything was created, or the new client says what happened.
    if (opened.origin !== "empty") expect(opened).toMatchObject({ origin: "replaced", reason: "the previous sync was interrupted before its first durable commit, so none of it was kept" });
    await again.waitForMsg(SYNCED, 30_000);
    await again.stop();
    // A finished sync is durable: the next start reuses it.
    const third = spawnClient(server.addr, ["--db", db, "-i", "60s"], first.dir);
    expect(await third.waitForMsg("opened local log")).toMatchObject({ origin: "reused" });
    await third.waitForMsg(SYNCED, 30_000);
    await third.stop();
  }
});
