/**
 * Embedding the sync client in another service: keep a local `any` database in sync with a
 * sync server, read the synced keys and values after each completed sync, and stop cleanly on
 * SIGINT/SIGTERM.
 *
 *   npx sync-server --seed 1 &                        # a server on 127.0.0.1:8080
 *   npm run build && node dist/examples/embed-client.js 127.0.0.1:8080 /tmp/embedded-client
 */
import { SyncClient } from "../src";

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

async function main(): Promise<void> {
  const [server = "127.0.0.1:8080", directory = "/tmp/embedded-client"] = process.argv.slice(2);
  const client = new SyncClient({ server, kind: "any", directory, fetchBatchSize: 100, syncIntervalMs: 2000 });

  // Each `synced` event carries a snapshot of the data at that target: a consistent state that
  // `client.get`/`client.entries` keep answering from until the next sync completes.
  client.on("synced", ({ iteration, opCount, root, snapshot }) => {
    console.log(`iteration ${iteration}: ${opCount} operations, root ${hex(root)}, ${snapshot?.size ?? 0} live keys`);
  });
  client.on("failed", ({ iteration, error }) => console.error(`iteration ${iteration} failed: ${error.message}`));

  const stop = new AbortController();
  process.once("SIGINT", () => stop.abort());
  process.once("SIGTERM", () => stop.abort());
  // Three iterations for the demo; a real service would run until shutdown.
  await client.run(stop.signal, { maxIterations: 3 });

  if (client.snapshot === undefined) {
    console.log("no sync completed");
    process.exitCode = 1;
    return;
  }
  // Read what was synced: iterate every live key, and look one up.
  let first: Uint8Array | undefined;
  let count = 0;
  for await (const [key, value] of client.entries()) {
    if (count++ < 3) console.log(`  ${hex(key)} = ${hex(value)}`);
    first ??= key;
  }
  console.log(`${count} live keys at op count ${client.snapshot.opCount}`);
  if (first !== undefined) console.log(`get(${hex(first).slice(0, 16)}…) = ${hex(client.get(first)!)}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
