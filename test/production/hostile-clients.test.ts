/**
 * Hostile clients against a real `sync-server` (issue 11, items 2 and 3), spoken by hand over
 * HTTP/2 (test/helpers/raw-grpc.ts) from other loopback addresses (127.0.0.2, …) so that the
 * honest client on 127.0.0.1 is another client by address:
 * - streams that never read (a 16-byte HTTP/2 window) hold at most the byte budgets: the
 *   `server_queued_response_bytes` gauge stays under the total, server RSS does not grow by what they
 *   asked for, and everything is given back when they go;
 * - 64 connections from one address get that address's 16 stream slots, not all 1024, and an
 *   honest client still syncs;
 * - a stream whose client stopped reading is ended after the stall timeout (warned, counted,
 *   reset) and its slot is free again;
 * - connections with no call are closed after the idle timeout.
 */
import { readFileSync } from "node:fs";
import { status } from "@grpc/grpc-js";
import { GetOperationsRequest } from "../../gen/commonware/sync/v1/sync";
import { type RawCall, RawGrpcConnection } from "../helpers/raw-grpc";
import { type Proc, SYNCED, cleanup, getTarget, sleep, spawnClient, startServer, stub } from "./helpers";

jest.setTimeout(90_000);
afterAll(cleanup);

const GET_OPERATIONS = "/commonware.sync.v1.SyncService/GetOperations";

/** A request for the whole log in the largest batches. */
const wholeLog = (opCount: bigint): Uint8Array => GetOperationsRequest.encode({ opCount, startLoc: 0n, maxOps: opCount, batchSize: 10_000 }).finish();

/** The value of a server metric (summed over series whose labels contain `labels`). */
async function metric(server: Proc, name: string, labels = ""): Promise<number> {
  const addr = server.logs("server listening and continuously adding operations")[0]!.metrics_addr as string;
  const text = await (await fetch(`http://${addr}/metrics`)).text();
  return text
    .split("\n")
    .filter((l) => (l.startsWith(`${name} `) || l.startsWith(`${name}{`)) && l.includes(labels))
    .reduce((sum, l) => sum + Number(l.split(" ").pop()), 0);
}

/** Resident memory of a process, in bytes. */
function rss(pid: number): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]!;
  return Number(kb) * 1024;
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** `perAddress` never-reading streams from each of `addresses`, spread over `connections` connections per address. */
async function neverReading(addr: string, addresses: readonly string[], connections: number, perAddress: number, request: Uint8Array) {
  const conns: RawGrpcConnection[] = [];
  const calls: RawCall[] = [];
  for (const localAddress of addresses) {
    const mine = await Promise.all(Array.from({ length: connections }, () => RawGrpcConnection.connect(addr, { localAddress, initialWindowSize: 16 })));
    conns.push(...mine);
    for (let i = 0; i < perAddress; i++) calls.push(mine[i % connections]!.call(GET_OPERATIONS, request, { read: false }));
  }
  return { conns, calls };
}

