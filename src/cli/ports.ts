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
  for (const listener of listeners) {
    // Port 0 is probed too (any free port will do): that still checks the host.
    await new Promise<void>((resolve, reject) => {
      const probe = createServer();
      probe.once("error", (err: NodeJS.ErrnoException) => reject(listenError(err, listener)));
      probe.listen({ host: listener.host, port: listener.port, exclusive: true }, () => probe.close(() => resolve()));
    });
  }
}

/**
 * Why `listener` could not listen, naming the flag at fault: the host's flag when the host does
 * not resolve or is not local, the port's flag when the port is busy or privileged.
 */
export function listenError(err: NodeJS.ErrnoException, { host, port, flag, hostFlag }: PlannedListener): PortUnavailableError {
  if (err.code === "ENOTFOUND" || err.code === "EAI_AGAIN" || err.code === "EADDRNOTAVAIL") {
    const why = err.code === "EADDRNOTAVAIL" ? "is not an address of this machine" : "does not resolve";
    return new PortUnavailableError(`${hostFlag}: '${host}' ${why} (${err.code})`);
  }
  const why =
    err.code === "EADDRINUSE"
      ? "is already in use"
      : err.code === "EACCES"
        ? "is not allowed (privileged port?)"
        : `cannot be used (${err.code ?? err.message})`;
  return new PortUnavailableError(`${flag}: ${host.includes(":") ? `[${host}]` : host}:${port} ${why}`);
}
