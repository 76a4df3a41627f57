/**
 * Temporary directories on a RAM-backed file system (/dev/shm) when there is one, for in-process
 * tests that reopen a database hundreds of times: fsync there is free, and nothing these tests
 * check depends on it. Falls back to the OS temp directory. Removed after each test.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

const RAM_DIR = "/dev/shm";
const made: string[] = [];

/** A fresh empty directory, preferably in RAM, removed after the current test. */
export function fastTempDir(prefix = "cw-sync-"): string {
  const base = existsSync(RAM_DIR) ? RAM_DIR : tmpdir();
  const d = mkdtempSync(path.join(base, prefix));
  made.push(d);
  return d;
}

afterEach(() => {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
});
