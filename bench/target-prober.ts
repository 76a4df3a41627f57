/**
 * Child process of the fanout benchmark: asks the server at `argv[2]` for its target every 50 ms
 * (one call at a time) until SIGTERM, then prints `{ samples: [[sentAtEpochMs, latencyMs], ...], errors }` as JSON.
 */
import { credentials } from "@grpc/grpc-js";
import { performance } from "node:perf_hooks";
import { SyncServiceClient } from "../gen/commonware/sync/v1/sync";

const PERIOD_MS = 50;

const client = new SyncServiceClient(process.argv[2]!, credentials.createInsecure());
const samples: Array<[number, number]> = [];
let errors = 0;
let stopping = false;

function tick(): void {
  if (stopping) return;
  const sentAt = Date.now();
  const t = performance.now();
  client.getSyncTarget({}, (err) => {
    const ms = performance.now() - t;
    if (err) errors++;
    else samples.push([sentAt, ms]);
    setTimeout(tick, Math.max(0, PERIOD_MS - ms));
  });
}

process.on("SIGTERM", () => {
  stopping = true;
  console.log(JSON.stringify({ samples, errors }));
  client.close();
  process.exit(0);
});
tick();
