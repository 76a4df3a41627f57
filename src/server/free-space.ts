/**
 * Free space on the file system of a directory, and waiting for enough of it: after a write
 * failed for lack of space, the writer only tries again once there is room (retrying into a full
 * disk would break the database it just reopened).
 */
import { statfsSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";

/** Bytes an unprivileged process may still write under `dir`; undefined if it cannot be told. */
export function freeBytes(dir: string): number | undefined {
  try {
    const s = statfsSync(dir);
    return s.bavail * s.bsize;
  } catch {
    return undefined;
  }
}

/**
 * Resolves `true` once `dir` has at least `needed` free bytes (at once if it has, or if free
 * space cannot be measured), polling every `pollMs`; `false` if `signal` aborts first.
 * `onWait` is called once, with the free bytes, if it has to wait.
 */
export async function waitForFreeSpace(dir: string, needed: number, pollMs: number, signal: AbortSignal, onWait: (free: number) => void): Promise<boolean> {
  let waited = false;
  for (;;) {
    const free = freeBytes(dir);
    if (free === undefined || free >= needed) return true;
    if (!waited) onWait(free);
    waited = true;
    try {
      await sleep(pollMs, undefined, { signal });
    } catch {
      return false;
    }
  }
}
