/**
 * Structured logs with pino: JSON lines (one object per event, bigints as decimal strings), or
 * human-readable lines through pino-pretty when writing to a terminal.
 */
import pino, { type Logger } from "pino";

export type { Logger };

/** Options for `createLogger`. */
export interface LoggerOptions {
  /** Minimum level (default "info"). */
  readonly level?: string;
  /** Pretty-print (for terminals) instead of JSON lines. */
  readonly pretty?: boolean;
}

/** A logger named `name` writing to stdout. */
export function createLogger(name: string, options: LoggerOptions = {}): Logger {
  const base = { name, level: options.level ?? "info" };
  if (options.pretty === true) {
    return pino({ ...base, transport: { target: "pino-pretty", options: { colorize: true, translateTime: "SYS:HH:MM:ss.l", ignore: "pid,hostname" } } });
  }
  return pino(base, pino.destination({ dest: 1, sync: true }));
}

/** Lowercase hex of bytes (for roots and keys in log lines). */
export { toHex as hex } from "../codec";
