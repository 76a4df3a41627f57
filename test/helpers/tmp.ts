/** Temporary directories that are removed after each test. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

const made: string[] = [];

/** A fresh empty directory, removed by `cleanupTempDirs` (registered in `afterEach` below). */
export function tempDir(prefix = "cw-sync-"): string {
  const d = mkdtempSync(path.join(tmpdir(), prefix));
  made.push(d);
  return d;
}

/** Removes every directory made by `tempDir`. */
export function cleanupTempDirs(): void {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
}

afterEach(cleanupTempDirs);
