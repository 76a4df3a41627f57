/**
 * Command-line parsing shared by the binaries: flag specs with short forms and defaults, value
 * parsers (durations with ms/s/m/h units, ports, counts, u64 seeds) that reject bad input with a
 * one-line message naming the flag, and generated `--help` text.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
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
    options[name] = { type: spec.boolean === true ? "boolean" : "string", ...(spec.short ? { short: spec.short } : {}), ...(spec.multiple ? { multiple: true } : {}) };
  }
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }));
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
  if (m === null) throw new UsageError(`${flag}: invalid duration '${value}' (use a number with ms, s, m or h, e.g. 100ms or 2s)`);
  const ms = Number(m[1]) * UNIT_MS[m[2]!]!;
  if (!(ms > 0) || !Number.isFinite(ms) || ms > 2 ** 31 - 1) throw new UsageError(`${flag}: duration '${value}' must be above 0 and below 24 days`);
  return ms;
}

/** A non-negative integer no larger than `max`. */
export function integer(min: number, max: number): (value: string, flag: string) => number {
  return (value, flag) => {
    if (!/^\d+$/.test(value.trim())) throw new UsageError(`${flag}: '${value}' is not a whole number`);
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
  if (!/^\d+$/.test(value.trim())) throw new UsageError(`${flag}: '${value}' is not a whole number`);
  const n = BigInt(value);
  if (n >= 1n << 64n) throw new UsageError(`${flag}: ${value} does not fit in 64 bits`);
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

/** Flags both binaries take. */
export const COMMON_FLAGS = {
  "log-level": { help: "trace, debug, info, warn or error", default: "info", parse: oneOf(["trace", "debug", "info", "warn", "error"] as const) },
  "log-format": { help: "json or pretty (default: pretty on a terminal, else json)", parse: oneOf(["json", "pretty"] as const) },
  help: { short: "h", help: "show this help", boolean: true, parse: () => true },
} as const;

/**
 * Parses a binary's command line. Prints usage for `--help`, or a one-line error naming the flag
 * (exit status 2) for a bad command line; returns undefined in both cases.
 */
export function parseCommandLine<S extends Specs & typeof COMMON_FLAGS>(command: string, summary: string, argv: readonly string[], specs: S): Parsed<S> | undefined {
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
