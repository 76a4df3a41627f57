/**
 * Rate limiting and stream caps. Unit level, with an injected clock: token buckets refill at
 * their rate up to their burst, a refusal takes nothing and says exactly how long to wait, each
 * client has its own buckets, and stream caps are released once. Process level: a client
 * hammering GetSyncTarget gets RESOURCE_EXHAUSTED with the delay in `retry-after-ms` and in a
 * `google.rpc.RetryInfo` inside `grpc-status-details-bin`, while a polite client from another
 * address (127.0.0.2: clients are told apart by address, not connection) is never refused; an
 * operations limit slows a syncing client, which honours the delays and completes; a client over
 * its stream cap (on any of its connections), or over the server's, is refused.
 */
import { type ClientReadableStream, type ServiceError, status } from "@grpc/grpc-js";
import { BinaryReader } from "@bufbuild/protobuf/wire";
import { GetOperationsRequest, type GetOperationsResponse, type SyncServiceClient } from "../../gen/commonware/sync/v1/sync";
import { GrpcResolver } from "../../src/client";
import { Pushback, RateLimiter, TokenBucket } from "../../src/server";
import { ResolverError } from "../../src/sync";
import { RawGrpcConnection, type RawStatus } from "../helpers/raw-grpc";
import { type Proc, SYNCED, cleanup, getTarget, makePki, rejection, sleep, spawnClient, startServer, stub, tlsCredentials } from "./helpers";

jest.setTimeout(40_000);
afterAll(cleanup);

// ---------------------------------------------------------------------------------------------
// Unit: TokenBucket and RateLimiter with an injected clock

describe("TokenBucket", () => {
  test("starts full, refuses when empty with the exact wait, and refills at its rate", () => {
    const b = new TokenBucket(5, 10, 0);
    for (let i = 0; i < 10; i++) expect(b.take(1, 0)).toBe(0);
    expect(b.take(1, 0)).toBe(200); // one token at 5/s
    expect(b.take(1, 100)).toBe(100); // half a token refilled
    expect(b.take(1, 200)).toBe(0);
    expect(b.take(3, 200)).toBe(600);
    expect(b.take(3, 800)).toBe(0);
  });

  test("a refusal takes nothing: waiting the returned time is exactly enough", () => {
    const b = new TokenBucket(100, 100, 0);
    expect(b.take(100, 0)).toBe(0);
    const wait = b.take(40, 0);
    expect(wait).toBe(400);
    expect(b.take(40, wait - 10)).toBeGreaterThan(0);
    expect(b.take(40, wait)).toBe(0);
  });

  test("never holds more than its burst, however long it idles", () => {
    const b = new TokenBucket(5, 10, 0);
    for (let i = 0; i < 10; i++) expect(b.take(1, 3_600_000)).toBe(0);
    expect(b.take(1, 3_600_000)).toBe(200);
  });

  test("a request larger than the burst is charged the burst (it is never refused forever)", () => {
    const b = new TokenBucket(10, 20, 0);
    expect(b.take(500, 0)).toBe(0);
    expect(b.take(500, 0)).toBe(2000);
    expect(b.take(500, 2000)).toBe(0);
  });
});

