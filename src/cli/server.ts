/**
 * `sync-server`: owns a database, keeps adding operations, and serves sync targets and proven
 * operations over gRPC (see README). Exits 0 after a graceful shutdown on SIGINT/SIGTERM, 2 on a
 * bad command line, 1 on any other failure.
 */
import { runVerify } from "./verify";
import { writeFileSync } from "node:fs";
import {
  DEFAULT_IDLE_CONNECTION_TIMEOUT_MS,
  DEFAULT_LIMITS,
  DEFAULT_RATE_LIMITS,
  DEFAULT_SEND_LIMITS,
  DEFAULT_SHUTDOWN_GRACE_MS,
  InitialLoadStopped,
  SyncServer,
} from "../server";
import { createLogger } from "../telemetry";
import {
  COMMON_FLAGS,
  DEFAULT_SERVER_PORT,
  byteSize,
  defaultStorageDir,
  fileContents,
  integer,
  key32,
  oneOf,
  parseDuration,
  port,
  parseCommandLine,
  text,
  u64,
} from "./args";
import { TargetSigner } from "../sync";
import { PortUnavailableError, checkPortsFree } from "./ports";
import { onStopSignals } from "./signals";
import { RELAY_FLAGS, relayFlagProblem, relayFromFlags } from "./relay-flags";

const FLAGS = {
  db: { help: "database type: any or immutable", default: "any", parse: oneOf(["any", "immutable"] as const) },
  port: { short: "p", help: "gRPC port (0 picks a free one)", default: String(DEFAULT_SERVER_PORT), parse: port },
  host: { help: "address to listen on (0.0.0.0 for all interfaces)", default: "127.0.0.1", parse: text },
  "initial-ops": {
    short: "i",
    help: "keys (update/set operations) in the initial load of a new database; its commits come on top",
    default: "100",
    parse: integer(0, 10_000_000),
  },
  "storage-dir": { short: "d", help: "database directory (default: /tmp/commonware-sync/server-<random>)", parse: text },
  "metrics-port": { short: "m", help: "Prometheus metrics port (0 picks a free one)", default: "9090", parse: port },
  "metrics-host": { help: "address the metrics endpoint listens on (default: the --host value)", parse: text },
  "op-interval": { short: "t", help: "interval between added batches (ms, s, m, h)", default: "100ms", parse: parseDuration },
  "ops-per-interval": { short: "o", help: "keys (update/set operations) per added batch; its commits come on top", default: "5", parse: integer(0, 1_000_000) },
  seed: { help: "make the run reproducible: initial load uses seed N, the k-th batch N+k", parse: u64 },
  "max-batch-size": { help: "largest number of operations per streamed message", default: String(DEFAULT_LIMITS.maxBatchSize), parse: integer(1, 100_000) },
  "max-ops-per-stream": {
    help: "largest number of operations one GetOperations stream carries",
    default: String(DEFAULT_LIMITS.maxOpsPerStream),
    parse: integer(1, 100_000_000),
  },
  "shutdown-grace": { help: "how long open streams may finish after SIGTERM", default: `${DEFAULT_SHUTDOWN_GRACE_MS / 1000}s`, parse: parseDuration },
  "tls-cert": { help: "PEM certificate chain: serve gRPC over TLS (needs --tls-key)", parse: fileContents },
  "tls-key": { help: "PEM private key of --tls-cert", parse: fileContents },
  "tls-client-ca": { help: "PEM CA: require client certificates issued by it (mutual TLS)", parse: fileContents },
  "signing-key": { help: "Ed25519 key (64 hex digits, inline or in a file) that signs every served target", parse: key32 },
  "generate-signing-key": { help: "write a new signing key to this file, print its public key, and exit", parse: text },
  "rate-limit-targets": { help: "target requests per second per client (0 = unlimited)", default: "0", parse: integer(0, 1_000_000) },
  "rate-limit-ops": { help: "operations streamed per second per client (0 = unlimited)", default: "0", parse: integer(0, 1_000_000_000) },
  "max-streams-per-client": {
    help: "concurrent streams per client (0 = unlimited)",
    default: String(DEFAULT_RATE_LIMITS.maxStreamsPerClient),
    parse: integer(0, 1_000_000),
  },
  "max-streams": { help: "concurrent streams in total (0 = unlimited)", default: String(DEFAULT_RATE_LIMITS.maxStreams), parse: integer(0, 1_000_000) },
  "max-stream-buffer": {
    help: "response bytes queued to one stream's client before the stream waits",
    default: `${DEFAULT_SEND_LIMITS.streamBytes / 2 ** 20}MiB`,
    parse: byteSize(1024, 2 ** 31),
  },
  "max-total-buffer": {
    help: "response bytes queued to all clients together before every stream waits",
    default: `${DEFAULT_SEND_LIMITS.totalBytes / 2 ** 20}MiB`,
    parse: byteSize(1024, 2 ** 40),
  },
  "stream-stall-timeout": {
    help: "end a stream whose client reads nothing of what is queued for this long",
    default: `${DEFAULT_SEND_LIMITS.stallTimeoutMs / 1000}s`,
    parse: parseDuration,
  },
  "idle-connection-timeout": {
    help: "close connections with no open call for this long",
    default: `${DEFAULT_IDLE_CONNECTION_TIMEOUT_MS / 60_000}m`,
    parse: parseDuration,
  },
  ...RELAY_FLAGS,
  verify: { help: "re-hash the database in --storage-dir offline, report, and exit (0 sound, 1 damaged)", boolean: true, parse: () => true },
  ...COMMON_FLAGS,
} as const;

