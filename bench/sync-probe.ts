/**
 * Child process of the sync benchmark: one fresh sync of `argv[3]` (kind `argv[2]`) from the
 * server at `argv[4]` with batch size `argv[5]`, in its own process so its peak RSS is its own;
 * `argv[6]` = `no-snapshot` turns off the snapshot the client keeps for `get`/`entries` (default
 * on, as in `SyncClient`). Prints `{ seconds, operations, bytes, maxRssBytes, root }` as JSON.
 */
import { performance } from "node:perf_hooks";
import { ClientMetrics, SyncClient } from "../src/client";
import { peakRssBytes } from "./peak-rss";

async function main(): Promise<void> {
  const [kind, directory, server, batch, snapshot] = process.argv.slice(2);
  if (kind !== "any" && kind !== "immutable") throw new Error("usage: sync-probe any|immutable DIR HOST:PORT BATCH");
  const metrics = new ClientMetrics();
  const client = new SyncClient({
    server: server!,
    kind,
    directory: directory!,
    fetchBatchSize: Number(batch),
    targetUpdateIntervalMs: 3_600_000,
    metrics,
    keepSnapshot: snapshot !== "no-snapshot",
  });
  const t = performance.now();
  const result = await client.syncOnce(1);
  const seconds = (performance.now() - t) / 1000;
  const bytes = (await metrics.bytesReceived.get()).values[0]?.value ?? 0;
  console.log(
    JSON.stringify({
      seconds,
      operations: result.operationsFetched.toString(),
      bytes,
      maxRssBytes: peakRssBytes(),
      root: Buffer.from(result.target.root).toString("hex"),
    }),
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
