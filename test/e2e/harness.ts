/**
 * End-to-end harness: spawns real `sync-server` processes (bin/sync-server.js over dist/, so
 * `tsc -p tsconfig.json` must have run), bound to 127.0.0.1 on free ports with temporary storage,
 * and reads their JSON log lines. Every process, client and directory made here is tracked;
 * `cleanup()` (register it with `afterAll`) SIGKILLs what still runs and removes the directories.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readdirSync, rmSync, statSync } from "node:fs";
import path from "node:path";
import { makeTempDir } from "../helpers/tmp";
import { type Exit, type LogLine, Proc, killAll } from "../helpers/process";
import { Client, type ServiceError, credentials, status } from "@grpc/grpc-js";
import { type GetOperationsRequest, type GetOperationsResponse, type GetSyncTargetResponse, SyncServiceClient } from "../../gen/commonware/sync/v1/sync";
import { mmrSize, verifyRangeInclusion } from "../../src/mmr";
import { encodeProtoOperation } from "../../src/wire";

export const ROOT = path.resolve(__dirname, "../..");
export const SERVER_BIN = path.join(ROOT, "bin/sync-server.js");
const SERVER_JS = path.join(ROOT, "dist/src/cli/server.js");

export type Kind = "any" | "immutable";
export const KINDS: readonly Kind[] = ["any", "immutable"];

let checkedBuild = false;

/** Fails fast, with the fix, when dist/ has not been built; warns when src/ is newer than dist/. */
export function requireBuilt(): void {
  if (!existsSync(SERVER_JS)) throw new Error(`${SERVER_JS} is missing: run \`npx tsc -p tsconfig.json\` (or \`npm test\`) first`);
  if (checkedBuild) return;
  checkedBuild = true;
  const built = statSync(SERVER_JS).mtimeMs;
  const newer = readdirSync(path.join(ROOT, "src"), { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts"))
    .filter((f) => (statSync(path.join(ROOT, "src", f), { throwIfNoEntry: false })?.mtimeMs ?? 0) > built);
  if (newer.length > 0) {
    console.warn(
      `e2e: dist/ is older than ${newer
        .slice(0, 3)
        .map((f) => `src/${f}`)
        .join(", ")}${newer.length > 3 ? ", …" : ""}; the servers run the old build (run \`npx tsc -p tsconfig.json\`)`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Temporary directories

const dirs: string[] = [];

/** A fresh storage directory (in RAM when /dev/shm exists), removed by `cleanup`. */
export function tempDir(prefix = "cw-e2e-"): string {
  const d = makeTempDir(prefix);
  dirs.push(d);
  return d;
}

// ---------------------------------------------------------------------------------------------
// Server processes

export type { Exit, LogLine };

/** A spawned `sync-server` and everything it printed. */
export class ServerProcess extends Proc {
  constructor(
    child: ChildProcess,
    readonly args: readonly string[],
  ) {
    super("server", child);
  }

  /** Waits until the server has logged `n` "added operations" lines in total; returns them. */
  async waitForBatches(n: number, timeoutMs = 15_000): Promise<LogLine[]> {
    await this.waitForLog(() => this.logs("added operations").length >= n, `${n} "added operations" lines`, timeoutMs);
    return this.logs("added operations");
  }

  /** The metrics endpoint's address ("127.0.0.1:PORT"). */
  get metricsAddr(): string {
    return this.field("server listening and continuously adding operations", "metrics_addr");
  }

  /** The "database ready" line's op count and root (hex). */
  get ready(): { opCount: bigint; root: string } {
    return { opCount: BigInt(this.field("database ready", "op_count")), root: this.field("database ready", "root") };
  }

  /** The last committed state the server reported: its last "added operations" line, else "database ready". */
  get lastReported(): { opCount: bigint; root: string } {
    const added = this.logs("added operations");
    const last = added[added.length - 1];
    return last === undefined ? this.ready : { opCount: BigInt(last.op_count as string), root: last.root as string };
  }

  private field(msg: string, name: string): string {
    const line = this.logs(msg)[0];
    if (line === undefined || typeof line[name] !== "string") throw new Error(`no "${msg}" line with ${name}; got: ${this.tail()}`);
    return line[name] as string;
  }
}

/** Spawns `node bin/sync-server.js ...args` (does not wait for anything). */
export function spawnServer(args: readonly string[]): ServerProcess {
  requireBuilt();
  const child = spawn(process.execPath, [SERVER_BIN, ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  return new ServerProcess(child, args);
}

/** Server settings for `startServer`; anything unset gets a fast test value. */
export interface StartOptions {
  readonly db: Kind;
  readonly dir?: string;
  readonly initialOps?: number;
  readonly opInterval?: string;
  readonly opsPerInterval?: number;
  readonly extra?: readonly string[];
}

/** The command line `startServer` uses. */
export function serverArgs(o: StartOptions & { dir: string }): string[] {
  return [
    "--db",
    o.db,
    "--host",
    "127.0.0.1",
    "-p",
    "0",
    "-m",
    "0",
    "-d",
    o.dir,
    "-i",
    String(o.initialOps ?? 100),
    "-t",
    o.opInterval ?? "20ms",
    "-o",
    String(o.opsPerInterval ?? 5),
    "--log-format",
    "json",
    "--log-level",
    "debug",
    ...(o.extra ?? []),
  ];
}

/** Starts a server and waits until it listens. */
export async function startServer(o: StartOptions): Promise<ServerProcess> {
  const server = spawnServer(serverArgs({ ...o, dir: o.dir ?? tempDir() }));
  await server.waitForLog((l) => l.msg === "server listening and continuously adding operations", `"server listening" (${o.db})`);
  return server;
}

// ---------------------------------------------------------------------------------------------
// Clients

const clients = new Set<Client>();

/** A typed client (generated stub) to `addr`, closed by `cleanup`. */
export function syncClient(addr: string): SyncServiceClient {
  const c = new SyncServiceClient(addr, credentials.createInsecure());
  clients.add(c);
  return c;
}

/** A bare grpc-js client for raw-bytes calls, closed by `cleanup`. */
export function rawClient(addr: string): Client {
  const c = new Client(addr, credentials.createInsecure());
  clients.add(c);
  return c;
}

export function getTarget(c: SyncServiceClient): Promise<GetSyncTargetResponse> {
  return new Promise((resolve, reject) => c.getSyncTarget({}, (err, res) => (err ? reject(err) : resolve(res))));
}

/** Polls until the served target's upper bound exceeds `above`. */
export async function waitForTargetAbove(c: SyncServiceClient, above: bigint, timeoutMs = 10_000): Promise<GetSyncTargetResponse> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const t = await getTarget(c);
    if (t.target!.upperBound > above) return t;
    if (Date.now() > deadline) throw new Error(`target stayed at ${t.target!.upperBound} (wanted > ${above}) for ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Options of `collectStream`. */
export interface CollectOptions {
  /** Pause this long after each message (a slow reader). */
  readonly readDelayMs?: number;
  /** Called with each message as it arrives; if it returns a promise, reading pauses until it settles. */
  readonly onMessage?: (m: GetOperationsResponse, index: number) => void | Promise<unknown>;
}

/** Reads a whole GetOperations stream; resolves on status OK, rejects with the ServiceError otherwise. */
export function collectStream(c: SyncServiceClient, req: GetOperationsRequest, opts: CollectOptions = {}): Promise<GetOperationsResponse[]> {
  return new Promise((resolve, reject) => {
    const messages: GetOperationsResponse[] = [];
    const call = c.getOperations(req);
    call.on("data", (m: GetOperationsResponse) => {
      messages.push(m);
      const wait = opts.onMessage?.(m, messages.length - 1);
      if (wait === undefined && opts.readDelayMs === undefined) return;
      call.pause();
      Promise.resolve(wait)
        .then(() => new Promise((r) => setTimeout(r, opts.readDelayMs ?? 0)))
        .then(
          () => call.resume(),
          (err: unknown) => {
            call.cancel();
            reject(err);
          },
        );
    });
    call.on("error", (err: ServiceError) => reject(err));
    // 'end' alone does not mean success (grpc/grpc#8134), and grpc-js emits 'status' before a
    // paused reader has consumed the buffered messages: resolve once both have happened.
    let ok = false;
    let ended = false;
    const settle = (): void => {
      if (ok && ended) resolve(messages);
    };
    call.on("status", (s) => {
      ok = s.code === status.OK;
      settle();
    });
    call.on("end", () => {
      ended = true;
      settle();
    });
  });
}

/** The status a call failed with (rejects if it succeeded). */
export async function expectStatus<T>(p: Promise<T>): Promise<ServiceError> {
  try {
    await p;
  } catch (err) {
    return err as ServiceError;
  }
  throw new Error("call succeeded, but an error status was expected");
}

// ---------------------------------------------------------------------------------------------
// Verification

/** What `verifyStream` checked. */
export interface VerifiedStream {
  readonly messages: number;
  readonly operations: number;
  readonly largestBatch: number;
}

/**
 * Checks that `messages` cover `[startLoc, endLoc)` contiguously, that each one's proof is
 * against the MMR of `opCount` leaves, and that each verifies on its own against `root` after
 * re-encoding its operations canonically. Throws with the failing message's evidence.
 */
export function verifyStream(
  kind: Kind,
  root: Uint8Array,
  opCount: bigint,
  startLoc: bigint,
  endLoc: bigint,
  messages: readonly GetOperationsResponse[],
): VerifiedStream {
  let next = startLoc;
  let largestBatch = 0;
  messages.forEach((m, i) => {
    const where = `message ${i} (start_loc ${m.startLoc}, ${m.operations.length} ops)`;
    if (m.startLoc !== next) throw new Error(`${where}: expected start_loc ${next} (messages must be contiguous)`);
    if (m.operations.length === 0) throw new Error(`${where}: carries no operations`);
    if (m.proof === undefined) throw new Error(`${where}: has no proof`);
    if (m.proof.size !== mmrSize(opCount)) throw new Error(`${where}: proof size ${m.proof.size}, expected mmrSize(${opCount}) = ${mmrSize(opCount)}`);
    const elements = m.operations.map((op, j) => encodeProtoOperation(kind, op, `messages[${i}].operations[${j}]`));
    if (!verifyRangeInclusion(m.proof, elements, m.startLoc, root)) {
      throw new Error(`${where}: proof does not verify against root ${Buffer.from(root).toString("hex")} at op_count ${opCount}`);
    }
    largestBatch = Math.max(largestBatch, m.operations.length);
    next += BigInt(m.operations.length);
  });
  if (next !== endLoc) throw new Error(`stream ended at ${next}, expected ${endLoc}`);
  return { messages: messages.length, operations: Number(endLoc - startLoc), largestBatch };
}

// ---------------------------------------------------------------------------------------------
// Child commands

/** Result of a finished child command. */
export interface RunResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command to completion (killed with SIGKILL after `timeoutMs`). */
export function run(cmd: string, args: readonly string[], timeoutMs = 20_000): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (s: string) => (stdout += s));
    child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr += s));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

// ---------------------------------------------------------------------------------------------

/** Closes clients, SIGKILLs every server still running, removes temporary directories. */
export async function cleanup(): Promise<void> {
  for (const c of clients) c.close();
  clients.clear();
  await killAll();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

export { toHex as hex } from "../../src/codec";
