/**
 * `sync-client`: keeps a local database continuously in sync with a sync server, verifying
 * every batch against the target root (see README). Exits 0 on SIGINT/SIGTERM or after a
 * successful `--once`, 2 on a bad command line, 1 on a permanent failure (e.g. the server holds
 * the other database kind), a failed `--once`, or `--max-failures` failed iterations in a row.
 */
import { runVerify } from "./verify";
import { ensureStorageDirectory } from "../journal";
import { ClientMetrics, DEFAULT_CLIENT_TIMING, KindMismatchError, ProgressBar, SyncClient, SyncFailuresError } from "../client";
import { DEFAULT_SYNC } from "../sync";
import { type MetricsServer, createLogger, serveMetrics } from "../telemetry";
import { addressList } from "./addresses";
import { listenError } from "./ports";
import { onStopSignals } from "./signals";
import {
  COMMON_FLAGS,
  DEFAULT_SERVER_PORT,
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

const FLAGS = {
  db: { help: "database type: any or immutable (must match the server)", default: "any", parse: oneOf(["any", "immutable"] as const) },
  server: {
    short: "s",
    help:
      `server address: host:port, [v6]:port or dns:///name:port (a bare host means port ${DEFAULT_SERVER_PORT}), or several separated by commas to fetch ` +
      "from all at once (targets: the first's, or with --trusted-key the newest signed one)",
    default: `127.0.0.1:${DEFAULT_SERVER_PORT}`,
    parse: addressList,
  },
  "batch-size": { short: "b", help: "operations per fetched batch", default: String(DEFAULT_SYNC.fetchBatchSize), parse: integer(1, 100_000) },
  "storage-dir": { short: "d", help: "local database directory (default: /tmp/commonware-sync/client-<random>)", parse: text },
  "metrics-port": { short: "m", help: "Prometheus metrics port (0 picks a free one)", default: "9091", parse: port },
  "metrics-host": { help: "address the metrics endpoint listens on", default: "127.0.0.1", parse: text },
  "target-update-interval": {
    short: "t",
    help: "how often to ask for a newer target while syncing",
    default: `${DEFAULT_CLIENT_TIMING.targetUpdateIntervalMs / 1000}s`,
    parse: parseDuration,
  },
  "sync-interval": {
    short: "i",
    help: "pause between sync iterations (not a count of keys: that is the server's -i)",
    default: `${DEFAULT_CLIENT_TIMING.syncIntervalMs / 1000}s`,
    parse: parseDuration,
  },
  once: { help: "sync once and exit: 0 on success, 1 on failure", boolean: true, parse: () => true },
  "max-failures": { help: "exit with status 1 after this many failed iterations in a row (0 = never)", default: "0", parse: integer(0, 1_000_000) },
  "max-outstanding-requests": {
    short: "r",
    help: "concurrent GetOperations streams",
    default: String(DEFAULT_SYNC.maxOutstandingRequests),
    parse: integer(1, 64),
  },
  "target-updates": { help: "follow new targets pushed by the server (watch) or poll for them", default: "watch", parse: oneOf(["watch", "poll"] as const) },
  "tls-ca": { help: "PEM CA that must have issued the server's certificate (enables TLS)", parse: fileContents },
  "tls-cert": { help: "PEM client certificate, for servers that require mutual TLS (needs --tls-key)", parse: fileContents },
  "tls-key": { help: "PEM private key of --tls-cert", parse: fileContents },
  "trusted-key": {
    help: "Ed25519 public key (64 hex digits, inline or in a file) whose signature targets must carry; repeatable",
    multiple: true,
    parse: key32,
  },
  "target-root": { help: "sync to this target root (64 hex digits) instead of the server's; needs --target-lower and --target-upper", parse: key32 },
  "target-lower": { help: "lower bound of --target-root", parse: u64 },
  "target-upper": { help: "upper bound (op count) of --target-root", parse: u64 },
  verify: { help: "re-hash the database in --storage-dir offline, report, and exit (0 sound, 1 damaged)", boolean: true, parse: () => true },
  ...COMMON_FLAGS,
} as const;

/** Runs the client CLI with `argv` (without node and script). */
export async function main(argv: readonly string[]): Promise<void> {
  const flags = parseCommandLine("sync-client", "keeps a local QMDB database in sync with a sync server, verifying every proof", argv, FLAGS);
  if (flags === undefined) return;
  if (flags.verify === true) {
    process.exitCode = await runVerify("sync-client", flags["storage-dir"]);
    return;
  }
  const given = [flags["target-root"], flags["target-lower"], flags["target-upper"]].filter((v) => v !== undefined).length;
  const problem =
    given !== 0 && given !== 3
      ? "--target-root, --target-lower and --target-upper go together"
      : given === 3 && flags["target-lower"]! >= flags["target-upper"]!
        ? `--target-lower ${flags["target-lower"]} must be below --target-upper ${flags["target-upper"]}`
        : (flags["tls-cert"] === undefined) !== (flags["tls-key"] === undefined)
          ? "--tls-cert and --tls-key go together"
          : flags["tls-cert"] !== undefined && flags["tls-ca"] === undefined
            ? "--tls-cert needs --tls-ca (client certificates are only sent over TLS)"
            : undefined;
  if (problem !== undefined) {
    process.stderr.write(`sync-client: ${problem}\n`);
    process.exitCode = 2;
    return;
  }
  // On a terminal the progress bar and the log lines share the screen: logs go through the bar.
  const bar = process.stderr.isTTY ? new ProgressBar() : undefined;
  const logger = createLogger("sync-client", {
    level: flags["log-level"],
    pretty: (flags["log-format"] ?? (process.stdout.isTTY ? "pretty" : "json")) === "pretty",
    sink: bar?.logSink,
  });
  const directory = flags["storage-dir"] ?? defaultStorageDir("client");
  const metrics = new ClientMetrics();
  let metricsServer: MetricsServer;
  try {
    // The metrics port first: a busy port is reported before the storage directory is created.
    metricsServer = await serveMetrics(metrics.registry, flags["metrics-host"]!, flags["metrics-port"]!);
  } catch (err) {
    const listener = { host: flags["metrics-host"]!, port: flags["metrics-port"]!, flag: "--metrics-port", hostFlag: "--metrics-host" };
    process.stderr.write(`sync-client: ${listenError(err as NodeJS.ErrnoException, listener).message}; nothing was created\n`);
    process.exitCode = 1;
    return;
  }
  try {
    ensureStorageDirectory(directory);
  } catch (err) {
    logger.fatal({ err: (err as Error).message }, "failed to start");
    process.stderr.write(`sync-client: ${(err as Error).message}\n`);
    await metricsServer.close();
    process.exitCode = 1;
    return;
  }
  logger.info({ storage_dir: directory, metrics_addr: `${flags["metrics-host"]}:${metricsServer.port}` }, "client ready");
  const client = new SyncClient({
    server: flags.server!,
    kind: flags.db!,
    directory,
    fetchBatchSize: flags["batch-size"]!,
    maxOutstandingRequests: flags["max-outstanding-requests"]!,
    targetUpdateIntervalMs: flags["target-update-interval"]!,
    syncIntervalMs: flags["sync-interval"]!,
    watchTargets: flags["target-updates"] === "watch",
    tls: flags["tls-ca"] === undefined ? undefined : { ca: flags["tls-ca"], cert: flags["tls-cert"], key: flags["tls-key"] },
    trustedKeys: flags["trusted-key"],
    target: given === 3 ? { root: flags["target-root"]!, lowerBound: flags["target-lower"]!, upperBound: flags["target-upper"]! } : undefined,
    logger,
    metrics,
  });
  if (bar !== undefined) {
    client.on("start", () => bar.start());
    client.on("progress", ({ applied, size, target }) => bar.update(applied, size, target.upperBound));
    client.on("synced", () => bar.done());
    client.on("failed", () => bar.abort());
  }
  const stop = new AbortController();
  onStopSignals(
    (signal) => {
      logger.info({ signal }, "received signal; stopping");
      stop.abort();
    },
    (signal) => {
      logger.warn({ signal }, "second signal: exiting immediately");
      process.exit(1);
    },
  );
  const maxFailures = flags["max-failures"]!;
  let synced = false;
  client.on("synced", () => (synced = true));
  try {
    await client.run(
      stop.signal,
      flags.once ? { maxIterations: 1, maxConsecutiveFailures: 1 } : { maxConsecutiveFailures: maxFailures === 0 ? undefined : maxFailures },
    );
    // --once promises a completed sync: stopped by a signal before that, it did not deliver one.
    if (flags.once && !synced) {
      process.stderr.write("sync-client: --once: stopped before the sync completed\n");
      process.exitCode = 1;
    }
  } catch (err) {
    bar?.abort();
    if (err instanceof SyncFailuresError) {
      // The last failure was just logged ("sync failed"): its message is not repeated in the log.
      logger.fatal({ consecutive_failures: err.failures }, "giving up");
    } else {
      logger.fatal({ err: (err as Error).message }, err instanceof KindMismatchError ? "wrong database kind" : "sync client stopped");
    }
    process.stderr.write(`sync-client: ${(err as Error).message}\n`);
    process.exitCode = 1;
  } finally {
    await metricsServer.close();
  }
}
