/**
 * Issue 11, item 8 (client side): local corruption is handled like a root mismatch. A real
 * `sync-client` whose log has a flipped byte in the middle (or lost its leading files) wipes its
 * copy, says so at warn, and syncs again, instead of failing every iteration.
 */
import { readdirSync, rmSync } from "node:fs";
import path from "node:path";
import { SYNCED, cleanup, spawnClient, startServer } from "../production/helpers";
import { flipByte } from "../helpers/files";

jest.setTimeout(60_000);
afterAll(cleanup);

const damages: Array<[string, (dir: string) => void]> = [
  [
    "a flipped byte in the middle of the operation log",
    (dir) => flipByte(path.join(dir, "log_journal", readdirSync(path.join(dir, "log_journal")).sort()[0]!), 69 * 3000 + 7, 0x5a),
  ],
  ["deleted leading log files", (dir) => rmSync(path.join(dir, "log_journal", readdirSync(path.join(dir, "log_journal")).sort()[0]!))],
];

test.each(damages)("%s: the client wipes its copy and syncs again", async (_, damage) => {
  const server = await startServer({ initialOps: 5000, opInterval: "1h" });
  const first = spawnClient(server.addr, ["-i", "60s"]);
  await first.waitForMsg(SYNCED, 30_000);
  expect(await first.stop()).toEqual({ code: 0, signal: null });
  damage(first.dir);

  const again = spawnClient(server.addr, ["-i", "300ms"], first.dir);
  await again.waitForLog((l) => l.msg === SYNCED && l.sync_iteration === 2, "two successful iterations", 30_000);
  expect(again.logs("sync failed")).toEqual([]);
  const wiped = again.lines.filter((l) => l.level === 40 && (/wiping/.test(l.msg) || l.origin === "replaced"));
  expect(wiped.length).toBeGreaterThanOrEqual(1);
  expect(await again.stop()).toEqual({ code: 0, signal: null });
});
