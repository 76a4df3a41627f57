/**
 * Fixtures for the production tests (issue 6): a throwaway PKI made with `openssl` at test time
 * (two unrelated CAs, a server certificate for 127.0.0.1/localhost, two client certificates from
 * the first CA and one from the other; nothing is committed), real `sync-server`/`sync-client` processes on 127.0.0.1 with free
 * ports whose JSON log lines are collected, gRPC stubs with or without TLS, and a look at what a
 * client's storage directory holds. `cleanup()` (register it with `afterAll`) SIGKILLs what still
 * runs, closes stubs and removes every directory made here. Needs `npx tsc -p tsconfig.json`.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { type ChannelCredentials, type Client, Metadata, type ServiceError, credentials } from "@grpc/grpc-js";
import { type GetSyncTargetResponse, SyncServiceClient } from "../../gen/commonware/sync/v1/sync";

export const ROOT = path.resolve(__dirname, "../..");
export const SERVER_BIN = path.join(ROOT, "bin/sync-server.js");
export const CLIENT_BIN = path.join(ROOT, "bin/sync-client.js");

/** Fails fast, with the fix, when dist/ has not been built. */
export function requireBuilt(): void {
  for (const f of ["dist/src/cli/server.js", "dist/src/cli/client.js"]) {
    if (!existsSync(path.join(ROOT, f))) throw new Error(`${f} is missing: run \`npx tsc -p tsconfig.json\` first`);
  }
}

// ---------------------------------------------------------------------------------------------
// Temporary directories

const dirs: string[] = [];

/** A fresh directory (in RAM when /dev/shm exists), removed by `cleanup`. */
export function tempDir(prefix = "cw-prod-"): string {
  const base = existsSync("/dev/shm") ? "/dev/shm" : tmpdir();
  const d = mkdtempSync(path.join(base, prefix));
  dirs.push(d);
  return d;
}

/** Every regular file under `dir` with its size and SHA-256 (sorted by path): a snapshot to compare. */
export function snapshot(dir: string): Array<{ file: string; size: number; sha256: string }> {
  if (!existsSync(dir)) return [];
  return (readdirSync(dir, { recursive: true, encoding: "utf8" }) as string[])
    .filter((f) => statSync(path.join(dir, f)).isFile())
    .sort()
    .map((f) => {
      const bytes = readFileSync(path.join(dir, f));
      return { file: f, size: bytes.length, sha256: createHash("sha256").update(bytes).digest("hex") };
    });
}

// ---------------------------------------------------------------------------------------------
// A throwaway PKI

/** Paths of PEM files made by `makePki`. */
export interface Pki {
  readonly dir: string;
  /** The CA that issued the server's and the good client's certificates. */
  readonly ca: string;
  /** An unrelated CA (its own key) that issued `otherClientCert`. */
  readonly otherCa: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
  /** A second client of the same CA (another identity). */
  readonly client2Cert: string;
  readonly client2Key: string;
  readonly otherClientCert: string;
  readonly otherClientKey: string;
}

function openssl(cwd: string, args: readonly string[]): void {
  execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
}

