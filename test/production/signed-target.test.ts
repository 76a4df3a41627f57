/**
 * Signed targets: a client with `--trusted-key` accepts a server's target only when a key it
 * trusts signed exactly `(kind, root, lower, upper)`; an untrusted signer, an unsigned target, a
 * forged target (any field changed after signing, initial or pushed) and a replayed older target
 * are refused with a clear error before anything is written, and a replay leaves the data already
 * synced untouched. `--target-root/--target-lower/--target-upper` syncs to exactly that target.
 * Real processes for the CLI paths; an in-process fake server (a gRPC proxy that can lie) for forgeries.
 */
import { cpSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import {
  Client,
  Server,
  ServerCredentials,
  type ServerUnaryCall,
  type ServerWritableStream,
  type ServiceDefinition,
  type UntypedServiceImplementation,
  type sendUnaryData,
  credentials,
} from "@grpc/grpc-js";
import { DatabaseKind, type GetSyncTargetResponse, SyncServiceService } from "../../gen/commonware/sync/v1/sync";
import { SyncClient } from "../../src/client";
import { AnyDb } from "../../src/qmdb";
import { type SyncTarget, TargetAuthError, TargetSigner, TargetVerifier, targetSigningMessage } from "../../src/sync";
import {
  type LogLine,
  type Proc,
  SERVER_BIN,
  SYNCED,
  cleanup,
  failure,
  getTarget,
  hex,
  run,
  snapshot,
  spawnClient,
  startServer,
  stub,
  tempDir,
} from "./helpers";

jest.setTimeout(40_000);
afterAll(cleanup);

/** A signing key made by `sync-server --generate-signing-key`. */
interface Key {
  /** The secret key (64 hex digits), for --signing-key. */
  readonly file: string;
  readonly publicKey: string;
  /** The public key in a file, for --trusted-key's file form. */
  readonly publicFile: string;
}

async function generateKey(): Promise<Key> {
  const file = path.join(tempDir("cw-key-"), "signing.key");
  const r = await run(SERVER_BIN, ["--generate-signing-key", file]);
  expect(r.code).toBe(0);
  const publicFile = path.join(path.dirname(file), "signing.pub");
  writeFileSync(publicFile, r.stdout);
  return { file, publicKey: r.stdout.trim(), publicFile };
}

/** Waits for the end of a client's first iteration; returns that line and stops the client. */
async function firstOutcome(client: Proc): Promise<LogLine> {
  const line = await client.waitForLog((l) => l.msg === SYNCED || l.msg === "sync failed", "the end of its first iteration");
  await client.stop();
  return line;
}

let keyA: Key;
let keyB: Key;
beforeAll(async () => {
  [keyA, keyB] = await Promise.all([generateKey(), generateKey()]);
});

test("--generate-signing-key writes a private 0600 key file, prints its public key, and never overwrites a key", async () => {
  const secret = readFileSync(keyA.file, "utf8").trim();
  expect(secret).toMatch(/^[0-9a-f]{64}$/);
  expect(statSync(keyA.file).mode & 0o777).toBe(0o600);
  expect(keyA.publicKey).toMatch(/^[0-9a-f]{64}$/);
  expect(hex(new TargetSigner(Buffer.from(secret, "hex")).publicKey)).toBe(keyA.publicKey);
  expect(keyB.publicKey).not.toBe(keyA.publicKey);

  const again = await run(SERVER_BIN, ["--generate-signing-key", keyA.file]);
  expect(again.code).not.toBe(0);
  expect(readFileSync(keyA.file, "utf8").trim()).toBe(secret);
});

describe("TargetVerifier", () => {
  const signer = new TargetSigner(Uint8Array.from({ length: 32 }, (_, i) => i + 1));
  const other = new TargetSigner(Uint8Array.from({ length: 32 }, (_, i) => 200 - i));
  const target: SyncTarget = { root: Uint8Array.from({ length: 32 }, (_, i) => 0xa0 ^ i), lowerBound: 7n, upperBound: 1000n };
  const signature = signer.sign("any", target);
  const verifier = new TargetVerifier([other.publicKey, signer.publicKey]);

  test("signs '\"commonware-sync/v1/target\" ‖ kind ‖ root ‖ lower (u64 BE) ‖ upper (u64 BE)'", () => {
    const m = targetSigningMessage("immutable", target);
    const prefix = Buffer.from("commonware-sync/v1/target");
    expect(m.length).toBe(prefix.length + 1 + 32 + 16);
    expect(Buffer.from(m.subarray(0, prefix.length))).toEqual(prefix);
    expect(m[prefix.length]).toBe(2);
    expect(targetSigningMessage("any", target)[prefix.length]).toBe(1);
    expect(Buffer.from(m.subarray(prefix.length + 1, prefix.length + 33))).toEqual(Buffer.from(target.root));
    expect(Buffer.from(m.subarray(prefix.length + 33)).toString("hex")).toBe("0000000000000007" + "00000000000003e8");
  });

  test("accepts the genuine target from any trusted key", () => {
    expect(() => verifier.verify("any", target, signature, signer.publicKey)).not.toThrow();
    expect(() => verifier.verify("any", target, other.sign("any", target), other.publicKey)).not.toThrow();
  });

  const flipped = (b: Uint8Array, i: number): Uint8Array => {
    const c = Uint8Array.from(b);
    c[i]! ^= 1;
    return c;
  };
  const forgeries: ReadonlyArray<[string, () => void, RegExp]> = [
    ["a root byte changed", () => verifier.verify("any", { ...target, root: flipped(target.root, 31) }, signature, signer.publicKey), /does not verify/],
    ["the lower bound raised", () => verifier.verify("any", { ...target, lowerBound: 8n }, signature, signer.publicKey), /does not verify/],
    ["the upper bound raised", () => verifier.verify("any", { ...target, upperBound: 1001n }, signature, signer.publicKey), /does not verify/],
    ["the upper bound lowered", () => verifier.verify("any", { ...target, upperBound: 999n }, signature, signer.publicKey), /does not verify/],
    ["the database kind switched", () => verifier.verify("immutable", target, signature, signer.publicKey), /does not verify/],
    ["a signature bit flipped", () => verifier.verify("any", target, flipped(signature, 10), signer.publicKey), /does not verify/],
    ["a truncated signature", () => verifier.verify("any", target, signature.subarray(0, 63), signer.publicKey), /64 bytes/],
    ["no signature", () => verifier.verify("any", target, new Uint8Array(0), new Uint8Array(0)), /not signed/],
    ["an untrusted signer", () => new TargetVerifier([other.publicKey]).verify("any", target, signature, signer.publicKey), /not a trusted key/],
    ["a trusted signer named, another key's signature", () => verifier.verify("any", target, other.sign("any", target), signer.publicKey), /does not verify/],
  ];
  test.each(forgeries)("rejects %s", (_what, verify, message) => {
    expect(verify).toThrow(TargetAuthError);
    expect(verify).toThrow(message);
  });

  test("needs at least one key, each of 32 bytes", () => {
    expect(() => new TargetVerifier([])).toThrow(TargetAuthError);
    expect(() => new TargetVerifier([new Uint8Array(31)])).toThrow(/32 bytes/);
  });
});

describe("a signing server and trusting clients (processes)", () => {
  let signed: Proc;
  let unsigned: Proc;
  beforeAll(async () => {
    [signed, unsigned] = await Promise.all([startServer({ extra: ["--signing-key", keyA.file] }), startServer({})]);
  });
  afterAll(() => Promise.all([signed.stop(), unsigned.stop()]));

  test("the server signs every target with its key, and says which key in its listening line", async () => {
    expect(signed.logs("server listening and continuously adding operations")[0]!.target_signing_key).toBe(keyA.publicKey);
    const t = await getTarget(stub(signed.addr));
    expect(hex(t.signer)).toBe(keyA.publicKey);
    const target = { root: t.target!.root, lowerBound: t.target!.lowerBound, upperBound: t.target!.upperBound };
    new TargetVerifier([Buffer.from(keyA.publicKey, "hex")]).verify("any", target, t.signature, t.signer);
    const plain = await getTarget(stub(unsigned.addr));
    expect(plain.signature.length).toBe(0);
    expect(plain.signer.length).toBe(0);
  });

  test("a client trusting the key syncs; one trusting another key, or facing an unsigned server, is refused and writes nothing", async () => {
    const trusting = spawnClient(signed.addr, ["--trusted-key", keyA.publicKey]);
    const trustingSeveral = spawnClient(signed.addr, ["--trusted-key", keyB.publicKey, "--trusted-key", keyA.publicFile]);
    const wrongKey = spawnClient(signed.addr, ["--trusted-key", keyB.publicKey]);
    const facingUnsigned = spawnClient(unsigned.addr, ["--trusted-key", keyA.publicKey]);
    const [ok, okSeveral, refused, refusedUnsigned] = await Promise.all([trusting, trustingSeveral, wrongKey, facingUnsigned].map(firstOutcome));

    expect(ok!.msg).toBe(SYNCED);
    expect(okSeveral!.msg).toBe(SYNCED);
    expect(refused!.msg).toBe("sync failed");
    expect(failure(refused!)).toMatch(new RegExp(`signed by ${keyA.publicKey}, which is not a trusted key`));
    expect(refusedUnsigned!.msg).toBe("sync failed");
    expect(failure(refusedUnsigned!)).toMatch(/not signed/);

    for (const client of [wrongKey, facingUnsigned]) {
      expect(client.logs("starting sync")).toEqual([]);
      expect(snapshot(client.dir)).toEqual([]);
      const db = await AnyDb.open(client.dir);
      expect(db.opCount).toBeLessThanOrEqual(1n);
      await db.close();
    }
  });

  test("--target-root/--target-lower/--target-upper syncs to exactly that (older) target and does not follow newer ones", async () => {
    const t = (await getTarget(stub(signed.addr))).target!;
    // Let the server move on, so the server's own target is no longer the one given.
    await signed.waitForLog(() => signed.logs("added operations").some((l) => BigInt(l.op_count as string) > t.upperBound), "a newer commit");
    const client = spawnClient(signed.addr, ["--target-root", hex(t.root), "--target-lower", String(t.lowerBound), "--target-upper", String(t.upperBound)]);
    const line = await firstOutcome(client);
    expect(line.msg).toBe(SYNCED);
    expect(line.root).toBe(hex(t.root));
    expect(line.op_count).toBe(String(t.upperBound));
    expect(client.logs("starting sync")[0]!.target).toEqual({ root: hex(t.root), lower_bound: String(t.lowerBound), upper_bound: String(t.upperBound) });
    expect(client.logs("following new target")).toEqual([]);
  });
});

test("a replayed older target, validly signed, is refused and the data already synced is neither changed nor wiped", async () => {
  const dir = tempDir("cw-replay-server-");
  const old = tempDir("cw-replay-old-");
  const signing = ["--signing-key", keyA.file];
  // The early state: the initial load only (no batches), kept as a copy.
  const early = await startServer({ dir, seed: 11, opInterval: "1h", extra: signing });
  expect(await early.stop()).toEqual({ code: 0, signal: null });
  cpSync(dir, old, { recursive: true });

  // The same server carries on; a trusting client syncs to one of its newer targets.
  const current = await startServer({ dir, seed: 11, opInterval: "50ms", extra: signing });
  await current.waitForLog(() => current.logs("added operations").length >= 3, "3 batches");
  const client = spawnClient(current.addr, ["--trusted-key", keyA.publicKey]);
  const synced = await firstOutcome(client);
  expect(synced.msg).toBe(SYNCED);
  await current.stop();

  // A server restored from the early copy, with the same key, serves the older, validly signed target.
  const replaying = await startServer({ dir: old, seed: 11, opInterval: "1h", extra: signing });
  const replayed = (await getTarget(stub(replaying.addr))).target!;
  expect(replayed.upperBound).toBeLessThan(BigInt(synced.op_count as string));

  const before = snapshot(client.dir);
  expect(before.length).toBeGreaterThan(0);
  const again = spawnClient(replaying.addr, ["--trusted-key", keyA.publicKey], client.dir);
  const fresh = spawnClient(replaying.addr, ["--trusted-key", keyA.publicKey]); // no history: the same target is fine
  const [refused, accepted] = await Promise.all([firstOutcome(again), firstOutcome(fresh)]);
  expect(refused.msg).toBe("sync failed");
  expect(failure(refused)).toMatch(/older than the one already synced.*replayed/);
  expect(again.logs("starting sync")).toEqual([]);
  expect(accepted.msg).toBe(SYNCED);
  expect(accepted.op_count).toBe(String(replayed.upperBound));

  expect(snapshot(client.dir)).toEqual(before);
  const db = await AnyDb.open(client.dir);
  expect(db.opCount).toBe(BigInt(synced.op_count as string));
  expect(hex(db.root())).toBe(synced.root);
  await db.close();
  await replaying.stop();
});

// ---------------------------------------------------------------------------------------------
// A lying server in process: a proxy to a real server that rewrites targets.

interface FakeServer {
  readonly addr: string;
  /** GetOperations calls received. */
  operationsCalls: number;
  close(): void;
}

interface Lies {
  /** The initial target served by GetSyncTarget. */
  readonly target: (genuine: GetSyncTargetResponse) => GetSyncTargetResponse;
  /** What WatchSyncTarget pushes after the genuine target (then it stays open). */
  readonly pushed?: (genuine: GetSyncTargetResponse) => GetSyncTargetResponse;
}

const OPERATIONS_PATH = SyncServiceService.getOperations.path;

async function fakeServer(upstreamAddr: string, lies: Lies): Promise<FakeServer> {
  const upstream = new Client(upstreamAddr, credentials.createInsecure());
  const up = stub(upstreamAddr);
  let pushedAt: Promise<void> = Promise.resolve();
  const server = new Server();
  const fake: FakeServer = { addr: "", operationsCalls: 0, close: () => undefined };
  const definition = {
    ...SyncServiceService,
    getOperations: { ...SyncServiceService.getOperations, requestDeserialize: (b: Buffer) => b, responseSerialize: (b: Buffer) => b },
  };
  const handlers = {
    getSyncTarget(_call: ServerUnaryCall<unknown, GetSyncTargetResponse>, callback: sendUnaryData<GetSyncTargetResponse>): void {
      getTarget(up).then(
        (t) => callback(null, lies.target(t)),
        (err: Error) => callback(err),
      );
    },
    watchSyncTarget(call: ServerWritableStream<unknown, GetSyncTargetResponse>): void {
      const push = lies.pushed;
      pushedAt = (async () => {
        const t = await getTarget(up);
        call.write(lies.target(t));
        if (push !== undefined) call.write(push(t));
        await new Promise((r) => setTimeout(r, 300)); // time for the client to read and judge it
      })();
      call.on("cancelled", () => call.end());
    },
    // Forwarded byte for byte, once any pushed lie has been delivered.
    getOperations(call: ServerWritableStream<Buffer, Buffer>): void {
      fake.operationsCalls++;
      void pushedAt.then(() => {
        const s = upstream.makeServerStreamRequest(
          OPERATIONS_PATH,
          (b: Buffer) => b,
          (b: Buffer) => b,
          call.request,
        );
        s.on("data", (d: Buffer) => call.write(d));
        s.on("error", (err) => call.emit("error", err));
        s.on("end", () => call.end());
        call.on("cancelled", () => s.cancel());
      });
    },
  };
  server.addService(definition as unknown as ServiceDefinition, handlers as unknown as UntypedServiceImplementation);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return Object.assign(fake, {
    addr: `127.0.0.1:${port}`,
    close: () => {
      upstream.close();
      server.forceShutdown();
    },
  });
}

/** A SyncClient's log, kept. */
function capture(): { lines: Array<{ level: string; msg: string; obj: object }>; logger: NonNullable<ConstructorParameters<typeof SyncClient>[0]["logger"]> } {
  const lines: Array<{ level: string; msg: string; obj: object }> = [];
  const at = (level: string) => (obj: object, msg: string) => void lines.push({ level, msg, obj });
  return { lines, logger: { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") } };
}

const tamper = (t: GetSyncTargetResponse, change: Partial<NonNullable<GetSyncTargetResponse["target"]>>): GetSyncTargetResponse => ({
  ...t,
  target: { ...t.target!, ...change },
});

describe("a lying server (in process, proxying a real signing server)", () => {
  let upstream: Proc;
  beforeAll(async () => {
    upstream = await startServer({ opInterval: "1h", extra: ["--signing-key", keyA.file] });
  });
  afterAll(() => upstream.stop());

  test.each([
    ["the upper bound raised after signing", (t: GetSyncTargetResponse) => tamper(t, { upperBound: t.target!.upperBound + 1n })],
    ["the lower bound raised after signing", (t: GetSyncTargetResponse) => tamper(t, { lowerBound: t.target!.lowerBound + 1n })],
    ["a root byte changed after signing", (t: GetSyncTargetResponse) => tamper(t, { root: Buffer.from(t.target!.root.map((b, i) => (i === 0 ? b ^ 1 : b))) })],
    ["the database kind changed after signing", (t: GetSyncTargetResponse) => ({ ...t, database: DatabaseKind.DATABASE_KIND_IMMUTABLE })],
  ])("a forged initial target (%s) is refused before any operation is requested or written", async (_what, forge) => {
    const fake = await fakeServer(upstream.addr, { target: forge });
    const dir = tempDir("cw-forged-");
    const kind = forge(await getTarget(stub(upstream.addr))).database === DatabaseKind.DATABASE_KIND_IMMUTABLE ? "immutable" : "any";
    const client = new SyncClient({ server: fake.addr, kind, directory: dir, trustedKeys: [Buffer.from(keyA.publicKey, "hex")] });
    try {
      await expect(client.syncOnce(1)).rejects.toThrow(TargetAuthError);
      await expect(client.syncOnce(2)).rejects.toThrow(/does not verify/);
    } finally {
      fake.close();
    }
    expect(fake.operationsCalls).toBe(0);
    expect(snapshot(dir)).toEqual([]);
  });

  test("a forged pushed target update is rejected with a warning, and the sync completes at the genuine target", async () => {
    const genuine = await getTarget(stub(upstream.addr));
    const fake = await fakeServer(upstream.addr, {
      target: (t) => t,
      pushed: (t) => tamper(t, { upperBound: t.target!.upperBound + 5n }),
    });
    const { lines, logger } = capture();
    const client = new SyncClient({
      server: fake.addr,
      kind: "any",
      directory: tempDir("cw-forged-push-"),
      trustedKeys: [Buffer.from(keyA.publicKey, "hex")],
      logger,
    });
    try {
      const result = await client.syncOnce(1);
      expect(hex(result.target.root)).toBe(hex(genuine.target!.root));
      expect(result.target.upperBound).toBe(genuine.target!.upperBound);
    } finally {
      fake.close();
    }
    const rejected = lines.filter((l) => l.msg === "rejected a target update");
    expect(rejected).toHaveLength(1);
    expect(String((rejected[0]!.obj as { err: unknown }).err)).toMatch(/does not verify/);
    expect(lines.filter((l) => l.msg === "following new target")).toEqual([]);
  });
});
