/**
 * End-to-end: every bad GetOperations request gets the documented status and a message naming
 * the field (and the bound), malformed request bytes get INVALID_ARGUMENT, and the server keeps
 * serving afterwards. A `start_loc` below the pruned boundary cannot be produced: the server
 * never prunes.
 */
import { Metadata, type ServiceError, status } from "@grpc/grpc-js";
import type { GetOperationsRequest } from "../../gen/commonware/sync/v1/sync";
import {
  KINDS,
  type Kind,
  type ServerProcess,
  cleanup,
  collectStream,
  expectStatus,
  getTarget,
  rawClient,
  startServer,
  syncClient,
  verifyStream,
} from "./harness";

jest.setTimeout(30_000);

const servers = new Map<Kind, ServerProcess>();

beforeAll(async () => {
  const started = await Promise.all(KINDS.map((db) => startServer({ db, initialOps: 50, opInterval: "20ms" })));
  KINDS.forEach((k, i) => servers.set(k, started[i]!));
});
afterAll(cleanup);

const U64_MAX = (1n << 64n) - 1n;

/** Sends `bytes` as the request of `method`, bypassing the protobuf encoder. */
function rawUnary(addr: string, method: string, bytes: Buffer): Promise<Buffer> {
  const c = rawClient(addr);
  const id = (b: Buffer): Buffer => b;
  return new Promise((resolve, reject) =>
    c.makeUnaryRequest(method, id, id, bytes, new Metadata(), {}, (err: ServiceError | null, res?: Buffer) => (err ? reject(err) : resolve(res!))),
  );
}

function rawServerStream(addr: string, method: string, bytes: Buffer): Promise<Buffer[]> {
  const c = rawClient(addr);
  const id = (b: Buffer): Buffer => b;
  return new Promise((resolve, reject) => {
    const out: Buffer[] = [];
    const call = c.makeServerStreamRequest(method, id, id, bytes, new Metadata(), {});
    call.on("data", (b: Buffer) => out.push(b));
    call.on("error", reject);
    call.on("status", (s) => {
      if (s.code === status.OK) call.once("end", () => resolve(out));
    });
  });
}

/**
 * Protobuf payloads that no decoder may accept, and whether to send them to GetSyncTarget too.
 * The overlong varint sits in field 1, which is `op_count` for GetOperations but an unknown field
 * for the empty GetSyncTargetRequest, and @bufbuild/protobuf skips unknown varints without a
 * length check, so GetSyncTarget accepts it.
 */
const MALFORMED: ReadonlyArray<{ name: string; bytes: Buffer; methods: string }> = [
  { name: "a truncated length-delimited field", bytes: Buffer.from([0x0a, 0x64, 0x01]), methods: "GetOperations and GetSyncTarget" },
  { name: "wire type 7", bytes: Buffer.from([0x0f, 0x01]), methods: "GetOperations and GetSyncTarget" },
  { name: "a truncated varint", bytes: Buffer.from([0x08, 0xff]), methods: "GetOperations and GetSyncTarget" },
  { name: "an 11-byte varint in op_count", bytes: Buffer.from([0x08, ...new Array<number>(10).fill(0xff), 0x01]), methods: "GetOperations" },
];

