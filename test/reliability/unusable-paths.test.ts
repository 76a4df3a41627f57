/**
 * Issue 11, item 9: an unusable storage path (under /proc, a file, a path under a file, no
 * permission, a read-only file system) makes `sync-server` and `sync-client` print one line
 * naming the path and exit 1 at once: never a spin, never a hang that ignores SIGTERM. The
 * permission cases run the binaries as `nobody` and the read-only case mounts a read-only tmpfs,
 * both only possible as root; otherwise they are reported as not run.
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, rmdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { canMountTmpfs } from "../helpers/mount";
import { CLIENT_BIN, ROOT, SERVER_BIN, cleanup, tempDir } from "../production/helpers";

jest.setTimeout(60_000);
afterAll(cleanup);

const NOBODY = 65534;
/** Root, and the checkout is readable by `nobody` (so the binaries can run as that user). */
const asNobody = process.getuid?.() === 0 && spawnSync(process.execPath, [SERVER_BIN, "--version"], { cwd: ROOT, uid: NOBODY, gid: NOBODY }).status === 0;

/** Runs a binary with a storage directory; SIGTERMs it after 10 s (a hang) and reports that. */
function runWith(bin: string, dir: string, uid?: number): Promise<{ code: number | null; stderr: string; ms: number; hung: boolean }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const where = bin === CLIENT_BIN ? ["-s", "127.0.0.1:1"] : ["-p", "0"];
    const child = spawn(process.execPath, [bin, ...where, "-m", "0", "-d", dir, "--log-format", "json"], {
      cwd: ROOT,
      stdio: ["ignore", "ignore", "pipe"],
      ...(uid === undefined ? {} : { uid, gid: uid }),
    });
    let stderr = "";
    let hung = false;
    child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr += s));
    const timer = setTimeout(() => {
      hung = true;
      child.kill("SIGTERM");
      setTimeout(() => child.kill("SIGKILL"), 3000).unref();
    }, 10_000);
    child.once("error", reject);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, ms: Date.now() - started, hung });
    });
  });
}

async function expectRefused(dir: string, reason: RegExp, uid?: number): Promise<void> {
  for (const [name, bin] of [
    ["sync-server", SERVER_BIN],
    ["sync-client", CLIENT_BIN],
  ] as const) {
    const r = await runWith(bin, dir, uid);
    expect({ name, hung: r.hung, code: r.code }).toEqual({ name, hung: false, code: 1 });
    const lines = r.stderr.split("\n").filter((l) => l !== "");
    expect(lines).toHaveLength(1);
    expect(lines[0]!.startsWith(`${name}: storage directory ${dir}: `)).toBe(true);
    expect(lines[0]).toMatch(reason);
  }
}

test("a path under /proc", async () => {
  await expectRefused("/proc/nope", /cannot create \/proc\/nope: no such file or directory \(ENOENT\)$/);
  await expectRefused("/proc/nope/deeper", /cannot create \/proc\/nope: /);
});

test("a file where a directory is expected, and a path under a file", async () => {
  const file = path.join(tempDir(), "plain-file");
  writeFileSync(file, "not a directory");
  await expectRefused(file, /: is not a directory$/);
  await expectRefused(path.join(file, "db"), new RegExp(`: ${file} is not a directory$`));
});

(asNobody ? describe : describe.skip)("as nobody (skipped otherwise: needs root and a checkout nobody can read)", () => {
  test("no permission: a directory nobody may not enter, and one nobody may not write", async () => {
    const base = tempDir();
    chmodSync(base, 0o755);
    const closed = path.join(base, "closed");
    mkdirSync(closed, { mode: 0o700 });
    await expectRefused(path.join(closed, "db"), /permission denied \(EACCES\)$/, NOBODY);
    const readOnly = path.join(base, "read-only");
    mkdirSync(readOnly, { mode: 0o555 });
    chmodSync(readOnly, 0o555);
    await expectRefused(readOnly, /cannot create the lock file: permission denied \(EACCES\)$/, NOBODY);
  });
});

(canMountTmpfs() ? describe : describe.skip)("with a mount (skipped otherwise: needs root and a working mount)", () => {
  test("a read-only file system", async () => {
    const mnt = path.join(tempDir(), "ro");
    mkdirSync(mnt);
    execFileSync("mount", ["-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", mnt]);
    try {
      await expectRefused(mnt, /cannot create the lock file: read-only file system \(EROFS\)$/);
      await expectRefused(path.join(mnt, "db"), /cannot create .*: read-only file system \(EROFS\)$/);
    } finally {
      execFileSync("umount", [mnt]);
      rmdirSync(mnt);
    }
  });
});

if (!asNobody || !canMountTmpfs()) {
  test("permission and read-only file system cases", () => {
    console.warn("unusable-paths: not root or no working mount, so the no-permission (setuid nobody) and/or read-only mount cases did not run");
  });
}
