/**
 * One process at a time owns a storage directory. Node has no flock(2), so the lock is a file
 * `<dir>/LOCK` created atomically (a complete temporary file hard-linked into place: `link` fails
 * if the name exists) holding the owner's pid, its start time (from /proc, so a recycled pid is not
 * mistaken for the owner), its host name and a random token. A lock whose owner is gone (killed,
 * crashed) is stale and taken over; takeovers are serialised by a second file, `LOCK.takeover`, so
 * two processes that both find a stale lock never both win, and a live lock is never removed.
 * The owner cannot be looked up from another host (a shared volume, a rescheduled container with a
 * new host name), so the owner refreshes the lock's mtime every few seconds and a lock from another
 * host is stale once that heartbeat has stopped for a minute.
 * Within one process the lock is shared and counted (a database reopened by the same process, the
 * sync engine opening the database it filled): only other processes are kept out.
 */
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, realpathSync, statSync, unlinkSync, utimesSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { DiskStorage, type Storage } from "./storage";

/** The lock file's name inside a storage directory. */
export const LOCK_FILE = "LOCK";
const TAKEOVER_FILE = "LOCK.takeover";
/** A takeover file older than this belongs to a process that stalled or died mid-takeover. */
const TAKEOVER_STALE_MS = 10_000;
/** How often an owner refreshes its lock's mtime, and when a lock from another host is stale. */
const HEARTBEAT_MS = 5_000;
const FOREIGN_STALE_MS = 60_000;

/** Another process holds the storage directory. */
export class DirectoryInUseError extends Error {
  override name = "DirectoryInUseError";
  constructor(
    readonly directory: string,
    readonly pid: number,
    readonly host: string,
  ) {
    super(`storage directory ${directory} is in use by another process (pid ${pid}${host === hostname() ? "" : ` on host ${host}`})`);
  }
}

/** The storage directory cannot be used at all (missing, not a directory, not writable...). */
export class StorageDirectoryError extends Error {
  override name = "StorageDirectoryError";
  constructor(
    readonly directory: string,
    reason: string,
    options?: ErrorOptions,
  ) {
    super(`storage directory ${directory}: ${reason}`, options);
  }
}

interface Owner {
  readonly pid: number;
  readonly start: string;
  readonly host: string;
  readonly token: string;
}

interface Held {
  readonly file: string;
  readonly token: string;
  count: number;
  readonly heartbeat: NodeJS.Timeout;
}

/** Locks this process holds, by the real path of their directory. */
const held = new Map<string, Held>();
let exitHookInstalled = false;

/** A held lock on a storage directory; `release` it once (extra calls are ignored). */
export class DirectoryLock {
  private released = false;

  private constructor(private readonly key: string) {}

  /**
   * Takes the lock of `directory` (which must exist), or shares it if this process already holds
   * it. Throws `DirectoryInUseError` if another live process holds it, `StorageDirectoryError` if
   * the lock file cannot be created (read-only, no permission, not a directory).
   */
  static acquire(directory: string): DirectoryLock {
    let key: string;
    try {
      key = realpathSync(directory);
    } catch (err) {
      throw new StorageDirectoryError(directory, describe(err), { cause: err });
    }
    const existing = held.get(key);
    if (existing !== undefined) {
      existing.count++;
      return new DirectoryLock(key);
    }
    const token = randomBytes(16).toString("hex");
    const file = path.join(key, LOCK_FILE);
    createLock(directory, file, token);
    const heartbeat = setInterval(() => touch(file), HEARTBEAT_MS).unref();
    held.set(key, { file, token, count: 1, heartbeat });
    if (!exitHookInstalled) {
      exitHookInstalled = true;
      process.once("exit", releaseAll);
    }
    return new DirectoryLock(key);
  }

  /** Gives this share back; the file is removed when the last share in this process is released. */
  release(): void {
    if (this.released) return;
    this.released = true;
    const entry = held.get(this.key);
    if (entry === undefined || --entry.count > 0) return;
    held.delete(this.key);
    clearInterval(entry.heartbeat);
    removeIfOurs(entry.file, entry.token);
  }
}

