/**
 * A client against servers that misbehave without sending anything invalid to verify (issue 11,
 * items 3, 5 and 6): streams that end OK with no operations, a message over the client's maximum
 * receive size, and a server that refuses every request as throttled. Each must end in a failure
 * after a bounded number of requests spaced by backoff, logged at warn — never a tight loop or an
 * endless retry at info. The first two run the real `sync-client` against a fake server.
 */
import { status } from "@grpc/grpc-js";
import { GrpcResolver } from "../../src/client";
import { ANY_KIND } from "../../src/qmdb";
import { retryMetadata } from "../../src/server/status";
import { SyncError, syncDatabase } from "../../src/sync";
import { tempDir } from "../helpers/tmp";
import { FAKE_TARGET, type FakeServer, startFakeServer } from "./fake-server";
import { cleanup, failure, spawnClient } from "./helpers";

jest.setTimeout(60_000);
const fakes: FakeServer[] = [];
afterAll(async () => {
  await Promise.all(fakes.map((f) => f.close()));
  await cleanup();
});

const WARN = 40; // pino's level number

test("GetOperations streams that end OK with no operations: the client backs off, warns, and gives up after 8 failures", async () => {
  const fake = await startFakeServer((call) => call.end());
  fakes.push(fake);
  const client = spawnClient(fake.addr, ["-i", "60s"]);
  const failed = await client.waitForMsg("sync failed", 45_000);
  await client.stop();

  // Exactly the default 8 attempts (before the fix: hundreds of requests a second, forever).
  expect(fake.operationRequests).toHaveLength(8);
  expect(failure(failed)).toMatch(/ResolverFailed: 8 consecutive requests failed; last: .*ended without sending any/);
  const retries = client.logs("retrying");
  expect(retries).toHaveLength(7);
  for (const r of retries) expect(r.level).toBe(WARN);
  // Spaced by exponential backoff: each delay is at least half of 100 ms doubling, capped at 5 s.
  const minBackoffMs = 0.5 * (100 + 200 + 400 + 800 + 1600 + 3200 + 5000);
  expect(fake.operationRequests[7]! - fake.operationRequests[0]!).toBeGreaterThanOrEqual(minBackoffMs - 50);
});

test("a message over the client's maximum receive size is an invalid response, not throttling: no retry storm", async () => {
  const huge = Buffer.alloc(65 * 1024 * 1024); // the client accepts at most 64 MiB
  const fake = await startFakeServer((call) => {
    call.write(huge);
    call.end();
  });
  fakes.push(fake);
  const client = spawnClient(fake.addr, ["-i", "60s"]);
  const failed = await client.waitForMsg("sync failed", 45_000);
  await client.stop();

  // Five invalid responses are tolerated, the sixth fails the sync (before the fix: retried as
  // throttled, every 100 ms, forever).
  expect(fake.operationRequests).toHaveLength(6);
  expect(failure(failed)).toMatch(/InvalidResponse: peer sent invalid data 6 times; last: oversize: .*larger than max/);
  const rejected = client.logs("rejected invalid data from peer");
  expect(rejected).toHaveLength(6);
  for (const r of rejected) expect(r.level).toBe(WARN);
  for (const r of client.logs("retrying")) expect(r.throttled).toBe(0);
});

test("a server that throttles every request: throttling is logged at info, then at warn once it repeats, and the sync gives up after maxThrottled", async () => {
  const fake = await startFakeServer((call) => {
    call.emit("error", { code: status.RESOURCE_EXHAUSTED, details: "busy", metadata: retryMetadata(status.RESOURCE_EXHAUSTED, "busy", 10) });
  });
  fakes.push(fake);
  const lines: Array<{ level: string; msg: string; obj: Record<string, unknown> }> = [];
  const at = (level: string) => (obj: object, msg: string) => void lines.push({ level, msg, obj: obj as Record<string, unknown> });
  const resolver = new GrpcResolver(fake.addr, "any");
  try {
    const sync = syncDatabase({
      kind: ANY_KIND,
      directory: tempDir(),
      target: { root: FAKE_TARGET.root, lowerBound: FAKE_TARGET.lowerBound, upperBound: FAKE_TARGET.upperBound },
      resolver,
      retry: { maxThrottled: 6, baseDelayMs: 10 },
      logger: { debug: () => {}, info: at("info"), warn: at("warn") },
    });
    const err = await sync.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(SyncError);
    expect((err as SyncError).kind).toBe("ResolverFailed");
    expect((err as SyncError).message).toMatch(/refused 7 consecutive requests as throttled; last: .*RESOURCE_EXHAUSTED: busy/);
  } finally {
    resolver.close();
  }
  expect(fake.operationRequests).toHaveLength(7);
  const retries = lines.filter((l) => l.msg === "retrying");
  expect(retries.map((l) => l.level)).toEqual(["info", "info", "info", "warn", "warn", "warn"]);
  expect(retries.map((l) => l.obj.throttled)).toEqual([1, 2, 3, 4, 5, 6]);
});