describe("RateLimiter", () => {
  const clock = (): { now: () => number; advance: (ms: number) => void } => {
    let t = 1_000_000;
    return { now: () => t, advance: (ms) => void (t += ms) };
  };

  test("target requests: each client has its own bucket; a refusal is a Pushback with the wait", () => {
    const c = clock();
    const limiter = new RateLimiter({ targetsPerSecond: 5, opsPerSecond: 0, maxStreamsPerClient: 0, maxStreams: 0 }, c.now);
    for (let i = 0; i < 10; i++) limiter.chargeTarget("hammer"); // burst: 2 × rate
    let refused: unknown;
    try {
      limiter.chargeTarget("hammer");
    } catch (err) {
      refused = err;
    }
    expect(refused).toBeInstanceOf(Pushback);
    expect((refused as Pushback).retryAfterMs).toBe(200);
    expect((refused as Pushback).message).toMatch(/5\/s/);
    expect(() => limiter.chargeTarget("polite")).not.toThrow();
    c.advance(200);
    expect(() => limiter.chargeTarget("hammer")).not.toThrow();
    expect(() => limiter.chargeTarget("hammer")).toThrow(Pushback);
  });

  test("operations: charged per operation; a rate of 0 never refuses", () => {
    const c = clock();
    const limiter = new RateLimiter({ targetsPerSecond: 0, opsPerSecond: 100, maxStreamsPerClient: 0, maxStreams: 0 }, c.now);
    limiter.chargeOperations("a", 50);
    limiter.chargeOperations("a", 50);
    expect(() => limiter.chargeOperations("a", 50)).toThrow(expect.objectContaining({ retryAfterMs: 500 }));
    c.advance(500);
    expect(() => limiter.chargeOperations("a", 50)).not.toThrow();
    for (let i = 0; i < 10_000; i++) limiter.chargeTarget("a");
  });

  test("stream caps per client and in total; a release frees one slot, once", () => {
    const limiter = new RateLimiter({ targetsPerSecond: 0, opsPerSecond: 0, maxStreamsPerClient: 2, maxStreams: 3 });
    const a1 = limiter.openStream("a");
    limiter.openStream("a");
    expect(() => limiter.openStream("a")).toThrow(/already has 2 open streams \(limit 2\)/);
    limiter.openStream("b");
    expect(() => limiter.openStream("c")).toThrow(/limit of 3 concurrent streams/);
    a1();
    a1(); // a second release of the same stream frees nothing more
    limiter.openStream("c");
    expect(() => limiter.openStream("d")).toThrow(Pushback);
    expect(() => limiter.openStream("a")).toThrow(Pushback);
  });

  test("forgets idle clients once it tracks many, so memory stays bounded", () => {
    const c = clock();
    const limiter = new RateLimiter({ targetsPerSecond: 1, opsPerSecond: 0, maxStreamsPerClient: 0, maxStreams: 0 }, c.now);
    for (let i = 0; i < 1024; i++) limiter.chargeTarget(`client-${i}`);
    expect(limiter.trackedClients).toBe(1024);
    c.advance(61_000);
    limiter.chargeTarget("newcomer");
    expect(limiter.trackedClients).toBe(1);
  });
});

// ---------------------------------------------------------------------------------------------
// Decoding the retry delay of a refused call

interface RpcStatus {
  code: number;
  message: string;
  details: Array<{ typeUrl: string; value: Uint8Array }>;
}

function decodeStatus(bytes: Uint8Array): RpcStatus {
  const r = new BinaryReader(bytes);
  const out: RpcStatus = { code: 0, message: "", details: [] };
  while (r.pos < r.len) {
    const [field, wireType] = r.tag();
    if (field === 1) out.code = r.int32();
    else if (field === 2) out.message = r.string();
    else if (field === 3) {
      const any = new BinaryReader(r.bytes());
      let typeUrl = "";
      let value: Uint8Array = new Uint8Array(0);
      while (any.pos < any.len) {
        const [f, wt] = any.tag();
        if (f === 1) typeUrl = any.string();
        else if (f === 2) value = any.bytes();
        else any.skip(wt);
      }
      out.details.push({ typeUrl, value });
    } else r.skip(wireType);
  }
  return out;
}

/** `google.rpc.RetryInfo { retry_delay: Duration }` → milliseconds. */
function decodeRetryInfoMs(bytes: Uint8Array): number {
  const r = new BinaryReader(bytes);
  let ms = 0;
  while (r.pos < r.len) {
    const [field, wireType] = r.tag();
    if (field !== 1) {
      r.skip(wireType);
      continue;
    }
    const d = new BinaryReader(r.bytes());
    while (d.pos < d.len) {
      const [f, wt] = d.tag();
      if (f === 1) ms += Number(d.int64()) * 1000;
      else if (f === 2) ms += d.int32() / 1e6;
      else d.skip(wt);
    }
  }
  return ms;
}

/** Checks a RESOURCE_EXHAUSTED error's two retry delays agree; returns the delay in ms. */
function retryDelayOf(err: ServiceError): number {
  expect(err.code).toBe(status.RESOURCE_EXHAUSTED);
  const header = err.metadata.get("retry-after-ms");
  expect(header).toHaveLength(1);
  const retryAfterMs = Number(header[0]);
  expect(Number.isInteger(retryAfterMs)).toBe(true);
  expect(retryAfterMs).toBeGreaterThan(0);
  const bin = err.metadata.get("grpc-status-details-bin");
  expect(bin).toHaveLength(1);
  const st = decodeStatus(bin[0] as Buffer);
  expect(st.code).toBe(status.RESOURCE_EXHAUSTED);
  expect(st.message).toBe(err.details);
  const retryInfo = st.details.find((d) => d.typeUrl === "type.googleapis.com/google.rpc.RetryInfo");
  expect(retryInfo).toBeDefined();
  const delay = decodeRetryInfoMs(retryInfo!.value);
  expect(delay).toBeGreaterThan(0);
  expect(Math.abs(delay - retryAfterMs)).toBeLessThanOrEqual(1);
  return retryAfterMs;
}

// ---------------------------------------------------------------------------------------------
// Process level

