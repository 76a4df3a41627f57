/**
 * Issue 11, item 10: a client asking for more concurrent streams (`-r`) than the server's
 * per-client cap is clamped to what the server accepts, with one warning, instead of being
 * refused with RESOURCE_EXHAUSTED over and over.
 */
import { SYNCED, cleanup, spawnClient, startServer } from "../production/helpers";
import { metricSum, metricsAddr, scrape } from "../helpers/scale-out";

jest.setTimeout(60_000);
afterAll(cleanup);

test("-r 12 against --max-streams-per-client 3: clamped with a warning, the sync completes, refusals stay few", async () => {
  const server = await startServer({ initialOps: 6000, opInterval: "1h", extra: ["--max-streams-per-client", "3"] });
  const client = spawnClient(server.addr, ["-r", "12", "-b", "20", "--target-updates", "poll", "-i", "60s"]);
  await client.waitForMsg(SYNCED, 45_000);
  const clamped = client
    .logs("the server refuses more concurrent streams from this client; using fewer (lower -r / maxOutstandingRequests to avoid this)")
    .filter((l) => l.level === 40);
  expect(clamped).toHaveLength(1);
  expect(clamped[0]!.requested).toBe(12);
  const refused = metricSum(await scrape(metricsAddr(server)), "server_error_total", { code: "RESOURCE_EXHAUSTED" });
  expect(refused).toBeLessThanOrEqual(12); // at most the first wave, not one per retry for the whole sync
  expect(await client.stop()).toEqual({ code: 0, signal: null });
});
