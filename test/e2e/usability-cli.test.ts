/**
 * Command-line conventions of both real binaries: `--version`; `-s/--server` checked up front
 * (host:port, [v6]:port, dns:///name:port, a bare host meaning port 8080; anything else exits 2
 * naming --server); negative numbers answered with the flag's range; `--help` into a closed pipe;
 * a busy port reported before anything is written; `--once` and `--max-failures`; a failed
 * iteration logged as one line (no stack, no TLS hint for a refused connection); -i/-o documented
 * as keys; and `npx sync-server`/`npx sync-client` stopping when npx is signalled.
 */
import { spawn } from "node:child_process";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { type AddressInfo, type Server, connect, createServer } from "node:net";
import path from "node:path";
import { ROOT, SERVER_BIN, cleanup, requireBuilt, run, startServer, tempDir } from "./harness";

const CLIENT_BIN = path.join(ROOT, "bin/sync-client.js");
const VERSION = (JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { version: string }).version;

jest.setTimeout(60_000);
beforeAll(requireBuilt);
afterAll(cleanup);

/** A port that refuses connections (bound, then closed). */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** Holds a port on 127.0.0.1 until closed. */
async function busyPort(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { port: (server.address() as AddressInfo).port, server };
}

const node = (bin: string, args: readonly string[], timeoutMs?: number) => run(process.execPath, [bin, ...args], timeoutMs);
const stderrLines = (s: string): string[] => s.split("\n").filter((l) => l.trim() !== "");

test.each([
  ["sync-server", SERVER_BIN],
  ["sync-client", CLIENT_BIN],
])("%s --version prints the package version and exits 0", async (name, bin) => {
  const r = await node(bin, ["--version"]);
  expect(r.code).toBe(0);
  expect(r.stdout.trim()).toBe(`${name} ${VERSION}`);
});

describe("-s/--server", () => {
  const BAD = [
    "foo:bar",
    "256.1.1.1:80",
    "127.0.0.1:0",
    "127.0.0.1:70000",
    "::1:8080",
    "[zz]:80",
    "[::1]:x",
    "http://127.0.0.1:80",
    "a:b:c",
    "",
    ":8080",
    "dns:///:80",
    "unix:/tmp/sock",
    "host name:80",
    "-x.example:80",
  ];
  test.concurrent.each(BAD)("%p exits 2 with one line naming --server", async (addr) => {
    const r = await node(CLIENT_BIN, ["-m", "0", "-d", tempDir(), "--server", addr], 10_000);
    expect(r.code).toBe(2);
    const lines = stderrLines(r.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain("--server");
    expect(r.stdout).not.toMatch(/starting/);
  });

  // Accepted forms: checked by where the client says it connects (a refused port, so --once fails with 1, not 2).
  test.concurrent.each([
    ["127.0.0.1:PORT", "127.0.0.1:PORT"],
    ["localhost:PORT", "localhost:PORT"],
    ["[::1]:PORT", "[::1]:PORT"],
    ["dns:///localhost:PORT", "dns:///localhost:PORT"],
  ])("%p is accepted (connects to %p)", async (given, shown) => {
    const port = String(await closedPort());
    const r = await node(CLIENT_BIN, ["-m", "0", "-d", tempDir(), "--log-format", "json", "--once", "-s", given.replace("PORT", port)], 20_000);
    expect(r.code).toBe(1);
    const start = r.stdout.split("\n").find((l) => l.includes("starting continuous sync process"));
    expect(JSON.parse(start!).server).toBe(shown.replace("PORT", port));
  });

  test("a bare host means port 8080", async () => {
    const r = await node(CLIENT_BIN, ["-m", "0", "-d", tempDir(), "--log-format", "json", "--once", "-s", "localhost", "--max-failures", "1"], 20_000);
    expect(r.code).not.toBe(2);
    const start = r.stdout.split("\n").find((l) => l.includes("starting continuous sync process"));
    expect(JSON.parse(start!).server).toBe("localhost:8080");
  });
});

test.concurrent.each([
  [SERVER_BIN, ["-p", "-1"], "--port", "[0, 65535]"],
  [SERVER_BIN, ["--port", "-5"], "--port", "[0, 65535]"],
  [SERVER_BIN, ["-i", "-3"], "--initial-ops", "[0, 10000000]"],
  [SERVER_BIN, ["--max-batch-size", "-1"], "--max-batch-size", "[1, 100000]"],
  [SERVER_BIN, ["--seed", "-1"], "--seed", "[0, 2^64 - 1]"],
  [CLIENT_BIN, ["-b", "-2"], "--batch-size", "[1, 100000]"],
  [CLIENT_BIN, ["--max-failures", "-1"], "--max-failures", "[0, 1000000]"],
  [CLIENT_BIN, ["-r", "-4"], "--max-outstanding-requests", "[1, 64]"],
])("%s %p: a negative number is answered with the range of %s", async (bin, args, flag, range) => {
  const r = await node(bin, ["-m", "0", "-d", tempDir(), ...args], 10_000);
  expect(r.code).toBe(2);
  const lines = stderrLines(r.stderr);
  expect(lines).toHaveLength(1);
  expect(lines[0]).toContain(flag);
  expect(lines[0]).toContain(range);
  expect(lines[0]).not.toMatch(/ambiguous/);
});

test.each([SERVER_BIN, CLIENT_BIN])("%s --help into a closed pipe exits 0 without an EPIPE error", async (bin) => {
  // The reading end is closed before the binary writes: every write gets EPIPE.
  const child = spawn(process.execPath, [bin, "--help"], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  child.stdout.destroy();
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr += s));
  const code = await new Promise<number | null>((resolve) => child.once("close", (c) => resolve(c)));
  expect(stderr).toBe("");
  expect(code).toBe(0);
  // And through a shell pipe, as a person would type it.
  const r = await run("bash", ["-c", `set -o pipefail; "${process.execPath}" "${bin}" --help | head -1`]);
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/^sync-(server|client): /);
  expect(r.stderr).toBe("");
});

