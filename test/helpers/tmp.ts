/**
 * The one temporary-directory helper of the tests. Directories live on a RAM-backed file system
 * (/dev/shm) when there is one: tests reopen databases hundreds of times, fsync there is free, and
 * nothing a test checks depends on it. `tempDir` directories are removed after each test, after the
 * resources registered with `closeAfterTest` are closed (so a failing test leaks nothing);
 * `makeTempDir` leaves removal to suites whose processes outlive one test (they remove their
 * directories after killing those processes).
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

const RAM_DIR = "/dev/shm";
const made: string[] = [];
const open: Array<{ close(): unknown }> = [];

/** A fresh empty directory that the caller removes. */
export function makeTempDir(prefix = "cw-sync-"): string {
  return mkdtempSync(path.join(existsSync(RAM_DIR) ? RAM_DIR : tmpdir(), prefix));
}

/** A fresh empty directory, removed after the current test. */
export function tempDir(prefix = "cw-sync-"): string {
  const d = makeTempDir(prefix);
  made.push(d);
  return d;
}

/**
 * Closes `resource` after the current test, before its directories are removed. Its `close` must
 * tolerate being called again (a test may close it itself), as `Db.close` does.
 */
export function closeAfterTest<T extends { close(): unknown }>(resource: T): T {
  open.push(resource);
  return resource;
}

afterEach(async () => {
  const results = await Promise.allSettled(open.splice(0).map(async (r) => r.close()));
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
  const failed = results.find((r) => r.status === "rejected");
  if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
});
