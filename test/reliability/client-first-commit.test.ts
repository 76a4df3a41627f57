/**
 * Issue 11, item 10: a client killed before its first durable commit says what happened on its
 * next start (not "could not be recovered: ItemPruned"), and `-r` above the server's per-client
 * stream cap is clamped with a warning instead of endless RESOURCE_EXHAUSTED.
 */
import { ANY_KIND, SyncLog } from "../../src/qmdb";
import { SYNCED, cleanup, spawnClient, startServer, tempDir } from "../production/helpers";

jest.setTimeout(60_000);
afterAll(cleanup);

const INTERRUPTED = "the previous sync was interrupted before its first durable commit, so none of it was kept";

test("deterministically: a fresh log that never committed is discarded with that reason on the next open", async () => {
  const dir = tempDir();
  const first = await SyncLog.open(ANY_KIND, dir, 5000n, 9000n); // fresh: marked unfinished
  expect(first.origin).toBe("empty");
  // "Killed": never committed nor closed. The next open (same process: the lock is shared) sees the marker.
  const again = await SyncLog.open(ANY_KIND, dir, 5000n, 9000n);
  expect({ origin: again.origin, reason: again.reason }).toEqual({ origin: "replaced", reason: INTERRUPTED });
  await again.close();
  void first;
});

test.each(["any", "immutable"] as const)(
  "--db %s: SIGKILLed early in its first sync, the next start never reports an unrecoverable log, and syncs",
  async (db) => {
    const server = await startServer({ db, initialOps: 50_000, opInterval: "1h" });
    for (const delayMs of [50, 200]) {
      const first = spawnClient(server.addr, ["--db", db, "-b", "20"]);
      await first.waitForMsg("starting sync");
      await new Promise((r) => setTimeout(r, delayMs));
      await first.stop("SIGKILL");
      const again = spawnClient(server.addr, ["--db", db, "-b", "2000", "-i", "60s"], first.dir);
      const opened = await again.waitForMsg("opened local log");
      // Depending on when the kill came: nothing was created yet, a durable commit had been made
      // (reused), or none had, and the new client says so; never "could not be recovered".
      if (opened.origin === "replaced") expect(opened.reason).toBe(INTERRUPTED);
      else expect(["empty", "reused"]).toContain(opened.origin);
      await again.waitForMsg(SYNCED, 30_000);
      await again.stop();
      // A finished sync is durable: the next start reuses it.
      const third = spawnClient(server.addr, ["--db", db, "-i", "60s"], first.dir);
      expect(await third.waitForMsg("opened local log")).toMatchObject({ origin: "reused" });
      await third.waitForMsg(SYNCED, 30_000);
      await third.stop();
    }
  },
);
