/**
 * Fixtures for the production tests (issue 6): a throwaway PKI made with `openssl` at test time
 * (two unrelated CAs, a server certificate for 127.0.0.1/localhost, two client certificates from
 * the first CA and one from the other; nothing is committed), real `sync-server`/`sync-client` processes on 127.0.0.1 with free
 * ports whose JSON log lines are collected, gRPC stubs with or without TLS, and a look at what a
 * client's storage directory holds. `cleanup()` (register it with `afterAll`) SIGKILLs what still
 * runs, closes stubs and removes every directory made here. Needs `npx tsc -p tsconfig.json`.
 */
import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { makeTempDir } from "../helpers/tmp";
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
  const d = makeTempDir(prefix);
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
    "req",
    "-x509",
    "-new",
    "-key",
    `${name}.key`,
    "-subj",
    `/CN=${name} (throwaway test CA)`,
    "-days",
    "2",
    "-out",
    `${name}.pem`,
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
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
    "x509",
    "-req",
    "-in",
    `${name}.csr`,
    "-CA",
    `${ca}.pem`,
    "-CAkey",
    `${ca}.key`,
    "-CAcreateserial",
    "-days",
    "2",
    "-extfile",
    `${name}.ext`,
    "-out",
    `${name}.pem`,
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
    dir,
    ca: p("ca.pem"),
    otherCa: p("other-ca.pem"),
    serverCert: p("server.pem"),
    serverKey: p("server.key"),
    clientCert: p("client.pem"),
    clientKey: p("client.key"),
    client2Cert: p("client2.pem"),
    client2Key: p("client2.key"),
    otherClientCert: p("other-client.pem"),
    otherClientKey: p("other-client.key"),
  };
}

/** Channel credentials trusting `ca`, optionally presenting a client certificate. */
export function tlsCredentials(ca: string, cert?: { cert: string; key: string }): ChannelCredentials {
  return credentials.createSsl(readFileSync(ca), cert === undefined ? null : readFileSync(cert.key), cert === undefined ? null : readFileSync(cert.cert));
}

// ---------------------------------------------------------------------------------------------
// Processes

import { type Exit, type LogLine, LISTENING, Proc, killAll } from "../helpers/process";

export { type Exit, type LogLine, LISTENING, Proc };
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
    "--db",
    s.db ?? "any",
    "--host",
    "127.0.0.1",
    "-p",
    "0",
    "-m",
    "0",
    "-d",
    s.dir ?? tempDir(),
    "-i",
    String(s.initialOps ?? 100),
    "-t",
    s.opInterval ?? "50ms",
    "-o",
    String(s.opsPerInterval ?? 5),
    ...(s.seed === undefined ? [] : ["--seed", String(s.seed)]),
    "--shutdown-grace",
    "1s",
    "--log-format",
    "json",
    "--log-level",
    "debug",
    ...(s.extra ?? []),
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
  await killAll();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

export { toHex as hex } from "../../src/codec";
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
