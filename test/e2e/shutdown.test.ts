/**
 * End-to-end: SIGTERM while a long GetOperations stream is stalled by a reader that stopped
 * reading. The process must end the stream after the grace period, exit 0 in bounded time, and
 * leave a store that a new process reopens at the last committed state the old one reported.
 */
import { type ServiceError, status } from "@grpc/grpc-js";
import type { GetOperationsResponse } from "../../gen/commonware/sync/v1/sync";
import { KINDS, type Kind, cleanup, collectStream, getTarget, hex, startServer, syncClient, tempDir, verifyStream } from "./harness";

jest.setTimeout(30_000);
afterAll(cleanup);

const GRACE_MS = 1000;
/** The server gives streams the grace period, then 1 s more before forcing; allow slack for a busy 2-core box. */
const EXIT_WITHIN_MS = GRACE_MS + 1000 + 2500;

test.concurrent.each(KINDS)("--db %s: SIGTERM mid-stream exits 0 within the grace period, and the reopened store is intact", async (kind: Kind) => {
  const dir = tempDir();
  const opts = { db: kind, dir, initialOps: 1500, opInterval: "20ms", extra: ["--shutdown-grace", `${GRACE_MS}ms`] } as const;
  const old = await startServer(opts);
  await old.waitForBatches(2);
  const client = syncClient(old.addr);
  const t = (await getTarget(client)).target!;

  // One operation per message (~1 KB with its proof) and a reader that stops after the first
  // message: the transport windows fill and the server is left waiting for 'drain'.
  const received: GetOperationsResponse[] = [];
  const call = client.getOperations({ opCount: t.upperBound, startLoc: 0n, maxOps: t.upperBound, batchSize: 1 });
  const outcome = new Promise<{ code: status; details: string }>((resolve) => {
    call.on("error", (err: ServiceError) => resolve({ code: err.code, details: err.details }));
    call.on("status", (s) => {
      if (s.code === status.OK) resolve({ code: s.code, details: s.details });
    });
  });
  await new Promise<void>((resolve) =>
    call.once("data", (m: GetOperationsResponse) => {
      received.push(m);
      call.pause();
      resolve();
    }),
  );
  await new Promise((r) => setTimeout(r, 200)); // let the server run into backpressure

  const signalledAt = Date.now();
  old.child.kill("SIGTERM");
  const exit = await old.exited;
  const tookMs = Date.now() - signalledAt;
  expect(exit).toEqual({ code: 0, signal: null });
  expect(tookMs).toBeLessThan(EXIT_WITHIN_MS);
  expect(tookMs).toBeGreaterThanOrEqual(GRACE_MS - 100); // the stalled stream was given its grace period
  expect(old.stderr).toBe("");
  const msgs = old.lines.map((l) => l.msg);
  expect(msgs).toEqual(expect.arrayContaining(["received signal", "shutting down", "database closed; bye"]));
  // The stream really was in flight when the grace period ran out.
  expect(msgs).toContain("streams still open after the grace period; ending them");

  // Drain what the reader had buffered: everything delivered before the cut verifies, and the
  // stream did not end as a success.
  call.on("data", (m: GetOperationsResponse) => received.push(m));
  call.resume();
  const end = await outcome;
  expect(end.code).not.toBe(status.OK);
  expect(received.length).toBeLessThan(Number(t.upperBound));
  verifyStream(kind, t.root, t.upperBound, 0n, BigInt(received.length), received);

  // Reopen the same directory with a new process.
  const last = old.lastReported;
  const reopened = await startServer(opts);
  expect(reopened.ready.opCount).toBeGreaterThanOrEqual(last.opCount);
  expect(reopened.ready).toEqual({ opCount: last.opCount, root: last.root });
  expect(reopened.logs("creating initial operations")).toEqual([]); // the initial load is not re-added
  const client2 = syncClient(reopened.addr);
  const t2 = (await getTarget(client2)).target!;
  expect(t2.upperBound).toBeGreaterThanOrEqual(last.opCount);
  // The old server's final state is still provable, and so is the target it gave us.
  const full = await collectStream(client2, { opCount: last.opCount, startLoc: 0n, maxOps: last.opCount, batchSize: 0 });
  verifyStream(kind, Buffer.from(last.root, "hex"), last.opCount, 0n, last.opCount, full);
  const again = await collectStream(client2, { opCount: t.upperBound, startLoc: t.lowerBound, maxOps: t.upperBound, batchSize: 0 });
  verifyStream(kind, t.root, t.upperBound, t.lowerBound, t.upperBound, again);
  expect(hex(t.root)).toBe(old.lines.find((l) => l.op_count === t.upperBound.toString() && typeof l.root === "string")!.root);

  expect(await reopened.stop("SIGTERM")).toEqual({ code: 0, signal: null });
});

test.concurrent.each(KINDS)("--db %s: a stream that keeps being read finishes OK during shutdown, then the process exits 0", async (kind: Kind) => {
  const server = await startServer({ db: kind, initialOps: 600, opInterval: "20ms", extra: ["--shutdown-grace", "10s"] });
  const client = syncClient(server.addr);
  const t = (await getTarget(client)).target!;
  const received: GetOperationsResponse[] = [];
  let signalledAt = 0;
  let streamEndedAt = 0;
  const done = collectStream(
    client,
    { opCount: t.upperBound, startLoc: 0n, maxOps: t.upperBound, batchSize: 4 },
    {
      readDelayMs: 2,
      onMessage: (m) => {
        received.push(m);
        if (received.length === 10) {
          signalledAt = Date.now();
          server.child.kill("SIGTERM");
        }
      },
    },
  ).then((msgs) => {
    streamEndedAt = Date.now();
    return msgs;
  });
  const msgs = await done;
  verifyStream(kind, t.root, t.upperBound, 0n, t.upperBound, msgs);
  expect(signalledAt).toBeGreaterThan(0);
  expect(await server.exited).toEqual({ code: 0, signal: null });
  expect(Date.now() - signalledAt).toBeLessThan(10_000);
  expect(streamEndedAt).toBeGreaterThan(signalledAt);
  expect(server.lines.map((l) => l.msg)).not.toContain("streams still open after the grace period; ending them");
  expect(server.logs("received signal").length).toBe(1);
});