describe("--rate-limit-targets 5", () => {
  let server: Proc;
  beforeAll(async () => {
    server = await startServer({ extra: ["--rate-limit-targets", "5"] });
  });
  afterAll(() => server.stop());

  test("a hammering client is throttled with a retry delay; a polite client from another address never is", async () => {
    const hammer = stub(server.addr);
    const polite = await RawGrpcConnection.connect(server.addr, { localAddress: "127.0.0.2" });
    await getTarget(hammer); // connect

    const politeResults: Array<"ok" | RawStatus> = [];
    const politeLoop = (async () => {
      for (let i = 0; i < 4; i++) {
        const st = await polite.call("/commonware.sync.v1.SyncService/GetSyncTarget", new Uint8Array(0), { read: true }).ended;
        politeResults.push(st.code === status.OK ? "ok" : st);
        await sleep(1000);
      }
      polite.destroy();
    })();

    const started = Date.now();
    let ok = 0;
    const refusals: ServiceError[] = [];
    while (Date.now() - started < 3000) {
      try {
        await getTarget(hammer);
        ok++;
      } catch (err) {
        refusals.push(err as ServiceError);
      }
    }
    const elapsedS = (Date.now() - started) / 1000;
    await politeLoop;

    expect(politeResults).toEqual(["ok", "ok", "ok", "ok"]);
    expect(refusals.length).toBeGreaterThan(0);
    // At most the burst (2 × 5, one already spent connecting) plus 5 a second got through.
    expect(ok).toBeLessThanOrEqual(10 + Math.ceil(5 * elapsedS) + 1);
    expect(ok).toBeGreaterThanOrEqual(9);
    for (const err of refusals.slice(0, 20)) {
      expect(err.details).toMatch(/too many target requests/);
      const delay = retryDelayOf(err);
      expect(delay).toBeLessThanOrEqual(200); // one token at 5/s
    }
  });

  test("the client library reports a throttled ResolverError with the delay, and waiting it out is enough", async () => {
    const resolver = new GrpcResolver(server.addr, "any");
    try {
      let throttled: ResolverError | undefined;
      for (let i = 0; i < 50 && throttled === undefined; i++) {
        await resolver.getSyncTarget().catch((err: unknown) => {
          throttled = err as ResolverError;
        });
      }
      expect(throttled).toBeInstanceOf(ResolverError);
      expect(throttled!.throttled).toBe(true);
      expect(throttled!.retryable).toBe(true);
      expect(throttled!.retryAfterMs).toBeGreaterThan(0);
      expect(throttled!.retryAfterMs).toBeLessThanOrEqual(200);
      await sleep(throttled!.retryAfterMs! + 20);
      await expect(resolver.getSyncTarget()).resolves.toMatchObject({ kind: "any" });
    } finally {
      resolver.close();
    }
  });
});

test("with mutual TLS a client is its certificate: new connections share its bucket, another certificate has its own", async () => {
  const pki = makePki();
  const server = await startServer({
    extra: ["--tls-cert", pki.serverCert, "--tls-key", pki.serverKey, "--tls-client-ca", pki.ca, "--rate-limit-targets", "1"],
  });
  const as = (cert: string, key: string) => stub(server.addr, tlsCredentials(pki.ca, { cert, key }));
  const first = as(pki.clientCert, pki.clientKey);
  await getTarget(first);
  await getTarget(first); // the burst (2 × 1/s) is spent
  const reconnected = await rejection(getTarget(as(pki.clientCert, pki.clientKey)));
  expect(reconnected.details).toMatch(/too many target requests/);
  retryDelayOf(reconnected);
  await expect(getTarget(as(pki.client2Cert, pki.client2Key))).resolves.toBeDefined();
  await server.stop();
});

/** A server counter (prom-client may omit `_total`). */
async function counter(server: Proc, name: string, labels: string): Promise<number> {
  const addr = server.logs("server listening and continuously adding operations")[0]!.metrics_addr as string;
  const text = await (await fetch(`http://${addr}/metrics`)).text();
  const line = text.split("\n").find((l) => (l.startsWith(`${name}{`) || l.startsWith(`${name}_total{`) ? l.includes(labels) : false));
  return line === undefined ? 0 : Number(line.split(" ").pop());
}