/** Runs the server CLI with `argv` (without node and script). */
export async function main(argv: readonly string[]): Promise<void> {
  const flags = parseCommandLine("sync-server", "serves a QMDB database and proofs to sync clients over gRPC", argv, FLAGS);
  if (flags === undefined) return;
  if (flags.verify === true) {
    process.exitCode = await runVerify("sync-server", flags["storage-dir"]);
    return;
  }
  if (flags["generate-signing-key"] !== undefined) {
    const signer = TargetSigner.generate();
    try {
      writeFileSync(flags["generate-signing-key"], `${Buffer.from(signer.exportSecretKey()).toString("hex")}\n`, { mode: 0o600, flag: "wx" });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      process.stderr.write(
        `sync-server: --generate-signing-key: cannot create '${flags["generate-signing-key"]}': ${code === "EEXIST" ? "file exists (refusing to overwrite a key)" : (code ?? (err as Error).message)}\n`,
      );
      process.exitCode = 1;
      return;
    }
    process.stdout.write(`${Buffer.from(signer.publicKey).toString("hex")}\n`);
    return;
  }
  const relay = flags.upstream === undefined ? undefined : relayFromFlags({ ...flags, upstream: flags.upstream });
  const tlsProblem =
    (flags["tls-cert"] === undefined) !== (flags["tls-key"] === undefined)
      ? "--tls-cert and --tls-key go together"
      : flags["tls-client-ca"] !== undefined && flags["tls-cert"] === undefined
        ? "--tls-client-ca needs --tls-cert and --tls-key"
        : (relayFlagProblem(argv, flags.upstream) ?? (typeof relay === "string" ? relay : undefined));
  if (tlsProblem !== undefined) {
    process.stderr.write(`sync-server: ${tlsProblem}\n`);
    process.exitCode = 2;
    return;
  }
  const metricsHost = flags["metrics-host"] ?? flags.host!;
  try {
    await checkPortsFree([
      { host: flags.host!, port: flags.port!, flag: "--port", hostFlag: "--host" },
      { host: metricsHost, port: flags["metrics-port"]!, flag: "--metrics-port", hostFlag: flags["metrics-host"] === undefined ? "--host" : "--metrics-host" },
    ]);
  } catch (err) {
    if (!(err instanceof PortUnavailableError)) throw err;
    process.stderr.write(`sync-server: ${err.message}; nothing was created\n`);
    process.exitCode = 1;
    return;
  }
  const logger = createLogger("sync-server", {
    level: flags["log-level"],
    pretty: (flags["log-format"] ?? (process.stdout.isTTY ? "pretty" : "json")) === "pretty",
  });
  const storageDir = flags["storage-dir"] ?? defaultStorageDir("server");
  // Signals are handled from the start: one that arrives while the server is starting stops it
  // as soon as it is up (never the default action, which would skip closing the database).
  let server: SyncServer | undefined;
  let stopping = false;
  // Ends a long initial load early (the next start loads again from scratch).
  const starting = new AbortController();
  const stop = (): void => {
    server!.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  onStopSignals(
    (signal) => {
      stopping = true;
      logger.info({ signal }, "received signal");
      if (server !== undefined) stop();
      else starting.abort();
    },
    (signal) => {
      logger.warn({ signal }, "second signal: exiting immediately");
      process.exit(1);
    },
  );
  try {
    server = await SyncServer.start({
      kind: flags.db!,
      storageDir,
      host: flags.host!,
      port: flags.port!,
      metricsHost,
      metricsPort: flags["metrics-port"]!,
      source: typeof relay === "string" ? undefined : relay,
      workload: { initialOps: flags["initial-ops"]!, opsPerInterval: flags["ops-per-interval"]!, intervalMs: flags["op-interval"]!, seed: flags.seed },
      limits: { ...DEFAULT_LIMITS, maxBatchSize: flags["max-batch-size"]!, maxOpsPerStream: flags["max-ops-per-stream"]! },
      shutdownGraceMs: flags["shutdown-grace"]!,
      sendLimits: { streamBytes: flags["max-stream-buffer"]!, totalBytes: flags["max-total-buffer"]!, stallTimeoutMs: flags["stream-stall-timeout"]! },
      idleConnectionTimeoutMs: flags["idle-connection-timeout"]!,
      tls: flags["tls-cert"] === undefined ? undefined : { cert: flags["tls-cert"], key: flags["tls-key"]!, clientCa: flags["tls-client-ca"] },
      signer: flags["signing-key"] === undefined ? undefined : new TargetSigner(flags["signing-key"]),
      rateLimits: {
        targetsPerSecond: flags["rate-limit-targets"]!,
        opsPerSecond: flags["rate-limit-ops"]!,
        maxStreamsPerClient: flags["max-streams-per-client"]!,
        maxStreams: flags["max-streams"]!,
      },
      signal: starting.signal,
      logger,
    });
  } catch (err) {
    if (err instanceof InitialLoadStopped) {
      logger.info({ reason: err.message }, "database closed before it was ready; bye");
      process.exit(0);
    }
    logger.fatal({ err }, "failed to start");
    process.stderr.write(`sync-server: ${(err as Error).message}\n`);
    process.exit(1);
  }
  if (stopping) stop();
}