function newKey(cwd: string, file: string): void {
  openssl(cwd, ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", file]);
}

function newCa(cwd: string, name: string): void {
  newKey(cwd, `${name}.key`);
  openssl(cwd, [
    "req", "-x509", "-new", "-key", `${name}.key`, "-subj", `/CN=${name} (throwaway test CA)`, "-days", "2", "-out", `${name}.pem`,
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
  ]);
}

function issue(cwd: string, ca: string, name: string, cn: string): void {
  newKey(cwd, `${name}.key`);
  openssl(cwd, ["req", "-new", "-key", `${name}.key`, "-subj", `/CN=${cn}`, "-out", `${name}.csr`]);
  writeFileSync(
    path.join(cwd, `${name}.ext`),
    "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
  );
  openssl(cwd, [
    "x509", "-req", "-in", `${name}.csr`, "-CA", `${ca}.pem`, "-CAkey", `${ca}.key`, "-CAcreateserial", "-days", "2",
    "-extfile", `${name}.ext`, "-out", `${name}.pem`,
  ]);
}

/** Generates two CAs and four certificates (EC P-256) in a fresh temporary directory. */
export function makePki(): Pki {
  const dir = tempDir("cw-pki-");
  newCa(dir, "ca");
  newCa(dir, "other-ca");
  issue(dir, "ca", "server", "localhost");
  issue(dir, "ca", "client", "good client");
  issue(dir, "ca", "client2", "second good client");
  issue(dir, "other-ca", "other-client", "client of another CA");
  const p = (f: string): string => path.join(dir, f);
  return {
    dir, ca: p("ca.pem"), otherCa: p("other-ca.pem"),
    serverCert: p("server.pem"), serverKey: p("server.key"),
    clientCert: p("client.pem"), clientKey: p("client.key"),
    client2Cert: p("client2.pem"), client2Key: p("client2.key"),
    otherClientCert: p("other-client.pem"), otherClientKey: p("other-client.key"),
  };
}

/** Channel credentials trusting `ca`, optionally presenting a client certificate. */
export function tlsCredentials(ca: string, cert?: { cert: string; key: string }): ChannelCredentials {
  return credentials.createSsl(readFileSync(ca), cert === undefined ? null : readFileSync(cert.key), cert === undefined ? null : readFileSync(cert.cert));
}

// ---------------------------------------------------------------------------------------------
// Processes

/** One JSON log line. */
export interface LogLine {
  readonly msg: string;
  readonly [field: string]: unknown;
}

/** How a process ended. */
export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

const processes = new Set<Proc>();

/** A spawned binary and everything it printed. */
export class Proc {
  readonly lines: LogLine[] = [];
  readonly rawLines: string[] = [];
  stderr = "";
  exitInfo: Exit | undefined;
  readonly exited: Promise<Exit>;
  private readonly listeners = new Set<() => void>();

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    processes.add(this);
    createInterface({ input: child.stdout! }).on("line", (line) => {
      try {
        this.lines.push(JSON.parse(line) as LogLine);
      } catch {
        this.rawLines.push(line);
      }
      for (const l of [...this.listeners]) l();
    });
    child.stderr!.setEncoding("utf8").on("data", (s: string) => (this.stderr += s));
    this.exited = new Promise((resolve) => {
      child.once("exit", (code, signal) => {
        this.exitInfo = { code, signal };
        processes.delete(this);
        for (const l of [...this.listeners]) l();
        resolve(this.exitInfo);
      });
    });
  }

  get running(): boolean {
    return this.exitInfo === undefined;
  }

  /** Lines with message `msg`. */
  logs(msg: string): LogLine[] {
    return this.lines.filter((l) => l.msg === msg);
  }

  /** The first line matching `pred`; rejects on timeout or if the process exits first. */
  waitForLog(pred: (l: LogLine) => boolean, what: string, timeoutMs = 20_000): Promise<LogLine> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const hit = this.lines.find(pred);
        if (hit !== undefined) return done(() => resolve(hit));
        if (this.exitInfo !== undefined) {
          return done(() => reject(new Error(`${this.name} exited (${JSON.stringify(this.exitInfo)}) before logging ${what}; ${this.tail()}`)));
        }
      };
      const timer = setTimeout(() => done(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${this.name} to log ${what}; ${this.tail()}`))), timeoutMs);
      const done = (f: () => void): void => {
        clearTimeout(timer);
        this.listeners.delete(check);
        f();
      };
      this.listeners.add(check);
      check();
    });
  }

  /** Waits for a line with message `msg`. */
  waitForMsg(msg: string, timeoutMs?: number): Promise<LogLine> {
    return this.waitForLog((l) => l.msg === msg, `"${msg}"`, timeoutMs);
  }

  /** The gRPC address from a server's "server listening …" line. */
  get addr(): string {
    const line = this.logs(LISTENING)[0];
    if (line === undefined || typeof line.addr !== "string") throw new Error(`${this.name} has not logged its address; ${this.tail()}`);
    return line.addr;
  }

  /** Sends `signal`; resolves when the process has exited. */
  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<Exit> {
    if (this.running) this.child.kill(signal);
    return this.exited;
  }

  tail(n = 6): string {
    return `last lines: ${[...this.lines.slice(-n).map((l) => JSON.stringify(l)), ...this.rawLines.slice(-n)].join("\n")}\nstderr: ${this.stderr}`;
  }
}

export const LISTENING = "server listening and continuously adding operations";
export const SYNCED = "✅ sync completed successfully";

function spawnBin(name: string, bin: string, args: readonly string[]): Proc {
  requireBuilt();
  return new Proc(name, spawn(process.execPath, [bin, ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] }));
}

/** Server settings; anything unset gets a fast test value. */
export interface ServerSettings {
  readonly db?: "any" | "immutable";
  readonly dir?: string;
  readonly initialOps?: number;
  readonly opInterval?: string;
  readonly opsPerInterval?: number;
  readonly seed?: number;
  readonly extra?: readonly string[];
}

/** Spawns a server (does not wait). */
export function spawnServer(s: ServerSettings = {}): Proc {
  const args = [
    "--db", s.db ?? "any", "--host", "127.0.0.1", "-p", "0", "-m", "0", "-d", s.dir ?? tempDir(),
    "-i", String(s.initialOps ?? 100), "-t", s.opInterval ?? "50ms", "-o", String(s.opsPerInterval ?? 5),
    ...(s.seed === undefined ? [] : ["--seed", String(s.seed)]),
    "--shutdown-grace", "1s", "--log-format", "json", ...(s.extra ?? []),
  ];
  return spawnBin("sync-server", SERVER_BIN, args);
}

/**
 * Starts a server and waits until it listens. It then waits a little more: the server logs that
 * it listens just before it installs its SIGTERM handler, and a SIGTERM in that window kills it
 * without a graceful shutdown (reported; `lifecycle.test.ts` shows it). Tests here that stop a
 * server want the graceful path.
 */
export async function startServer(s: ServerSettings = {}): Promise<Proc> {
  const server = spawnServer(s);
  await server.waitForMsg(LISTENING);
  await sleep(SIGNAL_HANDLER_SETTLE_MS);
  return server;
}

const SIGNAL_HANDLER_SETTLE_MS = 100;

/** Spawns a client of `addr` with a fresh (or given) storage directory; `extra` adds flags. */
export function spawnClient(addr: string, extra: readonly string[] = [], dir = tempDir("cw-prod-client-")): Proc & { dir: string } {
  const args = ["-s", addr, "-m", "0", "-d", dir, "-i", "200ms", "-t", "200ms", "--log-format", "json", ...extra];
  return Object.assign(spawnBin("sync-client", CLIENT_BIN, args), { dir });
}

/** The message of a client's "sync failed" line (pino serializes `err`). */
export function failure(l: LogLine): string {
  const err = l.err as { message?: string } | string | undefined;
  return typeof err === "string" ? err : (err?.message ?? "");
}

/** Runs a binary to completion (SIGKILLed after `timeoutMs`). */
export function run(bin: string, args: readonly string[], timeoutMs = 20_000): Promise<Exit & { stdout: string; stderr: string }> {
  requireBuilt();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (s: string) => (stdout += s));
    child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr += s));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("error", reject);
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

// ---------------------------------------------------------------------------------------------
// gRPC stubs

const stubs = new Set<Client>();

/**
 * A generated stub on its own connection (a local subchannel pool, so two stubs to one address
 * never share a connection: the server tells clients apart by connection).
 */
export function stub(addr: string, creds: ChannelCredentials = credentials.createInsecure(), options: Record<string, number> = {}): SyncServiceClient {
  const c = new SyncServiceClient(addr, creds, { "grpc.use_local_subchannel_pool": 1, ...options });
  stubs.add(c);
  return c;
}

/** One GetSyncTarget call: the response, or the ServiceError with its trailers. */
export function getTarget(c: SyncServiceClient, deadlineMs = 5000): Promise<GetSyncTargetResponse> {
  return new Promise((resolve, reject) =>
    c.getSyncTarget({}, new Metadata(), { deadline: Date.now() + deadlineMs }, (err, res) => (err ? reject(err) : resolve(res))),
  );
}

/** The error a promise rejects with (fails if it resolves). */
export async function rejection<T>(p: Promise<T>): Promise<ServiceError> {
  try {
    await p;
  } catch (err) {
    return err as ServiceError;
  }
  throw new Error("the call succeeded, but it should have failed");
}

// ---------------------------------------------------------------------------------------------

/** Closes stubs, SIGKILLs every process still running, removes temporary directories. */
export async function cleanup(): Promise<void> {
  for (const c of stubs) c.close();
  stubs.clear();
  const running = [...processes];
  for (const p of running) p.child.kill("SIGKILL");
  await Promise.all(running.map((p) => p.exited));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

export const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
