/**
 * End-to-end with a third-party client: `buf curl` (shipped in @bufbuild/buf, our grpcurl
 * replacement) discovers the service through server reflection (v1 and v1alpha), calls it with
 * JSON, and reads grpc.health.v1 — against real server processes of both kinds.
 */
import { existsSync } from "node:fs";
import path from "node:path";
import { KINDS, type Kind, ROOT, type RunResult, type ServerProcess, cleanup, run, startServer } from "./harness";

jest.setTimeout(30_000);

/**
 * The native buf binary of @bufbuild/buf's platform package when present (what `npx buf` ends up
 * running, minus ~0.3 s of Node start-up per call), else the npm shim.
 */
function bufBinary(): string {
  const native = path.join(ROOT, "node_modules/@bufbuild", `buf-${process.platform}-${process.arch === "x64" ? "x64" : process.arch}`, "bin/buf");
  return existsSync(native) ? native : path.join(ROOT, "node_modules/.bin/buf");
}
const BUF = bufBinary();
const SYNC = "commonware.sync.v1.SyncService";
const HEALTH = "grpc.health.v1.Health";

const servers = new Map<Kind, ServerProcess>();

beforeAll(async () => {
  const started = await Promise.all(KINDS.map((db) => startServer({ db, initialOps: 30, opInterval: "50ms" })));
  KINDS.forEach((k, i) => servers.set(k, started[i]!));
});
afterAll(cleanup);

/** `buf curl --protocol grpc --http2-prior-knowledge ...` against `addr` (`pathSuffix` is "/Service/Method" or ""). */
function bufCurl(addr: string, pathSuffix: string, ...flags: string[]): Promise<RunResult> {
  return run(BUF, ["curl", "--protocol", "grpc", "--http2-prior-knowledge", ...flags, `http://${addr}${pathSuffix}`]);
}

/** buf curl prints each response message as pretty JSON; split the top-level objects. */
function jsonMessages(stdout: string): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  let current: string[] = [];
  for (const line of stdout.split("\n")) {
    if (line === "" && current.length === 0) continue;
    current.push(line);
    if (line === "}") {
      out.push(JSON.parse(current.join("\n")) as Record<string, unknown>);
      current = [];
    }
  }
  if (current.join("").trim() !== "") throw new Error(`unparsed buf curl output: ${current.join("\n")}`);
  return out;
}

function ok(r: RunResult): RunResult {
  if (r.code !== 0) throw new Error(`buf curl exited ${r.code}: ${r.stderr}`);
  return r;
}

describe.each(KINDS)("--db %s", (kind) => {
  const addr = (): string => servers.get(kind)!.addr;

  test("--list-services (reflection v1 and v1alpha) lists the sync and health services; --list-methods the RPCs", async () => {
    const [v1, v1alpha, methods] = await Promise.all([
      bufCurl(addr(), "", "--list-services"),
      bufCurl(addr(), "", "--list-services", "--reflect-protocol", "grpc-v1alpha"),
      bufCurl(addr(), "", "--list-methods"),
    ]);
    for (const r of [v1, v1alpha]) expect(ok(r).stdout.split("\n").filter(Boolean).sort()).toEqual([SYNC, HEALTH].sort());
    expect(ok(methods).stdout.split("\n")).toEqual(expect.arrayContaining([`${SYNC}/GetSyncTarget`, `${SYNC}/GetOperations`, `${HEALTH}/Check`]));
  });

  test("GetSyncTarget through reflection returns the kind, a 32-byte root and lower < upper", async () => {
    const [msg] = jsonMessages(ok(await bufCurl(addr(), `/${SYNC}/GetSyncTarget`, "-d", "{}")).stdout);
    expect(msg!.database).toBe(kind === "any" ? "DATABASE_KIND_ANY" : "DATABASE_KIND_IMMUTABLE");
    const target = msg!.target as { root: string; lowerBound?: string; upperBound: string };
    expect(Buffer.from(target.root, "base64").length).toBe(32);
    expect(BigInt(target.lowerBound ?? "0")).toBeLessThan(BigInt(target.upperBound));
  });

  test("GetOperations through reflection prints typed operations a person can read", async () => {
    const req = { opCount: "20", startLoc: "1", maxOps: "5", batchSize: 2 };
    const msgs = jsonMessages(ok(await bufCurl(addr(), `/${SYNC}/GetOperations`, "-d", JSON.stringify(req))).stdout);
    expect(msgs.map((m) => (m.operations as unknown[]).length)).toEqual([2, 2, 1]);
    expect(msgs.map((m) => m.startLoc)).toEqual(["1", "3", "5"]);
    const variants = msgs.flatMap((m) => (m.operations as Array<Record<string, unknown>>).map((op) => Object.keys(op)[0]));
    const allowed = kind === "any" ? ["anyUpdate", "anyDelete", "anyCommitFloor"] : ["immutableSet", "immutableCommit"];
    for (const v of variants) expect(allowed).toContain(v);
    expect(variants).toContain(kind === "any" ? "anyUpdate" : "immutableSet");
  });

  test("a bad request through buf curl reports invalid_argument (exit 3×8) naming the field", async () => {
    const r = await bufCurl(addr(), `/${SYNC}/GetOperations`, "-d", JSON.stringify({ opCount: "10", startLoc: "0", maxOps: "0" }));
    expect(r.code).toBe(24);
    const err = JSON.parse(r.stderr) as { code: string; message: string };
    expect(err.code).toBe("invalid_argument");
    expect(err.message).toMatch(/max_ops/);
  });

  test.each(["", SYNC])("grpc.health.v1.Health/Check reports SERVING for service %j", async (service) => {
    const [msg] = jsonMessages(ok(await bufCurl(addr(), `/${HEALTH}/Check`, "-d", JSON.stringify({ service }))).stdout);
    expect(msg).toEqual({ status: "SERVING" });
  });

  test("Health/Check for an unknown service is NOT_FOUND (exit 5×8)", async () => {
    const r = await bufCurl(addr(), `/${HEALTH}/Check`, "-d", JSON.stringify({ service: "no.such.Service" }));
    expect(r.code).toBe(40);
    expect((JSON.parse(r.stderr) as { code: string }).code).toBe("not_found");
  });
});
