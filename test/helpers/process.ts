/**
 * A spawned binary (`sync-server`, `sync-client`) and everything it printed: JSON log lines,
 * other stdout lines and stderr. Every instance is tracked until it exits, so `killAll` can end
 * whatever a test left running.
 */
import type { ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";

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

/** The server's "listening" log message. */
export const LISTENING = "server listening and continuously adding operations";

const running = new Set<Proc>();

/** A spawned process and its output. */
export class Proc {
  readonly lines: LogLine[] = [];
  /** stdout lines that were not JSON. */
  readonly rawLines: string[] = [];
  stderr = "";
  exitInfo: Exit | undefined;
  readonly exited: Promise<Exit>;
  private readonly listeners = new Set<() => void>();

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    running.add(this);
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
      // "close", not "exit": the last lines a process writes before it exits may still be in the
      // pipe when "exit" fires (seen: a server's farewell line missing under a loaded machine).
      child.once("close", (code, signal) => {
        this.exitInfo = { code, signal };
        running.delete(this);
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

  /** The first line (at index ≥ `from`) matching `pred`; rejects on timeout or if the process exits first. */
  waitForLog(pred: (l: LogLine) => boolean, what: string, timeoutMs = 20_000, from = 0): Promise<LogLine> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const hit = this.lines.slice(from).find(pred);
        if (hit !== undefined) return done(() => resolve(hit));
        if (this.exitInfo !== undefined) {
          return done(() => reject(new Error(`${this.name} exited (${JSON.stringify(this.exitInfo)}) before logging ${what}; ${this.tail()}`)));
        }
      };
      const timer = setTimeout(
        () => done(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${this.name} to log ${what}; ${this.tail()}`))),
        timeoutMs,
      );
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

  /** The gRPC address ("127.0.0.1:PORT") from a server's "server listening …" line. */
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

/** SIGKILLs every process still running; resolves when all have exited. */
export async function killAll(): Promise<void> {
  const procs = [...running];
  for (const p of procs) p.child.kill("SIGKILL");
  await Promise.all(procs.map((p) => p.exited));
}