describe("a busy port or a bad listen address is reported before anything is written", () => {
  test.each([
    ["--port", (p: number) => ["-p", String(p), "-m", "0"]],
    ["--metrics-port", (p: number) => ["-p", "0", "-m", String(p)]],
  ])("sync-server %s", async (flag, args) => {
    const { port, server } = await busyPort();
    const dir = path.join(tempDir(), "db");
    try {
      const r = await node(SERVER_BIN, [...args(port), "-d", dir, "--log-format", "json"], 15_000);
      expect(r.code).toBe(1);
      const lines = stderrLines(r.stderr);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(flag);
      expect(lines[0]).toContain(`127.0.0.1:${port}`);
      expect(lines[0]).toMatch(/in use/);
      expect(existsSync(dir)).toBe(false);
    } finally {
      server.close();
    }
  });

  // A label longer than DNS allows (63 bytes) under .invalid: no query can leave the machine.
  const UNRESOLVABLE = `${"x".repeat(70)}.invalid`;
  test.each([
    ["--host", ["--host", UNRESOLVABLE, "-p", "0", "-m", "0"]],
    ["--metrics-host", ["--metrics-host", UNRESOLVABLE, "-p", "0", "-m", "0"]],
  ])("sync-server %s that does not resolve (ports 0)", async (flag, args) => {
    const dir = path.join(tempDir(), "db");
    const r = await node(SERVER_BIN, [...args, "-d", dir, "--log-format", "json"], 15_000);
    expect(r.code).toBe(1);
    const lines = stderrLines(r.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toBe(`sync-server: ${flag}: '${UNRESOLVABLE}' does not resolve (ENOTFOUND); nothing was created`);
    expect(r.stdout).toBe("");
    expect(existsSync(dir)).toBe(false);
  });

  test("sync-client --metrics-host that does not resolve", async () => {
    const dir = path.join(tempDir(), "db");
    const r = await node(CLIENT_BIN, ["--metrics-host", UNRESOLVABLE, "-m", "0", "-d", dir, "-s", "127.0.0.1:1"], 15_000);
    expect(r.code).toBe(1);
    expect(stderrLines(r.stderr)).toEqual([`sync-client: --metrics-host: '${UNRESOLVABLE}' does not resolve (ENOTFOUND); nothing was created`]);
    expect(existsSync(dir)).toBe(false);
  });

  test("sync-client --metrics-port", async () => {
    const { port, server } = await busyPort();
    const dir = path.join(tempDir(), "db");
    try {
      const r = await node(CLIENT_BIN, ["-m", String(port), "-d", dir, "-s", "127.0.0.1:1"], 15_000);
      expect(r.code).toBe(1);
      expect(stderrLines(r.stderr)).toHaveLength(1);
      expect(r.stderr).toContain("--metrics-port");
      expect(r.stderr).toMatch(/in use/);
      expect(existsSync(dir)).toBe(false);
    } finally {
      server.close();
    }
  });
});

describe("--once and --max-failures", () => {
  test("--once syncs once and exits 0; the directory holds the synced database", async () => {
    const server = await startServer({ db: "any", initialOps: 200, opInterval: "50ms" });
    const dir = tempDir();
    const r = await node(CLIENT_BIN, ["-s", server.addr, "-m", "0", "-d", dir, "--once", "--log-format", "json"], 30_000);
    expect(r.code).toBe(0);
    const msgs = r.stdout
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => (JSON.parse(l) as { msg: string }).msg);
    expect(msgs.filter((m) => m === "✅ sync completed successfully")).toHaveLength(1);
    expect(msgs.filter((m) => m === "starting sync")).toHaveLength(1);
    expect(readdirSync(dir).length).toBeGreaterThan(0);
    await server.stop();
  });

  test("--once stopped by SIGTERM before its sync completes exits 1", async () => {
    // A rate-limited server: the sync takes seconds, so the signal lands in the middle of it.
    const server = await startServer({ db: "any", initialOps: 3000, opInterval: "1h", extra: ["--rate-limit-ops", "300"] });
    const child = spawn(process.execPath, [CLIENT_BIN, "-s", server.addr, "-m", "0", "-d", tempDir(), "--once", "--log-format", "json"], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
    const exited = new Promise<number | null>((resolve) => child.once("close", (c) => resolve(c)));
    while (!out.includes('"starting sync"')) await new Promise((r) => setTimeout(r, 20));
    child.kill("SIGTERM");
    expect(await exited).toBe(1);
    expect(out).not.toContain("sync completed successfully");
    expect(err).toMatch(/--once: stopped before the sync completed/);
    await server.stop();
  });

  test("a server that dies mid-sync: polling for targets warns once, not at every interval", async () => {
    const server = await startServer({ db: "any", initialOps: 3000, opInterval: "1h", extra: ["--rate-limit-ops", "300"] });
    const child = spawn(
      process.execPath,
      [CLIENT_BIN, "-s", server.addr, "-m", "0", "-d", tempDir(), "--once", "--target-updates", "poll", "-t", "50ms", "--log-format", "json"],
      { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    const exited = new Promise<number | null>((resolve) => child.once("close", (c) => resolve(c)));
    while (!out.includes('"starting sync"')) await new Promise((r) => setTimeout(r, 20));
    await server.stop("SIGKILL");
    expect(await exited).toBe(1);
    const lines = out
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as { level: number; msg: string });
    expect(lines.filter((l) => l.msg === "sync failed")).toHaveLength(1);
    // Polls every 50 ms fail for as long as the iteration retries its fetches (seconds).
    expect(lines.filter((l) => l.msg === "failed to fetch a target update" && l.level >= 40)).toHaveLength(1);
  }, 90_000);

  test("--once exits 1 when the sync fails, after one failed iteration", async () => {
    const port = await closedPort();
    const r = await node(CLIENT_BIN, ["-s", `127.0.0.1:${port}`, "-m", "0", "-d", tempDir(), "--once", "--log-format", "json"], 20_000);
    expect(r.code).toBe(1);
    expect(r.stdout.split("\n").filter((l) => l.includes('"sync failed"'))).toHaveLength(1);
    // The log carries the gRPC message once; the exit summary on stderr carries it once more.
    expect(r.stdout.match(/ECONNREFUSED/g)).toHaveLength(1);
    expect(stderrLines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(/^sync-client: 1 consecutive sync iteration failed; last error: .*ECONNREFUSED/);
  });

  test("--max-failures 3 exits 1 after exactly 3 failed iterations in a row", async () => {
    const port = await closedPort();
    const r = await node(
      CLIENT_BIN,
      ["-s", `127.0.0.1:${port}`, "-m", "0", "-d", tempDir(), "-i", "50ms", "--max-failures", "3", "--log-format", "json"],
      20_000,
    );
    expect(r.code).toBe(1);
    expect(r.stdout.split("\n").filter((l) => l.includes('"sync failed"'))).toHaveLength(3);
    expect(r.stderr).toMatch(/3 consecutive sync iterations failed/);
  });

  test("a failed iteration is one log line: the gRPC message once, no stack, no TLS hint for a refused connection", async () => {
    const port = await closedPort();
    for (const format of ["json", "pretty"]) {
      const r = await node(CLIENT_BIN, ["-s", `127.0.0.1:${port}`, "-m", "0", "-d", tempDir(), "--once", "--log-format", format], 20_000);
      expect(r.code).toBe(1);
      const lines = r.stdout.split("\n");
      const i = lines.findIndex((l) => l.includes("sync failed"));
      expect(i).toBeGreaterThanOrEqual(0);
      const line = lines[i]!;
      expect(line.match(/UNAVAILABLE/g)).toHaveLength(1);
      expect(line).toContain("ECONNREFUSED");
      expect(line).not.toMatch(/tls|stack|\s+at /i);
      // The next line is the next event, not a continuation of this one.
      expect(lines[i + 1] ?? "").not.toMatch(/^\s/);
      expect(r.stdout).not.toMatch(/^\s+at /m);
    }
  });
});

test("-i and -o are documented as keys in both --help and the README", async () => {
  const help = (await node(SERVER_BIN, ["--help"])).stdout;
  expect(help).toMatch(/-i, --initial-ops <value>\s+keys/);
  expect(help).toMatch(/-o, --ops-per-interval <value>\s+keys/);
  const readme = readFileSync(path.join(ROOT, "README.md"), "utf8");
  expect(readme).toMatch(/`-i, --initial-ops <KEYS>` \| `100` \| keys/);
  expect(readme).toMatch(/`-o, --ops-per-interval <KEYS>` \| `5` \| keys/);
});

describe("npx forwards SIGTERM/SIGINT: no process is left holding the port", () => {
  const NPX_TIMEOUT = 150_000;
  // npx installs the project into its cache on first use, which would run `prepare` (a rebuild of
  // dist/ while other tests run binaries from it): the project is built already, so skip scripts.
  const npxEnv = { ...process.env, npm_config_ignore_scripts: "true" };
  /** Resolves true once nothing accepts connections on `port`. */
  async function portFree(port: number, timeoutMs: number): Promise<boolean> {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      const open = await new Promise<boolean>((resolve) => {
        const s = connect(port, "127.0.0.1");
        s.once("connect", () => (s.destroy(), resolve(true)));
        s.once("error", () => resolve(false));
      });
      if (!open) return true;
      await new Promise((r) => setTimeout(r, 100));
    }
    return false;
  }

  const alive = (pid: number): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };

  test.each(["SIGTERM", "SIGINT"] as const)(
    "npx sync-server, then %s to npx",
    async (signal) => {
      const dir = tempDir();
      const npx = spawn("npx", ["sync-server", "-p", "0", "-m", "0", "-d", dir, "-t", "1h", "-i", "10", "--log-format", "json"], {
        cwd: ROOT,
        env: npxEnv,
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      npx.stdout.setEncoding("utf8").on("data", (s: string) => (out += s));
      const listening = await new Promise<{ addr: string; pid: number }>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`npx sync-server did not start: ${out}`)), 100_000);
        npx.stdout.on("data", () => {
          const line = out.split("\n").find((l) => l.includes("server listening"));
          if (line !== undefined) {
            clearTimeout(timer);
            resolve(JSON.parse(line) as { addr: string; pid: number });
          }
        });
      });
      const port = Number(listening.addr.split(":").pop());
      expect(listening.pid).not.toBe(npx.pid);
      npx.kill(signal);
      expect(await portFree(port, 10_000)).toBe(true);
      const until = Date.now() + 10_000;
      while (alive(listening.pid) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
      expect(alive(listening.pid)).toBe(false);
      expect(out).toMatch(/database closed; bye/); // a graceful shutdown, not a kill
    },
    NPX_TIMEOUT,
  );

  test(
    "Ctrl-C on npx sync-server (SIGINT to the whole process group: the server gets it twice) shuts down gracefully, exit 0",
    async () => {
      const npx = spawn("npx", ["sync-server", "-p", "0", "-m", "0", "-d", tempDir(), "-t", "1h", "-i", "10", "--log-format", "json"], {
        cwd: ROOT,
        env: npxEnv,
        stdio: ["ignore", "pipe", "pipe"],
        detached: true, // its own process group, as a terminal's foreground job
      });
      let out = "";
      npx.stdout.setEncoding("utf8").on("data", (s: string) => (out += s));
      const exited = new Promise<number | null>((resolve) => npx.once("exit", (code) => resolve(code)));
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`npx sync-server did not start: ${out}`)), 100_000);
        npx.stdout.on("data", () => {
          if (out.includes("server listening")) {
            clearTimeout(timer);
            resolve();
          }
        });
      });
      process.kill(-npx.pid!, "SIGINT");
      expect(await exited).toBe(0);
      expect(out).toMatch(/database closed; bye/);
      expect(out).not.toMatch(/second signal/);
    },
    NPX_TIMEOUT,
  );

  test(
    "npx sync-client, then SIGTERM to npx",
    async () => {
      const port = await closedPort();
      const npx = spawn("npx", ["sync-client", "-s", `127.0.0.1:${port}`, "-m", "0", "-d", tempDir(), "-i", "100ms", "--log-format", "json"], {
        cwd: ROOT,
        env: npxEnv,
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      npx.stdout.setEncoding("utf8").on("data", (s: string) => (out += s));
      const pid = await new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`npx sync-client did not start: ${out}`)), 100_000);
        npx.stdout.on("data", () => {
          const line = out.split("\n").find((l) => l.includes("client ready"));
          if (line !== undefined) {
            clearTimeout(timer);
            resolve((JSON.parse(line) as { pid: number }).pid);
          }
        });
      });
      npx.kill("SIGTERM");
      const until = Date.now() + 10_000;
      while (alive(pid) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
      expect(alive(pid)).toBe(false);
    },
    NPX_TIMEOUT,
  );
});
