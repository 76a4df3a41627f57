/**
 * Command-line parsing shared by the binaries: flag specs with short forms and defaults, value
 * parsers (durations with ms/s/m/h units, ports, counts, u64 seeds) that reject bad input with a
 * one-line message naming the flag, and generated `--help` text.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { isIPv4, isIPv6 } from "node:net";
import path from "node:path";
import { parseArgs } from "node:util";

/** A bad command line: the message names the flag. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** One flag: its value parser (or boolean), short form, default and help. */
export interface FlagSpec<T> {
  readonly short?: string;
  readonly help: string;
  /** Shown in --help; the parser is applied to it when the flag is absent. */
  readonly default?: string;
  /** Repeatable flags collect every value. */
  readonly multiple?: boolean;
  readonly parse: (value: string, flag: string) => T;
  /** A flag without a value (e.g. --help). */
  readonly boolean?: boolean;
}

type Specs = Record<string, FlagSpec<unknown>>;
type Parsed<S extends Specs> = { [K in keyof S]: S[K] extends FlagSpec<infer T> ? (S[K]["multiple"] extends true ? T[] : T | undefined) : never };

/** Parses `argv` against `specs`; throws `UsageError` naming the offending flag. */
export function parseFlags<S extends Specs>(argv: readonly string[], specs: S): Parsed<S> {
  const options: Record<string, { type: "string" | "boolean"; short?: string; multiple?: boolean }> = {};
  for (const [name, spec] of Object.entries(specs)) {
    options[name] = {
      type: spec.boolean === true ? "boolean" : "string",
      ...(spec.short ? { short: spec.short } : {}),
      ...(spec.multiple ? { multiple: true } : {}),
    };
  }
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({ args: attachNegativeValues(argv, specs), options, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new UsageError((err as Error).message.split("\n")[0]!.replace(/^TypeError \[\w+\]: /, ""));
  }
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(specs)) {
    const flag = `--${name}`;
    const raw = values[name];
    if (spec.boolean === true) out[name] = raw === true;
    else if (spec.multiple === true) out[name] = ((raw as string[] | undefined) ?? []).map((v) => spec.parse(v, flag));
    else if (raw !== undefined) out[name] = spec.parse(raw as string, flag);
    else out[name] = spec.default === undefined ? undefined : spec.parse(spec.default, flag);
  }
  return out as Parsed<S>;
}

/**
 * `parseArgs` takes "-3" after a flag for another flag ("argument is ambiguous"). A value that
 * looks like a negative number is attached to its flag (`--port -3` → `--port=-3`), so that the
 * flag's own parser rejects it with its valid range.
 */
function attachNegativeValues(argv: readonly string[], specs: Specs): string[] {
  const valued = new Map<string, string>();
  for (const [name, spec] of Object.entries(specs)) {
    if (spec.boolean === true) continue;
    valued.set(`--${name}`, name);
    if (spec.short !== undefined) valued.set(`-${spec.short}`, name);
  }
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const name = valued.get(argv[i]!);
    const next = argv[i + 1];
    if (name !== undefined && next !== undefined && /^-\d/.test(next)) {
      out.push(`--${name}=${next}`);
      i++;
    } else {
      out.push(argv[i]!);
    }
  }
  return out;
}

