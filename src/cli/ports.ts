/**
 * Checks, before anything is written to disk, that the addresses a binary will listen on are
 * usable (the host resolves to a local address, the port is free), so that a bad host or a busy
 * port is reported up front instead of after a database was created. (The real bind still reports
 * the rare port taken in between.)
 */
import { createServer } from "node:net";

/** A port a binary listens on, and the flag that chose it. */
export interface PlannedListener {
  readonly host: string;
  readonly port: number;
  /** The flag that chose the port. */
  readonly flag: string;
  /** The flag that chose the host (named when the host, not the port, is what fails). */
  readonly hostFlag: string;
}

/** A port that cannot be listened on (busy, or not allowed). */
export class PortUnavailableError extends Error {
  override name = "PortUnavailableError";
}

/** Throws `PortUnavailableError` naming the flag of the first listener that cannot bind. */
export async function checkPortsFree(listeners: readonly PlannedListener[]): Promise<void> {
  for (const { host, port, flag, hostFlag } of listeners) {
    // Port 0 is probed too (any free port will do): that still checks the host.
    await new Promise<void>((resolve, reject) => {
      const probe = createServer();
      probe.once("error", (err: NodeJS.ErrnoException) => {
        if (err.code !== "EADDRINUSE" && err.code !== "EACCES") {
          const why = err.code === "ENOTFOUND" || err.code === "EAI_AGAIN" ? "does not resolve" : "is not an address of this machine";
          reject(new PortUnavailableError(`${hostFlag}: '${host}' ${why} (${err.code ?? err.message})`));
          return;
        }
        const why = err.code === "EADDRINUSE" ? "is already in use" : "is not allowed (privileged port?)";
        reject(new PortUnavailableError(`${flag}: ${host.includes(":") ? `[${host}]` : host}:${port} ${why}`));
      });
      probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()));
    });
  }
}