describe.each(KINDS)("--db %s", (kind) => {
  const server = (): ServerProcess => servers.get(kind)!;

  test("each invalid field gets its status and a message naming the field and the bound", async () => {
    const client = syncClient(server().addr);
    const { upperBound: size } = (await getTarget(client)).target!;
    const cases: Array<{ name: string; req: GetOperationsRequest; code: status; message: RegExp }> = [
      { name: "max_ops 0", req: { opCount: size, startLoc: 0n, maxOps: 0n, batchSize: 0 }, code: status.INVALID_ARGUMENT, message: /max_ops.*\b1\b/ },
      { name: "op_count 0", req: { opCount: 0n, startLoc: 0n, maxOps: 10n, batchSize: 0 }, code: status.INVALID_ARGUMENT, message: /op_count.*\b1\b/ },
      {
        name: "start_loc = op_count",
        req: { opCount: size, startLoc: size, maxOps: 10n, batchSize: 0 },
        code: status.INVALID_ARGUMENT,
        message: new RegExp(`start_loc ${size}\\b.*op_count ${size}\\b`),
      },
      {
        name: "start_loc > op_count",
        req: { opCount: 5n, startLoc: 9n, maxOps: 10n, batchSize: 0 },
        code: status.INVALID_ARGUMENT,
        message: /start_loc 9\b.*op_count 5\b/,
      },
      {
        name: "op_count above the current size",
        req: { opCount: size + 1_000_000n, startLoc: 0n, maxOps: 10n, batchSize: 0 },
        code: status.OUT_OF_RANGE,
        message: new RegExp(`op_count ${size + 1_000_000n}\\b.*\\b\\d+`),
      },
      {
        name: "u64::MAX everywhere",
        req: { opCount: U64_MAX, startLoc: U64_MAX - 1n, maxOps: U64_MAX, batchSize: 0xffff_ffff },
        code: status.OUT_OF_RANGE,
        message: /op_count/,
      },
    ];
    const results = await Promise.all(cases.map((c) => expectStatus(collectStream(client, c.req))));
    cases.forEach((c, i) => {
      const err = results[i]!;
      expect({ case: c.name, code: status[err.code] }).toEqual({ case: c.name, code: status[c.code] });
      expect(err.details).toMatch(c.message);
    });
    // The "op_count too large" message names the committed size as the bound.
    const bound = /(\d+)\D*$/.exec(results[4]!.details)![1]!;
    expect(BigInt(bound)).toBeGreaterThanOrEqual(size);
    expect(BigInt(bound)).toBeLessThan(size + 1_000_000n);
  });

  test.each(MALFORMED)("request bytes with $name get INVALID_ARGUMENT from $methods", async ({ bytes, methods }) => {
    const addr = server().addr;
    const streamErr = await expectStatus(rawServerStream(addr, "/commonware.sync.v1.SyncService/GetOperations", bytes));
    expect(status[streamErr.code]).toBe("INVALID_ARGUMENT");
    expect(streamErr.details).toMatch(/malformed request/);
    if (!methods.includes("GetSyncTarget")) return;
    const unaryErr = await expectStatus(rawUnary(addr, "/commonware.sync.v1.SyncService/GetSyncTarget", bytes));
    expect(status[unaryErr.code]).toBe("INVALID_ARGUMENT");
    expect(unaryErr.details).toMatch(/malformed request/);
  });

  test("op_count sent with the wrong wire type (bytes instead of varint) gets INVALID_ARGUMENT naming op_count", async () => {
    // field 1 (op_count) as length-delimited "\x01\x02", field 3 (max_ops) = 5
    const bytes = Buffer.from([0x0a, 0x02, 0x01, 0x02, 0x18, 0x05]);
    const err = await expectStatus(rawServerStream(server().addr, "/commonware.sync.v1.SyncService/GetOperations", bytes));
    expect(status[err.code]).toBe("INVALID_ARGUMENT");
    expect(err.details).toMatch(/op_count/);
  });

  test("after all the bad requests the same process still serves valid ones", async () => {
    expect(server().running).toBe(true);
    const client = syncClient(server().addr);
    const t = (await getTarget(client)).target!;
    const msgs = await collectStream(client, { opCount: t.upperBound, startLoc: t.lowerBound, maxOps: 20n, batchSize: 7 });
    const end = t.lowerBound + 20n < t.upperBound ? t.lowerBound + 20n : t.upperBound;
    verifyStream(kind, t.root, t.upperBound, t.lowerBound, end, msgs);
    expect(server().stderr).toBe("");
    expect(server().lines.filter((l) => (l.level as number) >= 50)).toEqual([]); // no error/fatal log lines
  });
});
