/**
 * The production flags on the command line: contradictory or malformed TLS, signing, trust,
 * target and rate-limit flags make either binary exit 2 with one stderr line naming the problem,
 * before it listens or connects; `--help` documents every new flag. Also the server's start-up
 * signal handling: a SIGTERM sent as soon as it reports that it listens still shuts it down gracefully.
 */
import { spawn } from "node:child_process";
import path from "node:path";
import { writeFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { CLIENT_BIN, ROOT, SERVER_BIN, cleanup, makePki, requireBuilt, run, tempDir } from "./helpers";

jest.setTimeout(40_000);
afterAll(cleanup);
beforeAll(requireBuilt);

const HELP_HINT = /^\(run sync-(server|client) --help for usage\)$/;
const HEX63 = "ab".repeat(31) + "a";

let pki: ReturnType<typeof makePki>;
let notHexFile: string;
beforeAll(() => {
  pki = makePki();
  notHexFile = path.join(tempDir("cw-cli-"), "key.txt");
  writeFileSync(notHexFile, "this is not a key\n");
});

interface Case {
  readonly bin: "server" | "client";
  readonly args: () => string[];
  /** What the one stderr line must say. */
  readonly says: RegExp;
}

const CASES: ReadonlyArray<[string, Case]> = [
  ["server: --tls-cert without --tls-key", { bin: "server", args: () => ["--tls-cert", pki.serverCert], says: /--tls-cert and --tls-key go together/ }],
  ["server: --tls-key without --tls-cert", { bin: "server", args: () => ["--tls-key", pki.serverKey], says: /--tls-cert and --tls-key go together/ }],
  [
    "server: --tls-client-ca without a server certificate",
    { bin: "server", args: () => ["--tls-client-ca", pki.ca], says: /--tls-client-ca needs --tls-cert/ },
  ],
  [
    "server: --tls-cert naming a missing file",
    {
      bin: "server",
      args: () => ["--tls-cert", "/nonexistent/cert.pem", "--tls-key", pki.serverKey],
      says: /--tls-cert: cannot read '\/nonexistent\/cert.pem'/,
    },
  ],
  ["server: --signing-key of 63 hex digits", { bin: "server", args: () => ["--signing-key", HEX63], says: /--signing-key/ }],
  ["server: --signing-key file that holds no key", { bin: "server", args: () => ["--signing-key", notHexFile], says: /--signing-key: expected 64 hex digits/ }],
  ["server: --rate-limit-targets not a number", { bin: "server", args: () => ["--rate-limit-targets", "fast"], says: /--rate-limit-targets/ }],
  ["server: --rate-limit-ops negative", { bin: "server", args: () => ["--rate-limit-ops", "-5"], says: /--rate-limit-ops/ }],
  ["server: --max-streams-per-client fractional", { bin: "server", args: () => ["--max-streams-per-client", "1.5"], says: /--max-streams-per-client/ }],
  ["server: --max-streams not a number", { bin: "server", args: () => ["--max-streams", "many"], says: /--max-streams/ }],
  [
    "client: --target-root without bounds",
    { bin: "client", args: () => ["--target-root", "00".repeat(32)], says: /--target-root, --target-lower and --target-upper go together/ },
  ],
  [
    "client: --target-root and --target-upper without --target-lower",
    { bin: "client", args: () => ["--target-root", "00".repeat(32), "--target-upper", "9"], says: /go together/ },
  ],
  ["client: bounds without --target-root", { bin: "client", args: () => ["--target-lower", "0", "--target-upper", "9"], says: /go together/ }],
  [
    "client: --target-lower not below --target-upper",
    {
      bin: "client",
      args: () => ["--target-root", "00".repeat(32), "--target-lower", "9", "--target-upper", "9"],
      says: /--target-lower 9 must be below --target-upper 9/,
    },
  ],
  [
    "client: --target-root not hex",
    { bin: "client", args: () => ["--target-root", "zz".repeat(32), "--target-lower", "0", "--target-upper", "9"], says: /--target-root/ },
  ],
  ["client: --trusted-key of 63 hex digits", { bin: "client", args: () => ["--trusted-key", HEX63], says: /--trusted-key/ }],
  ["client: --trusted-key 'abc'", { bin: "client", args: () => ["--trusted-key", "abc"], says: /--trusted-key/ }],
  [
    "client: a second --trusted-key that is bad",
    { bin: "client", args: () => ["--trusted-key", "11".repeat(32), "--trusted-key", notHexFile], says: /--trusted-key: expected 64 hex digits/ },
  ],
  [
    "client: --tls-cert without --tls-key",
    { bin: "client", args: () => ["--tls-ca", pki.ca, "--tls-cert", pki.clientCert], says: /--tls-cert and --tls-key go together/ },
  ],
  [
    "client: --tls-cert and --tls-key without --tls-ca",
    { bin: "client", args: () => ["--tls-cert", pki.clientCert, "--tls-key", pki.clientKey], says: /--tls-cert needs --tls-ca/ },
  ],
  ["client: --tls-ca naming a missing file", { bin: "client", args: () => ["--tls-ca", "/nonexistent/ca.pem"], says: /--tls-ca: cannot read/ }],
  [
    "client: --target-updates of an unknown mode",
    { bin: "client", args: () => ["--target-updates", "push"], says: /--target-updates: 'push' must be one of watch, poll/ },
  ],
];

test.concurrent.each(CASES)("%s: exits 2 with one stderr line", async (_name, c) => {
  // Valid values for everything else (free ports, a temporary directory, a server address where
  // nothing listens), so a parser that let the bad value through would start instead of exiting.
  const common = ["-m", "0", "-d", tempDir("cw-cli-run-"), "--log-format", "json"];
  const args = c.bin === "server" ? ["-p", "0", ...common, ...c.args()] : ["-s", "127.0.0.1:1", "-i", "1h", ...common, ...c.args()];
  const r = await run(c.bin === "server" ? SERVER_BIN : CLIENT_BIN, args, 10_000);
  expect(r.signal).toBeNull(); // it exited by itself, not by the timeout
  expect(r.code).toBe(2);
  const lines = r.stderr.split("\n").filter((l) => l !== "" && !HELP_HINT.test(l));
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(new RegExp(`^sync-${c.bin}: `));
  expect(lines[0]).toMatch(c.says);
  expect(r.stdout).not.toMatch(/server listening|starting sync|client ready/);
});

// Reported: a value that is neither 64 hex digits nor a readable file is taken for a file name,
// so a mistyped key yields "cannot read '<key>': ENOENT" instead of what a key must look like.
test.concurrent.each([
  ["--trusted-key", CLIENT_BIN, ["-s", "127.0.0.1:1"]],
  ["--signing-key", SERVER_BIN, ["-p", "0"]],
])("a mistyped %s (63 hex digits) is reported as a malformed key, not as a missing file", async (flag, bin, extra) => {
  const r = await run(bin, [...extra, "-m", "0", "-d", tempDir("cw-cli-run-"), "--log-format", "json", flag, HEX63], 10_000);
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(new RegExp(`${flag}: expected 64 hex digits`));
});

test.concurrent.each([
  [
    "server",
    SERVER_BIN,
    [
      "--tls-cert",
      "--tls-key",
      "--tls-client-ca",
      "--signing-key",
      "--generate-signing-key",
      "--rate-limit-targets",
      "--rate-limit-ops",
      "--max-streams-per-client",
      "--max-streams",
    ],
  ],
  ["client", CLIENT_BIN, ["--tls-ca", "--tls-cert", "--tls-key", "--trusted-key", "--target-root", "--target-lower", "--target-upper", "--target-updates"]],
])("sync-%s --help documents every production flag", async (_name, bin, flags) => {
  const r = await run(bin, ["--help"]);
  expect(r.code).toBe(0);
  for (const flag of flags) expect(r.stdout).toContain(flag);
});

// Reported: the server logs "server listening …" before it installs its SIGINT/SIGTERM handlers,
// so a supervisor that stops it as soon as it is ready kills it without a graceful shutdown.
test("a SIGTERM sent the moment the server reports that it listens still shuts it down gracefully", async () => {
  const outcomes: string[] = [];
  for (let i = 0; i < 5; i++) {
    const child = spawn(process.execPath, [SERVER_BIN, "-p", "0", "-m", "0", "-d", tempDir("cw-cli-sig-"), "-t", "1h", "--log-format", "json"], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let bye = false;
    createInterface({ input: child.stdout }).on("line", (line) => {
      if (line.includes('"server listening')) child.kill("SIGTERM");
      if (line.includes('"database closed; bye"')) bye = true;
    });
    const exit = await new Promise<string>((resolve) => child.once("exit", (code, signal) => resolve(`code ${code}, signal ${signal}`)));
    outcomes.push(`${exit}${bye ? ", said bye" : ""}`);
  }
  expect(outcomes).toEqual(Array(5).fill("code 0, signal null, said bye"));
});