test("--rate-limit-ops slows a syncing client, which honours the delays and completes without failing", async () => {
  const opsPerSecond = 400;
  const server = await startServer({ initialOps: 1000, opInterval: "1h", extra: ["--rate-limit-ops", String(opsPerSecond)] });
  const client = spawnClient(server.addr, ["-b", "50"]);
  const done = await client.waitForLog((l) => l.msg === SYNCED || l.msg === "sync failed", "the end of the first sync", 30_000);
  await client.stop();
  expect(done.msg).toBe(SYNCED);
  expect(client.logs("sync failed")).toEqual([]);

  const target = client.logs("starting sync")[0]!.target as { lower_bound: string; upper_bound: string };
  const total = Number(BigInt(target.upper_bound) - BigInt(target.lower_bound));
  expect(total).toBeGreaterThan(2 * opsPerSecond);
  // The first `opsPerSecond` operations are the burst; the rest come at the rate.
  const floorMs = ((total - opsPerSecond) / opsPerSecond) * 1000;
  expect(done.duration_ms as number).toBeGreaterThanOrEqual(0.8 * floorMs);
  expect(done.duration_ms as number).toBeLessThan(3 * floorMs + 5000);

  // It was told to wait and waited: few refusals (about one per batch beyond the burst), each followed by a "retrying".
  const refusals = await counter(server, "server_errors", 'method="GetOperations",code="RESOURCE_EXHAUSTED"');
  expect(refusals).toBeGreaterThan(0);
  expect(refusals).toBeLessThanOrEqual(2 * Math.ceil(total / 50) + 5);
  expect(client.logs("retrying").length).toBeGreaterThan(0);
  await server.stop();
});

describe("stream caps", () => {
  let server: Proc;
  let opCount: bigint;
  beforeAll(async () => {
    server = await startServer({ initialOps: 3000, opInterval: "1h", extra: ["--max-streams-per-client", "1", "--max-streams", "2"] });
    opCount = (await getTarget(stub(server.addr))).target!.upperBound;
  });
  afterAll(() => server.stop());

  /** A GetOperations stream of one-operation messages that stops reading after its first message. */
  async function stalledStream(c: SyncServiceClient): Promise<ClientReadableStream<GetOperationsResponse>> {
    const call = c.getOperations({ opCount, startLoc: 0n, maxOps: opCount, batchSize: 1 });
    call.on("error", () => undefined); // cancelled at the end
    await new Promise<void>((resolve, reject) => {
      call.once("data", () => {
        call.pause();
        resolve();
      });
      call.once("error", reject);
    });
    return call;
  }

  /** Opens a stream and reads its first message or its error. */
  function firstMessage(c: SyncServiceClient): Promise<GetOperationsResponse> {
    return new Promise((resolve, reject) => {
      const call = c.getOperations({ opCount, startLoc: 0n, maxOps: 1n, batchSize: 1 });
      call.once("data", (m: GetOperationsResponse) => resolve(m));
      call.once("error", reject);
    });
  }

  test("a second concurrent stream from one address (on any connection), or a third on the server, is refused with RESOURCE_EXHAUSTED", async () => {
    const a = stub(server.addr);
    const b = stub(server.addr); // another connection from the same address: the same client
    const first = await stalledStream(a);

    for (const c of [a, b]) {
      const perClient = await rejection(firstMessage(c));
      expect(perClient.details).toMatch(/already has 1 open streams \(limit 1\)/);
      retryDelayOf(perClient);
    }
    // Unary calls are not streams: the same connection still gets targets.
    await expect(getTarget(a)).resolves.toBeDefined();

    // Another address is another client, with its own slot (a stream it never reads).
    const request = GetOperationsRequest.encode({ opCount, startLoc: 0n, maxOps: opCount, batchSize: 1 }).finish();
    const other = await RawGrpcConnection.connect(server.addr, { localAddress: "127.0.0.2", initialWindowSize: 16 });
    other.call("/commonware.sync.v1.SyncService/GetOperations", request, { read: false });
    let global: RawStatus | undefined;
    for (let i = 0; i < 50 && global?.code !== status.RESOURCE_EXHAUSTED; i++) {
      // Retried until the other address's stream holds its slot; a third address is then refused by the global cap.
      const third = await RawGrpcConnection.connect(server.addr, { localAddress: "127.0.0.3" });
      global = await third.call("/commonware.sync.v1.SyncService/GetOperations", request, { read: false }).ended;
      third.destroy();
      if (global.code !== status.RESOURCE_EXHAUSTED) await sleep(50);
    }
    expect(global!.details).toMatch(/limit of 2 concurrent streams/);
    retryDelayOf({ code: global!.code!, details: global!.details, metadata: global!.metadata } as ServiceError);

    // Ending a stream frees its slot.
    first.cancel();
    other.destroy();
    let m: GetOperationsResponse | undefined;
    for (let i = 0; i < 50 && m === undefined; i++) {
      m = await firstMessage(a).catch(async () => {
        await sleep(50);
        return undefined;
      });
    }
    expect(m?.startLoc).toBe(0n);
  });
});
