/**
 * `--verify` of both binaries: re-hashes a storage directory offline and reports (exit 0 when
 * sound, 1 when damaged or unusable, with what is wrong).
 */
import { verifyStorage } from "../qmdb";

/** Verifies `directory` for `command`; returns the exit status. */
export async function runVerify(command: string, directory: string | undefined): Promise<number> {
  if (directory === undefined) {
    process.stderr.write(`${command}: --verify needs --storage-dir\n`);
    return 2;
  }
  let report;
  try {
    report = await verifyStorage(directory);
  } catch (err) {
    process.stderr.write(`${command}: ${(err as Error).message}\n`);
    return 1;
  }
  if (report.sound) {
    process.stdout.write(
      `storage directory ${directory} is sound: ${report.kind} database, ${report.opCount} operations, retained from ${report.oldestRetainedLoc}, root ${report.root}\n`,
    );
    return 0;
  }
  process.stdout.write(`storage directory ${directory} is damaged${report.kind === undefined ? "" : ` (${report.kind} database)`}:\n`);
  for (const problem of report.problems) process.stdout.write(`  - ${problem}\n`);
  return 1;
}
