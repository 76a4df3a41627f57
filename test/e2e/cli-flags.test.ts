/**
 * End-to-end: invalid command-line values make `sync-server` exit non-zero (2) before it opens
 * anything, with a one-line stderr message that names the flag (long name, even when the short
 * form was used). A trailing "(run sync-server --help for usage)" hint line is allowed.
 */
import { SERVER_BIN, cleanup, requireBuilt, run, tempDir } from "./harness";

jest.setTimeout(30_000);
afterAll(cleanup);

const HELP_HINT = /^\(run sync-server --help for usage\)$/;

const CASES: ReadonlyArray<{ args: string[]; flag: string }> = [
  { args: ["--port", "70000"], flag: "--port" },
  { args: ["-p", "http"], flag: "--port" },
  { args: ["--op-interval", "5x"], flag: "--op-interval" },
  { args: ["-t", "0ms"], flag: "--op-interval" },
  { args: ["--db", "foo"], flag: "--db" },
  { args: ["-m", "65536"], flag: "--metrics-port" },
  { args: ["-i", "abc"], flag: "--initial-ops" },
  { args: ["-o", "1.5"], flag: "--ops-per-interval" },
  { args: ["--seed", "18446744073709551616"], flag: "--seed" },
  { args: ["--max-batch-size", "0"], flag: "--max-batch-size" },
  { args: ["--max-ops-per-stream", "-3"], flag: "--max-ops-per-stream" },
  { args: ["--shutdown-grace", "soon"], flag: "--shutdown-grace" },
  { args: ["--max-stream-buffer", "1MB"], flag: "--max-stream-buffer" },
  { args: ["--max-total-buffer", "10"], flag: "--max-total-buffer" },
  { args: ["--stream-stall-timeout", "0s"], flag: "--stream-stall-timeout" },
  { args: ["--idle-connection-timeout", "forever"], flag: "--idle-connection-timeout" },
  { args: ["--log-format", "xml"], flag: "--log-format" },
  { args: ["--host", ""], flag: "--host" },
  { args: ["--bogus", "1"], flag: "--bogus" },
  { args: ["--port"], flag: "--port" },
];

beforeAll(requireBuilt);

test.concurrent.each(CASES)("$args exits non-zero with one stderr line naming $flag", async ({ args, flag }) => {
  // Valid values for everything else, so that a parser that let the bad value through would start
  // a server on free ports in a temporary directory (and be killed by the timeout) instead of
  // touching 8080/9090 or /tmp/commonware-sync.
  const defaults = ["-p", "0", "-m", "0", "-d", tempDir(), "--log-format", "json"];
  const r = await run(process.execPath, [SERVER_BIN, ...defaults, ...args], 10_000);
  expect(r.signal).toBeNull(); // it exited by itself (not killed by the timeout)
  expect(r.code).not.toBe(0);
  expect(r.code).toBe(2);
  const lines = r.stderr.split("\n").filter((l) => l !== "" && !HELP_HINT.test(l));
  expect(lines).toHaveLength(1);
  expect(lines[0]).toContain(flag);
  expect(r.stdout).not.toMatch(/database ready|server listening/);
});

test("--help prints every flag and exits 0", async () => {
  const r = await run(process.execPath, [SERVER_BIN, "--help"]);
  expect(r.code).toBe(0);
  for (const flag of ["--db", "--port", "--host", "--initial-ops", "--storage-dir", "--metrics-port", "--op-interval", "--ops-per-interval", "--seed"]) {
    expect(r.stdout).toContain(flag);
  }
});