/** `--help` text for `specs`. */
export function usage(command: string, summary: string, specs: Specs): string {
  const lines = [`${command}: ${summary}`, "", `Usage: ${command} [options]`, "", "Options:"];
  for (const [name, spec] of Object.entries(specs)) {
    const left = `  ${spec.short ? `-${spec.short}, ` : "    "}--${name}${spec.boolean ? "" : " <value>"}`;
    const def = spec.default !== undefined ? ` (default: ${spec.default})` : "";
    lines.push(`${left.padEnd(36)} ${spec.help}${def}`);
  }
  return lines.join("\n");
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A duration such as `100ms`, `2s`, `1.5m` or `1h`, in milliseconds (must be > 0). */
export function parseDuration(value: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(value.trim());
  if (m === null) throw new UsageError(`${flag}: invalid duration '${value}' (use a number above 0 with ms, s, m or h, e.g. 100ms or 2s; at most 24 days)`);
  const ms = Number(m[1]) * UNIT_MS[m[2]!]!;
  if (!(ms > 0) || !Number.isFinite(ms) || ms > 2 ** 31 - 1) throw new UsageError(`${flag}: duration '${value}' must be above 0 and below 24 days`);
  return ms;
}

/** A whole number in `[min, max]`; anything else is refused with that range. */
export function integer(min: number, max: number): (value: string, flag: string) => number {
  return (value, flag) => {
    if (!/^-?\d+$/.test(value.trim())) throw new UsageError(`${flag}: '${value}' is not a whole number in [${min}, ${max}]`);
    const n = Number(value);
    if (!Number.isSafeInteger(n) || n < min || n > max) throw new UsageError(`${flag}: ${value} is out of range [${min}, ${max}]`);
    return n;
  };
}

const UNIT_BYTES: Record<string, number> = { "": 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };

/** A byte count such as `65536`, `64KiB`, `1MiB` or `2GiB`, between `min` and `max` bytes. */
export function byteSize(min: number, max: number): (value: string, flag: string) => number {
  return (value, flag) => {
    const m = /^(\d+)(KiB|MiB|GiB)?$/.exec(value.trim());
    if (m === null) throw new UsageError(`${flag}: invalid size '${value}' (use a whole number of bytes, optionally with KiB, MiB or GiB, e.g. 1MiB)`);
    const n = Number(m[1]) * UNIT_BYTES[m[2] ?? ""]!;
    if (!Number.isSafeInteger(n) || n < min || n > max) throw new UsageError(`${flag}: ${value} is out of range [${min}, ${max}] bytes`);
    return n;
  };
}

/** A TCP port (0 picks a free one). */
export const port = integer(0, 65535);

/** An unsigned 64-bit integer (decimal). */
export function u64(value: string, flag: string): bigint {
  if (!/^-?\d+$/.test(value.trim())) throw new UsageError(`${flag}: '${value}' is not a whole number in [0, 2^64 - 1]`);
  const n = BigInt(value);
  if (n < 0n || n >= 1n << 64n) throw new UsageError(`${flag}: ${value} is out of range [0, 2^64 - 1]`);
  return n;
}

/** One of `choices`. */
export function oneOf<T extends string>(choices: readonly T[]): (value: string, flag: string) => T {
  return (value, flag) => {
    if (!(choices as readonly string[]).includes(value)) throw new UsageError(`${flag}: '${value}' must be one of ${choices.join(", ")}`);
    return value as T;
  };
}

/** A non-empty string. */
export function text(value: string, flag: string): string {
  if (value.length === 0) throw new UsageError(`${flag}: must not be empty`);
  return value;
}

/** The port a bare host means: the server's default port. */
export const DEFAULT_SERVER_PORT = 8080;

// DNS labels; underscores are allowed too (container and service names often have them).
const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$/;

/**
 * One server address, checked up front and returned as a gRPC target: `host:port`, `[v6]:port`
 * or `dns:///name:port`; a host without a port (`host`, `[v6]`, `dns:///name`) means port 8080.
 * Anything else is a `UsageError` naming `flag` (e.g. `--server`). Takes one address, so a flag
 * holding a list can apply it to each element.
 */
export function serverAddress(value: string, flag: string): string {
  const bad = (why: string): UsageError =>
    new UsageError(`${flag}: '${value}' ${why} (expected host:port, [v6]:port or dns:///name:port; a bare host means port ${DEFAULT_SERVER_PORT})`);
  const dns = value.startsWith("dns:///");
  const rest = dns ? value.slice("dns:///".length) : value;
  let host: string;
  let portText: string | undefined;
  const v6 = /^\[([^\]]*)\](?::(.*))?$/.exec(rest);
  if (v6 !== null) {
    if (!isIPv6(v6[1]!)) throw bad("is not a valid IPv6 address");
    host = `[${v6[1]}]`;
    portText = v6[2];
  } else {
    const parts = rest.split(":");
    if (parts.length > 2) throw bad(isIPv6(rest) ? "is an IPv6 address without brackets" : "has more than one ':'");
    host = parts[0]!;
    portText = parts[1];
    // A name of digits and dots only must be an IPv4 address (e.g. not 256.1.1.1).
    const valid = /^[\d.]+$/.test(host) ? isIPv4(host) : HOSTNAME.test(host);
    if (!valid) throw bad(host === "" ? "has no host" : `has an invalid host '${host}'`);
  }
  let port = DEFAULT_SERVER_PORT;
  if (portText !== undefined) {
    port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
    if (!(port >= 1 && port <= 65535)) throw bad(`has an invalid port '${portText}' (range [1, 65535])`);
  }
  return `${dns ? "dns:///" : ""}${host}:${port}`;
}

