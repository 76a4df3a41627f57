/**
 * Watch streams must not leak listeners (issue 11, item 4): 16 `WatchSyncTarget` streams on a
 * real server committing every 20 ms. The server's `server_event_listeners` gauges (database,
 * shutdown signals, open streams' signals and calls) and its open file descriptors stay flat
 * while hundreds of targets are pushed, no MaxListenersExceededWarning (or any warning) reaches
 * its stderr, and every listener is gone once the watchers leave.
 */
import { readdirSync } from "node:fs";
import type { ClientReadableStream } from "@grpc/grpc-js";
import type { GetSyncTargetResponse } from "../../gen/commonware/sync/v1/sync";
import { type Proc, cleanup, sleep, startServer, stub } from "./helpers";

jest.setTimeout(60_000);
afterAll(cleanup);

/** Every `server_event_listeners` series, by its `emitter` label. */
async function listeners(server: Proc): Promise<Record<string, number>> {
  const addr = server.logs("server listening and continuously adding operations")[0]!.metrics_addr as string;
  const text = await (await fetch(`http://${addr}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^server_event_listeners\{emitter="(\w+)"\} (\d+)$/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

const fds = (pid: number): number => readdirSync(`/proc/${pid}/fd`).length;

test("16 watchers at 20 ms commits: flat listener counts and fds, no warnings, nothing left after they go", async () => {
  const server = await startServer({ initialOps: 100, opInterval: "20ms", opsPerInterval: 1 });
  const pid = server.child.pid!;
  const watchers: Array<{ call: ClientReadableStream<GetSyncTargetResponse>; received: number }> = [];
  for (let i = 0; i < 16; i++) {
    const w = { call: stub(server.addr).watchSyncTarget({}), received: 0 };
    w.call.on("data", () => w.received++);
    w.call.on("error", () => undefined); // cancelled at the end
    watchers.push(w);
  }
  await sleep(1500);
  const early = await listeners(server);
  const earlyFds = fds(pid);
  const earlyReceived = watchers.map((w) => w.received);
  await sleep(5000); // about 250 commits
  const late = await listeners(server);
  const lateFds = fds(pid);

  expect(early.database).toBe(16); // one target listener per watch
  expect(early.stream_signals).toBeGreaterThan(0);
  expect(late).toEqual(early);
  expect(lateFds).toBeLessThanOrEqual(earlyFds + 2);
  watchers.forEach((w, i) => expect(w.received - earlyReceived[i]!).toBeGreaterThan(50));

  for (const w of watchers) w.call.cancel();
  let after: Record<string, number> = {};
  for (let i = 0; i < 50; i++) {
    after = await listeners(server);
    if (after.database === 0 && after.stream_signals === 0 && after.stream_calls === 0) break;
    await sleep(100);
  }
  expect(after).toMatchObject({ database: 0, stream_signals: 0, stream_calls: 0, shutdown_signal: early.shutdown_signal });
  await server.stop();
  expect(server.stderr).not.toMatch(/MaxListenersExceededWarning|Warning/);
});