/**
 * Creates `directory` (and missing parents) if needed and checks it is a directory, one component
 * at a time: `mkdirSync(..., { recursive: true })` loops forever on some unusable paths (under
 * /proc). Throws `StorageDirectoryError` naming the path and the reason.
 */
export function ensureStorageDirectory(directory: string): void {
  const full = path.resolve(directory);
  const parts: string[] = [];
  for (let p = full; ; p = path.dirname(p)) {
    parts.unshift(p);
    if (path.dirname(p) === p) break;
  }
  for (const p of parts) {
    let isDir: boolean;
    try {
      isDir = statSync(p).isDirectory();
    } catch (err) {
      if (errno(err) !== "ENOENT") throw new StorageDirectoryError(directory, `${p}: ${describe(err)}`, { cause: err });
      try {
        mkdirSync(p);
        continue;
      } catch (mkErr) {
        if (errno(mkErr) === "EEXIST" && statSync(p, { throwIfNoEntry: false })?.isDirectory() === true) continue;
        throw new StorageDirectoryError(directory, `cannot create ${p}: ${describe(mkErr)}`, { cause: mkErr });
      }
    }
    if (!isDir) throw new StorageDirectoryError(directory, p === full ? "is not a directory" : `${p} is not a directory`);
  }
}

/** Creates `directory` if needed (see `ensureStorageDirectory`) and takes its lock. */
export function lockStorageDirectory(directory: string): DirectoryLock {
  ensureStorageDirectory(directory);
  return DirectoryLock.acquire(directory);
}

/**
 * Locks the directory behind `root` when it is one (a path or a `DiskStorage`); other storages
 * (in-memory, fault-injecting) have no directory and get no lock.
 */
export function lockRoot(root: string | Storage): DirectoryLock | undefined {
  if (typeof root === "string") return lockStorageDirectory(root);
  return root instanceof DiskStorage ? lockStorageDirectory(root.root) : undefined;
}

/** Runs `body` holding the lock of `root` (see `lockRoot`), released however `body` ends. */
export async function withDirectoryLock<T>(root: string | Storage, body: () => Promise<T>): Promise<T> {
  const lock = lockRoot(root);
  try {
    return await body();
  } finally {
    lock?.release();
  }
}

function createLock(directory: string, file: string, token: string): void {
  const me = ownIdentity(token);
  // A complete file is linked into place, so a reader never sees a half-written lock.
  const tmp = `${file}.${process.pid}.${token.slice(0, 8)}`;
  try {
    writeDurably(tmp, encode(me), "wx");
  } catch (err) {
    throw new StorageDirectoryError(directory, `cannot create the lock file: ${describe(err)}`, { cause: err });
  }
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        linkSync(tmp, file);
        return;
      } catch (err) {
        if (errno(err) !== "EEXIST") throw new StorageDirectoryError(directory, `cannot create the lock file: ${describe(err)}`, { cause: err });
      }
      const owner = readOwner(file);
      if (owner !== undefined && isAlive(owner, file)) throw new DirectoryInUseError(directory, owner.pid, owner.host);
      if (attempt >= 50) throw new StorageDirectoryError(directory, `could not take over the stale lock ${file}`);
      takeOver(file, owner);
    }
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      // already gone: nothing to clean up
    }
  }
}

/**
 * Removes the stale lock `file` (last seen holding `stale`) while holding the takeover file, and
 * only if it still holds `stale`: a lock created meanwhile by a live process is left alone.
 */
function takeOver(file: string, stale: Owner | undefined): void {
  const guard = path.join(path.dirname(file), TAKEOVER_FILE);
  const token = randomBytes(16).toString("hex");
  try {
    writeDurably(guard, encode(ownIdentity(token)), "wx");
  } catch (err) {
    if (errno(err) !== "EEXIST") throw err;
    clearStaleGuard(guard);
    sleepSync(5); // another process is taking over; look again
    return;
  }
  try {
    const now = readOwner(file);
    if (now?.token === stale?.token) unlinkSync(file);
  } catch (err) {
    if (errno(err) !== "ENOENT") throw err;
  } finally {
    removeIfOurs(guard, token);
  }
}

