/**
 * Structured logs with pino: JSON lines (one object per event, bigints as decimal strings), or
 * human-readable lines through pino-pretty when writing to a terminal.
 */
import pino, { type Logger } from "pino";
import { prettyFactory } from "pino-pretty";

export type { Logger };

/** Where log lines go, one `write` per line (default: stdout). */
export interface LogSink {
  write(line: string): void;
}

/** Options for `createLogger`. */
export interface LoggerOptions {
  /** Minimum level (default "info"). */
  readonly level?: string;
  /** Pretty-print (for terminals) instead of JSON lines. */
  readonly pretty?: boolean;
  /**
   * Write lines here, synchronously, instead of to stdout (e.g. to keep them off a progress bar's
   * line). Pretty-printing then runs in this thread.
   */
  readonly sink?: LogSink;
}

// One line per event (fields inline, errors too), so that a log line is a line on the terminal.
const PRETTY = { colorize: true, translateTime: "SYS:HH:MM:ss.l", ignore: "pid,hostname", singleLine: true, errorLikeObjectKeys: [] };

/** A logger named `name` writing to stdout (or `options.sink`). */
export function createLogger(name: string, options: LoggerOptions = {}): Logger {
  const base = { name, level: options.level ?? "info" };
  const sink = options.sink;
  if (sink !== undefined) {
    const format = options.pretty === true ? prettyFactory(PRETTY) : (line: string) => line;
    return pino(base, { write: (line: string) => sink.write(format(line)) });
  }
  if (options.pretty === true) return pino({ ...base, transport: { target: "pino-pretty", options: PRETTY } });
  return pino(base, pino.destination({ dest: 1, sync: true }));
}

/** Lowercase hex of bytes (for roots and keys in log lines). */
export { toHex as hex } from "../codec";
