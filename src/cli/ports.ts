/**
 * Checks, before anything is written to disk, that the ports a binary will listen on are free,
 * so that a busy port is reported up front instead of after a database was created. (The real
 * bind still reports the rare port taken in between.)
 */
import { createServer } from "node:net";

/** A port a binary listens on, and the flag that chose it. */
export interface PlannedListener {
  readonly host: string;
  readonly port: number;
  readonly flag: string;
}

/** A port that cannot be listened on (busy, or not allowed). */
export class PortUnavailableError extends Error {
  override name = "PortUnavailableError";
}

/** Throws `PortUnavailableError` naming the flag of the first listener that cannot bind. */
export async function checkPortsFree(listeners: readonly PlannedListener[]): Promise<void> {
  for (const { host, port, flag } of listeners) {
    if (port === 0) continue; // any free port will do
    await new Promise<void>((resolve, reject) => {
      const probe = createServer();
      probe.once("error", (err: NodeJS.ErrnoException) => {
        const why = err.code === "EADDRINUSE" ? "is already in use" : err.code === "EACCES" ? "is not allowed (privileged port?)" : `cannot be used (${err.code ?? err.message})`;
        reject(new PortUnavailableError(`${flag}: ${host.includes(":") ? `[${host}]` : host}:${port} ${why}`));
      });
      probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()));
    });
  }
}