// A takeover file whose owner died, or that is far older than any takeover takes, is removed.
function clearStaleGuard(guard: string): void {
  const owner = readOwner(guard);
  let age = 0;
  try {
    age = Date.now() - statSync(guard).mtimeMs;
  } catch {
    return;
  }
  if (owner !== undefined && isAlive(owner, guard) && age < TAKEOVER_STALE_MS) return;
  if (owner === undefined && age < TAKEOVER_STALE_MS) return; // being written right now
  removeIfOurs(guard, owner?.token);
}

function ownIdentity(token: string): Owner {
  return { pid: process.pid, start: startTime(process.pid) ?? "", host: hostname(), token };
}

/**
 * Whether the process recorded in `file` still runs. One on another host cannot be looked up: it
 * is alive while its heartbeat (the file's mtime) is recent.
 */
function isAlive(owner: Owner, file: string): boolean {
  if (owner.host !== hostname()) {
    const mtime = statSync(file, { throwIfNoEntry: false })?.mtimeMs;
    return mtime !== undefined && Date.now() - mtime < FOREIGN_STALE_MS;
  }
  try {
    process.kill(owner.pid, 0);
  } catch (err) {
    if (errno(err) === "ESRCH") return false;
  }
  const stat = procStat(owner.pid);
  // A killed process stays a zombie until its parent reaps it (a parent that never does, such as
  // a container's init): it holds nothing and will never release the lock.
  if (stat !== undefined && (stat.state === "Z" || stat.state === "X")) return false;
  // The pid exists; it is the owner unless it started at another time (a recycled pid).
  return owner.start === "" || stat === undefined || stat.start === owner.start;
}

/** A process's start time in clock ticks since boot (/proc/<pid>/stat field 22); undefined off Linux. */
function startTime(pid: number): string | undefined {
  return procStat(pid)?.start;
}

/** A process's state letter (field 3) and start time (field 22) from /proc; undefined off Linux. */
function procStat(pid: number): { state: string; start: string | undefined } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { state: fields[0] ?? "", start: fields[19] };
  } catch {
    return undefined;
  }
}

function encode(o: Owner): string {
  return `${JSON.stringify({ pid: o.pid, start: o.start, host: o.host, token: o.token })}\n`;
}

function readRaw(file: string): string | undefined {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    if (errno(err) === "ENOENT") return undefined;
    throw err;
  }
}

/** The owner recorded in a lock file; undefined if it is missing or unreadable as a lock. */
function readOwner(file: string): Owner | undefined {
  const raw = readRaw(file);
  if (raw === undefined) return undefined;
  try {
    const o = JSON.parse(raw) as Partial<Owner>;
    if (
      typeof o.pid === "number" &&
      Number.isSafeInteger(o.pid) &&
      o.pid > 0 &&
      typeof o.start === "string" &&
      typeof o.host === "string" &&
      typeof o.token === "string"
    ) {
      return o as Owner;
    }
  } catch {
    // not a lock we wrote: treated as stale
  }
  return undefined;
}

function removeIfOurs(file: string, token: string | undefined): void {
  try {
    if (readOwner(file)?.token === token) unlinkSync(file);
  } catch {
    // gone already, or the directory went away: nothing left to release
  }
}

function releaseAll(): void {
  for (const entry of held.values()) {
    clearInterval(entry.heartbeat);
    removeIfOurs(entry.file, entry.token);
  }
  held.clear();
}

// The owner's heartbeat: a lock from another host stays respected while its mtime moves.
function touch(file: string): void {
  try {
    const now = new Date();
    utimesSync(file, now, now);
  } catch {
    // the directory went away or became read-only: the next open will say so
  }
}

function writeDurably(file: string, text: string, flag: "wx"): void {
  const fd = openSync(file, flag, 0o644);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function errno(err: unknown): string | undefined {
  return typeof err === "object" && err !== null && "code" in err ? String(err.code) : undefined;
}

function describe(err: unknown): string {
  const code = errno(err);
  const reasons: Record<string, string> = {
    ENOENT: "no such file or directory",
    ENOTDIR: "is not a directory (or a path component is a file)",
    EACCES: "permission denied",
    EPERM: "operation not permitted",
    EROFS: "read-only file system",
    ENOSPC: "no space left on device",
    EEXIST: "already exists",
  };
  return code !== undefined && reasons[code] !== undefined ? `${reasons[code]} (${code})` : err instanceof Error ? err.message : String(err);
}
