/**
 * The directory lock in one process plus short-lived child processes: stale locks (dead owner,
 * recycled pid, garbage) are taken over, live ones are not, shares are counted, and of many
 * processes racing for one stale lock exactly one wins.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import path from "node:path";
import { DirectoryInUseError, DirectoryLock, LOCK_FILE, StorageDirectoryError, ensureStorageDirectory, lockStorageDirectory } from "./dir-lock";
import { tempDir } from "../../test/helpers/tmp";

const lockOf = (dir: string): { pid: number; start: string; host: string; token: string } => JSON.parse(readFileSync(path.join(dir, LOCK_FILE), "utf8"));

/** The pid of a process that has exited (so nothing runs under it, barring immediate reuse). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" });
  return Number(r.stdout);
}

test("acquire writes LOCK with this process's identity; release removes it", () => {
  const dir = tempDir();
  const lock = DirectoryLock.acquire(dir);
  const owner = lockOf(dir);
  expect(owner.pid).toBe(process.pid);
  expect(owner.host).toBe(hostname());
  expect(owner.start).toMatch(/^\d+$/);
  lock.release();
  expect(existsSync(path.join(dir, LOCK_FILE))).toBe(false);
});

test("shares in one process are counted: the file goes with the last release", () => {
  const dir = tempDir();
  const a = DirectoryLock.acquire(dir);
  const b = DirectoryLock.acquire(path.join(dir, ".")); // same directory, another spelling
  a.release();
  a.release(); // a second release of one share is ignored
  expect(existsSync(path.join(dir, LOCK_FILE))).toBe(true);
  b.release();
  expect(existsSync(path.join(dir, LOCK_FILE))).toBe(false);
});

test("a lock left by a dead process is taken over", () => {
  const dir = tempDir();
  writeFileSync(path.join(dir, LOCK_FILE), JSON.stringify({ pid: deadPid(), start: "1", host: hostname(), token: "old" }));
  const lock = DirectoryLock.acquire(dir);
  expect(lockOf(dir).pid).toBe(process.pid);
  lock.release();
});

test("a lock naming a live pid that started at another time (a recycled pid) is taken over", () => {
  const dir = tempDir();
  writeFileSync(path.join(dir, LOCK_FILE), JSON.stringify({ pid: process.ppid, start: "1", host: hostname(), token: "old" }));
  const lock = DirectoryLock.acquire(dir);
  expect(lockOf(dir).token).not.toBe("old");
  lock.release();
});

test("a lock naming a zombie (killed, not yet reaped by its parent) is taken over", async () => {
  const dir = tempDir();
  // `sleep 5` (exec'd in place of the shell) never reaps the short-lived child: it stays a zombie.
  const parent = spawn("sh", ["-c", "sleep 0.05 & echo $!; exec sleep 5"], { stdio: ["ignore", "pipe", "ignore"] });
  try {
    const pid = Number(await new Promise<string>((resolve) => parent.stdout!.once("data", (d: Buffer) => resolve(d.toString()))));
    const start = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")[19]!;
    for (let i = 0; i < 200 && readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]![0] !== "Z"; i++) await new Promise((r) => setTimeout(r, 10));
    expect(readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]![0]).toBe("Z");
    writeFileSync(path.join(dir, LOCK_FILE), JSON.stringify({ pid, start, host: hostname(), token: "zombie" }));
    const lock = DirectoryLock.acquire(dir);
    expect(lockOf(dir).pid).toBe(process.pid);
    lock.release();
  } finally {
    parent.kill("SIGKILL");
  }
});

test("an unreadable (garbage or empty) lock file is taken over", () => {
  for (const garbage of ["", "not json", '{"pid":"x"}']) {
    const dir = tempDir();
    writeFileSync(path.join(dir, LOCK_FILE), garbage);
    DirectoryLock.acquire(dir).release();
  }
});

test("a live lock of another process is refused with its pid", () => {
  const dir = tempDir();
  const ppidStart = readFileSync(`/proc/${process.ppid}/stat`, "utf8").split(") ")[1]!.split(" ")[19]!;
  writeFileSync(path.join(dir, LOCK_FILE), JSON.stringify({ pid: process.ppid, start: ppidStart, host: hostname(), token: "live" }));
  const err = (() => {
    try {
      DirectoryLock.acquire(dir);
    } catch (e) {
      return e;
    }
  })();
  expect(err).toBeInstanceOf(DirectoryInUseError);
  expect((err as Error).message).toBe(`storage directory ${dir} is in use by another process (pid ${process.ppid})`);
  expect(lockOf(dir).token).toBe("live"); // untouched
});

test("a lock from another host is respected while its heartbeat (mtime) is recent, and taken over after a minute without one", () => {
  const dir = tempDir();
  const file = path.join(dir, LOCK_FILE);
  writeFileSync(file, JSON.stringify({ pid: deadPid(), start: "1", host: `not-${hostname()}`, token: "remote" }));
  expect(() => DirectoryLock.acquire(dir)).toThrow(/in use by another process \(pid \d+ on host not-/);
  const old = new Date(Date.now() - 61_000);
  utimesSync(file, old, old);
  const lock = DirectoryLock.acquire(dir);
  expect(lockOf(dir).pid).toBe(process.pid);
  lock.release();
});

test("an owner keeps its lock's heartbeat going", () => {
  jest.useFakeTimers({ doNotFake: ["Date"] });
  try {
    const dir = tempDir();
    const lock = DirectoryLock.acquire(dir);
    const file = path.join(dir, LOCK_FILE);
    const old = new Date(Date.now() - 61_000);
    utimesSync(file, old, old);
    jest.advanceTimersByTime(5_000);
    expect(Date.now() - statSync(file).mtimeMs).toBeLessThan(10_000);
    lock.release();
  } finally {
    jest.useRealTimers();
  }
});

test("unusable directories are StorageDirectoryErrors naming the path", () => {
  const base = tempDir();
  const file = path.join(base, "file");
  writeFileSync(file, "x");
  expect(() => lockStorageDirectory(file)).toThrow(new StorageDirectoryError(file, "is not a directory"));
  expect(() => lockStorageDirectory(path.join(file, "sub"))).toThrow(`storage directory ${path.join(file, "sub")}: ${file} is not a directory`);
  expect(() => ensureStorageDirectory("/proc/nope")).toThrow(/^storage directory \/proc\/nope: cannot create \/proc\/nope: /);
  const nested = path.join(base, "a", "b", "c");
  ensureStorageDirectory(nested);
  lockStorageDirectory(nested).release();
  mkdirSync(path.join(base, "d"));
  ensureStorageDirectory(path.join(base, "d")); // existing directory: fine
});

const BUILT = path.join(__dirname, "../../dist/src/journal/dir-lock.js");

test("of many processes racing for one stale lock, exactly one wins", async () => {
  if (!existsSync(BUILT)) throw new Error(`${BUILT} is missing: run \`npx tsc -p tsconfig.json\` first`);
  const dir = tempDir();
  writeFileSync(path.join(dir, LOCK_FILE), JSON.stringify({ pid: deadPid(), start: "1", host: hostname(), token: "stale" }));
  // Each child (running the built module) waits for a common start time, tries once and reports.
  // A winner keeps the lock until every child has reported (then all are killed): on a loaded
  // machine a child may start late, and must then find the lock still held.
  const at = Date.now() + 1500;
  const body = `
    const { DirectoryLock } = require(${JSON.stringify(BUILT)});
    setTimeout(() => {
      try { DirectoryLock.acquire(${JSON.stringify(dir)}); process.stdout.write("won"); setInterval(() => {}, 1000); }
      catch (e) { process.stdout.write(e.name); }
    }, ${at} - Date.now());
  `;
  const children: ChildProcess[] = [];
  const outcomes = await Promise.all(
    Array.from(
      { length: 8 },
      () =>
        new Promise<string>((resolve, reject) => {
          const child = spawn(process.execPath, ["-e", body], { stdio: ["ignore", "pipe", "inherit"] });
          children.push(child);
          child.stdout.setEncoding("utf8").once("data", (s: string) => resolve(s));
          child.once("error", reject);
          child.once("close", (code) => reject(new Error(`a child exited (${code}) without reporting`)));
        }),
    ),
  ).finally(() => children.forEach((c) => c.kill("SIGKILL")));
  expect(outcomes.filter((o) => o === "won")).toHaveLength(1);
  expect(outcomes.filter((o) => o === "DirectoryInUseError")).toHaveLength(7);
}, 20_000);