test("never-reading streams hold no more than the byte budgets, and give everything back when they go", async () => {
  const total = 4 << 20;
  const server = await startServer({
    initialOps: 50_000,
    opInterval: "1h",
    extra: ["--max-stream-buffer", "256KiB", "--max-total-buffer", "4MiB", "--stream-stall-timeout", "5m"],
  });
  const opCount = (await getTarget(stub(server.addr))).target!.upperBound; // about 4 MB of batches per stream
  const pid = server.child.pid!;
  const before = rss(pid);

  // 4 addresses × 16 streams (each address's cap) = 64 streams asking for the whole log.
  const hostile = await neverReading(server.addr, ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"], 4, 16, wholeLog(opCount));
  await until("64 open GetOperations streams", async () => (await metric(server, "server_active_streams", 'method="GetOperations"')) === 64);
  await until("the budget to fill", async () => (await metric(server, "server_queued_response_bytes")) > total / 2);
  let peak = 0;
  for (let i = 0; i < 10; i++) {
    peak = Math.max(peak, await metric(server, "server_queued_response_bytes"));
    await sleep(200);
  }
  const grown = rss(pid) - before;
  // The total may be exceeded by one message's misestimate at most (a 10 000-operation message is ~720 KB).
  expect(peak).toBeLessThanOrEqual(total + (1 << 20));
  // Without budgets each stream queues its whole log: 64 × ~4 MB ≈ 260 MB.
  expect(grown).toBeLessThan(100 << 20);

  for (const c of hostile.conns) c.destroy();
  await until("queued bytes to return to 0", async () => (await metric(server, "server_queued_response_bytes")) === 0);
  await until("no open streams", async () => (await metric(server, "server_active_streams")) === 0);
  // With the budget free again, an honest client gets a full stream.
  const honest = await RawGrpcConnection.connect(server.addr);
  const call = honest.call(GET_OPERATIONS, wholeLog(opCount), { read: true });
  const end = await call.ended;
  expect(end.code).toBe(status.OK);
  expect(call.messages.length).toBe(Math.ceil(Number(opCount) / 10_000));
  honest.destroy();
  await server.stop();
});

test("64 connections from one address get that address's 16 stream slots, not all of them; an honest client still syncs", async () => {
  const server = await startServer({ initialOps: 2000, opInterval: "100ms", extra: ["--stream-stall-timeout", "5m"] });
  const opCount = (await getTarget(stub(server.addr))).target!.upperBound;
  // 64 connections × 16 streams from 127.0.0.2: enough to fill all 1 024 slots if slots were per connection.
  const hostile = await neverReading(server.addr, ["127.0.0.2"], 64, 1024, wholeLog(opCount));
  await until("the hostile streams to be admitted or refused", async () => (await metric(server, "server_requests_total", 'method="GetOperations"')) === 1024);
  await sleep(500);
  const results = await Promise.all(hostile.calls.map((c) => Promise.race([c.ended, sleep(3000).then(() => undefined)])));
  const ended = results.filter((s) => s !== undefined);
  expect(ended).toHaveLength(1024 - 16);
  for (const s of ended) {
    expect(s!.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(s!.details).toMatch(/already has 16 open streams \(limit 16\)/);
    expect(Number(s!.metadata.get("retry-after-ms")[0])).toBeGreaterThan(0);
  }
  expect(await metric(server, "server_active_streams", 'method="GetOperations"')).toBe(16);

  const client = spawnClient(server.addr, ["-b", "100"]);
  const done = await client.waitForLog((l) => l.msg === SYNCED || l.msg === "sync failed", "the first sync", 30_000);
  expect(done.msg).toBe(SYNCED);
  await client.stop();
  for (const c of hostile.conns) c.destroy();
  await server.stop();
});

test("a stream whose client stops reading is ended after the stall timeout: warned, counted, reset, and its slot freed", async () => {
  const server = await startServer({ initialOps: 20_000, opInterval: "1h", extra: ["--stream-stall-timeout", "2s", "--max-streams-per-client", "1"] });
  const opCount = (await getTarget(stub(server.addr))).target!.upperBound;
  const conn = await RawGrpcConnection.connect(server.addr, { localAddress: "127.0.0.2", initialWindowSize: 16 });
  const started = Date.now();
  const stalled = conn.call(GET_OPERATIONS, wholeLog(opCount), { read: false });
  await until("the stream to queue bytes", async () => (await metric(server, "server_queued_response_bytes")) > 0);
  // While it holds the address's only slot, a second stream is refused.
  const second = await conn.call(GET_OPERATIONS, wholeLog(opCount), { read: false }).ended;
  expect(second.code).toBe(status.RESOURCE_EXHAUSTED);

  const end = await stalled.ended;
  const elapsed = Date.now() - started;
  expect(elapsed).toBeGreaterThanOrEqual(2000);
  expect(elapsed).toBeLessThan(15_000);
  expect(end.code).toBeUndefined(); // the status could not get past the unread data: the stream was reset
  expect(end.rstCode).toBe(8); // NGHTTP2_CANCEL
  const warned = server.logs("ended a stream whose client stopped reading");
  expect(warned).toHaveLength(1);
  expect(warned[0]!.level).toBe(40);
  expect(warned[0]!.client).toBe("ip:127.0.0.2");
  expect(await metric(server, "server_stalled_streams_total", 'method="GetOperations"')).toBe(1);
  expect(await metric(server, "server_errors_total", 'code="DEADLINE_EXCEEDED"')).toBe(1);
  await until("queued bytes to return to 0", async () => (await metric(server, "server_queued_response_bytes")) === 0);

  // The slot is free: a reading stream from the same address gets everything.
  const reader = await RawGrpcConnection.connect(server.addr, { localAddress: "127.0.0.2" });
  const next = reader.call(GET_OPERATIONS, wholeLog(opCount), { read: true });
  const ok = await next.ended;
  expect(ok.code).toBe(status.OK);
  expect(next.messages.length).toBe(Math.ceil(Number(opCount) / 10_000));
  reader.destroy();
  conn.destroy();
  await server.stop();
});

test("connections with no open call are closed after the idle timeout", async () => {
  const server = await startServer({ initialOps: 10, opInterval: "1h", extra: ["--idle-connection-timeout", "1s"] });
  const idle = await RawGrpcConnection.connect(server.addr, { localAddress: "127.0.0.2" });
  const closedAfter = await new Promise<number>((resolve) => {
    const started = Date.now();
    idle.session.once("goaway", () => resolve(Date.now() - started));
    idle.session.once("close", () => resolve(Date.now() - started));
  });
  expect(closedAfter).toBeGreaterThanOrEqual(900);
  expect(closedAfter).toBeLessThan(10_000);
  expect(idle.closed).toBe(true);
  await server.stop();
});
