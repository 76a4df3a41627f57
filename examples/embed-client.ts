/**
 * Embedding the sync client in another service: keep a local `any` database in sync with a
 * sync server, react to each completed sync, and stop cleanly on SIGINT/SIGTERM.
 *
 *   npx sync-server --seed 1 &                        # a server on 127.0.0.1:8080
 *   npm run build && node dist/examples/embed-client.js 127.0.0.1:8080 /tmp/embedded-client
 */
import { AnyDb, SyncClient } from "../src";

async function main(): Promise<void> {
  const [server = "127.0.0.1:8080", directory = "/tmp/embedded-client"] = process.argv.slice(2);
  const client = new SyncClient({ server, kind: "any", directory, fetchBatchSize: 100, syncIntervalMs: 2000 });

  client.on("synced", ({ iteration, opCount, root }) => {
    console.log(`iteration ${iteration}: ${opCount} operations, root ${Buffer.from(root).toString("hex")}`);
  });
  client.on("failed", ({ iteration, error }) => console.error(`iteration ${iteration} failed: ${error.message}`));

  const stop = new AbortController();
  process.once("SIGINT", () => stop.abort());
  process.once("SIGTERM", () => stop.abort());
  // Stop after three iterations for the demo; a real service would run until shutdown.
  let done = 0;
  client.on("synced", () => {
    if (++done === 3) stop.abort();
  });
  await client.run(stop.signal);

  // Between iterations the database is closed; open it to read what was synced (read-only use).
  const db = await AnyDb.open(directory);
  console.log(`local database: ${db.opCount} operations, ${db.activeKeys} live keys, floor ${db.inactivityFloorLoc}`);
  await db.close();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