/** The version in the project's package.json (`--version`). */
export function packageVersion(): string {
  // Compiled files sit in dist/src/cli, sources in src/cli: the package root is two or three levels up.
  for (const up of ["../..", "../../.."]) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(__dirname, up, "package.json"), "utf8")) as { name?: string; version?: string };
      if (pkg.name === "commonware-sync-ts" && typeof pkg.version === "string") return pkg.version;
    } catch {
      // not this level
    }
  }
  return "unknown";
}

/**
 * Output to a reader that went away (`sync-server --help | head -1`) is not an error: without a
 * listener the EPIPE would crash the process with a stack trace.
 */
function exitQuietlyOnClosedPipe(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code !== "EPIPE") throw err;
      process.exit(process.exitCode ?? 0);
    });
  }
}

/** Flags both binaries take. */
export const COMMON_FLAGS = {
  "log-level": { help: "trace, debug, info, warn or error", default: "info", parse: oneOf(["trace", "debug", "info", "warn", "error"] as const) },
  "log-format": { help: "json or pretty (default: pretty on a terminal, else json)", parse: oneOf(["json", "pretty"] as const) },
  help: { short: "h", help: "show this help", boolean: true, parse: () => true },
  version: { help: "print the version and exit", boolean: true, parse: () => true },
} as const;

/**
 * Parses a binary's command line. Prints usage for `--help`, the version for `--version`, or a
 * one-line error naming the flag (exit status 2) for a bad command line; returns undefined in
 * those cases.
 */
export function parseCommandLine<S extends Specs & typeof COMMON_FLAGS>(
  command: string,
  summary: string,
  argv: readonly string[],
  specs: S,
): Parsed<S> | undefined {
  exitQuietlyOnClosedPipe();
  let flags: Parsed<S>;
  try {
    flags = parseFlags(argv, specs);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`${command}: ${err.message} (see ${command} --help)\n`);
    process.exitCode = 2;
    return undefined;
  }
  if (flags.help === true) {
    process.stdout.write(`${usage(command, summary, specs)}\n`);
    return undefined;
  }
  if (flags.version === true) {
    process.stdout.write(`${command} ${packageVersion()}\n`);
    return undefined;
  }
  return flags;
}

/** The storage directory default of the seed: `/tmp/commonware-sync/<role>-<random u64>`. */
export function defaultStorageDir(role: "server" | "client"): string {
  return `/tmp/commonware-sync/${role}-${randomBytes(8).readBigUInt64BE(0)}`;
}

/** The contents of a readable file (e.g. a PEM certificate). */
export function fileContents(value: string, flag: string): Buffer {
  try {
    return readFileSync(value);
  } catch (err) {
    throw new UsageError(`${flag}: cannot read '${value}': ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** 32 bytes given as 64 hex digits, inline or in a file (an Ed25519 key). */
export function key32(value: string, flag: string): Uint8Array {
  const inline = value.trim();
  if (/^[0-9a-fA-F]+$/.test(inline) && inline.length !== 64) {
    throw new UsageError(`${flag}: expected 64 hex digits (a 32-byte key), got ${inline.length}`);
  }
  const hex = /^[0-9a-fA-F]{64}$/.test(inline) ? inline : fileContents(value, flag).toString("utf8").trim();
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new UsageError(`${flag}: expected 64 hex digits (a 32-byte key), inline or in a file`);
  return Uint8Array.from(Buffer.from(hex, "hex"));
}
