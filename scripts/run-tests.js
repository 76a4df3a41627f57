#!/usr/bin/env node
// Runs jest and prints a closing line CI can read ("jest: N passed, N failed, N skipped").
// Exits non-zero when any test fails, when jest itself fails, or when no test ran at all.
"use strict";
const { spawnSync } = require("node:child_process");
const { mkdtempSync, readFileSync, rmSync } = require("node:fs");
const { tmpdir } = require("node:os");
const path = require("node:path");

const dir = mkdtempSync(path.join(tmpdir(), "jest-report-"));
const report = path.join(dir, "jest.json");
const jestBin = require.resolve("jest/bin/jest");
const run = spawnSync(process.execPath, [jestBin, "--json", `--outputFile=${report}`, ...process.argv.slice(2)], {
  stdio: "inherit",
});
let result;
try {
  result = JSON.parse(readFileSync(report, "utf8"));
} catch (err) {
  console.error(`jest produced no report (exit ${run.status}): ${err.message}`);
  process.exit(run.status || 1);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const { numPassedTests: passed, numFailedTests: failed, numPendingTests: skipped } = result;
console.log(`jest: ${passed} passed, ${failed} failed, ${skipped} skipped`);
if (passed === 0) {
  console.error("no test ran");
  process.exit(1);
}
process.exit(run.status === 0 && failed === 0 && result.success ? 0 : 1);
