/**
 * Process-level crash test. A child (`writer.ts`) runs the seeded workload of `workload.ts` against a
 * real database and is SIGKILLed at a random moment (sometimes while it is still recovering); the
 * test then reopens the same directory and checks the recovered state. The directory is reused for
 * every cycle of a kind, so each writer recovers what the previous kill (and reopen) left.
 *
 * Why the accepted states are exactly "last acknowledged commit" or "the one after it":
 * the writer prints `committed …` with a synchronous write to the pipe right after `commit()`
 * resolves and before the next batch starts, and the test reads the pipe to EOF after the child is
 * dead, so every line printed is seen. Commit k+1 can only have started once line k was printed, so
 * the disk holds the state of the last printed commit, or of the next one if it became durable just
 * before the kill (its line never printed). Any other state is a bug: an older one loses an
 * acknowledged commit, a different one is not a state the writer ever had.
 *
 * The test does not take the writer's word for either state: it regenerates the writer's steps
 * from the seed (`workload.step` is a pure function of kind, seed and index) and replays them on the
 * reference model (test/helpers/qmdb-model.ts, independent of src/qmdb), which gives the op count,
 * root, floor and every value for each commit, including the unacknowledged next one.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { AnyDb } from "../../src/qmdb/any";
import { ImmutableDb } from "../../src/qmdb/immutable";
import { AnyModel, ImmutableModel } from "../helpers/qmdb-model";
import { tempDir } from "../helpers/tmp";
import { ANY_KEY_SPACE, DB_OPTIONS, type Kind, type Step, anyKey, between, prng, step } from "./workload";
import { toHex as hex } from "../../src/codec";

const ROOT = path.resolve(__dirname, "..", "..");
const WRITER = path.join(ROOT, "dist", "test", "crash", "writer.js");
/** Kill cycles per kind (at least 50 in total, as the crash-test contract asks). */
const CYCLES: Record<Kind, number> = { any: 30, immutable: 24 };
/** Base seed; override with QMDB_CRASH_SEED to replay a failing run's workload (kill times still vary). */
const BASE_SEED = Number(process.env.QMDB_CRASH_SEED ?? 20251220);

/** Fails with a clear message when the compiled writer is missing or older than its sources. */
function checkWriterBuilt(): void {
  if (!existsSync(WRITER)) {
    throw new Error(`crash writer not compiled: ${WRITER} is missing. Run \`npx tsc -p tsconfig.json\` (npm test does) before jest.`);
  }
  const stale: string[] = [];
  const walk = (srcDir: string): void => {
    for (const name of readdirSync(srcDir)) {
      const file = path.join(srcDir, name);
      if (statSync(file).isDirectory()) walk(file);
      else if (name.endsWith(".ts") && !name.endsWith(".test.ts") && !name.endsWith(".d.ts")) {
        const out = path.join(ROOT, "dist", path.relative(ROOT, file)).replace(/\.ts$/, ".js");
        if (!existsSync(out) || statSync(out).mtimeMs < statSync(file).mtimeMs) stale.push(path.relative(ROOT, file));
      }
    }
  };
  // The layers the writer loads (directories that do not exist yet are skipped).
  for (const d of ["src/codec", "src/mmr", "src/journal", "src/qmdb", "test/crash"]) if (existsSync(path.join(ROOT, d))) walk(path.join(ROOT, d));
  if (stale.length > 0) {
    throw new Error(
      `dist/ is older than ${stale.slice(0, 5).join(", ")}${stale.length > 5 ? ", …" : ""}: the writer would run stale code. Run \`npx tsc -p tsconfig.json\` first.`,
    );
  }
}

interface WriterRun {
  opened: { opCount: bigint; root: string } | undefined;
  committed: { index: number; opCount: bigint; root: string }[];
  killedAfterMs: number;
  killedFrom: "spawn" | "opened";
}

/**
 * Runs the writer and SIGKILLs it `delayMs` after spawning it (`fromSpawn`, so the kill may land in
 * node's startup or in recovery) or after its `opened` line. Resolves once the child is dead and its
 * stdout is drained; rejects if it exits on its own.
 */
function runWriter(kind: Kind, dir: string, seed: number, delayMs: number, fromSpawn: boolean): Promise<WriterRun> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(process.execPath, [WRITER, kind, dir, String(seed)], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let timer: NodeJS.Timeout | undefined;
    const arm = (): void => {
      timer = setTimeout(() => child.kill("SIGKILL"), delayMs);
    };
    // A writer that never gets going must not hang the suite.
    const watchdog = setTimeout(() => child.kill("SIGKILL"), 15_000);
    if (fromSpawn) arm();
    child.stdout!.setEncoding("utf8");
    child.stdout!.on("data", (chunk: string) => {
      stdout += chunk;
      if (timer === undefined && stdout.includes("\n")) arm();
    });
    child.stderr!.setEncoding("utf8");
    child.stderr!.on("data", (chunk: string) => (stderr += chunk));
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      clearTimeout(watchdog);
      if (signal !== "SIGKILL" || timer === undefined) {
        reject(new Error(`writer ${kind} seed ${seed} ended by itself (code ${code}, signal ${signal}):\n${stderr}\nstdout:\n${stdout}`));
        return;
      }
      const run: WriterRun = { opened: undefined, committed: [], killedAfterMs: delayMs, killedFrom: fromSpawn ? "spawn" : "opened" };
      const lines = stdout.split("\n");
      lines.pop(); // a line without its newline was never fully printed
      for (const line of lines) {
        const f = line.split(" ");
        if (f[0] === "opened" && f.length === 3) run.opened = { opCount: BigInt(f[1]!), root: f[2]! };
        else if (f[0] === "committed" && f.length === 4) run.committed.push({ index: Number(f[1]), opCount: BigInt(f[2]!), root: f[3]! });
        else {
          reject(new Error(`writer printed an unexpected line: ${JSON.stringify(line)}`));
          return;
        }
      }
      resolve(run);
    });
  });
}

type Model = AnyModel | ImmutableModel;

function applyStep(model: Model, s: Step): void {
  for (const op of s.ops) {
    if (op.type === "set") (model as ImmutableModel).set(op.key, op.value);
    else if (op.type === "update") (model as AnyModel).update(op.key, op.value);
    else (model as AnyModel).delete(op.key);
  }
  model.commit(s.metadata);
}

function describeState(m: Model): string {
  return `opCount ${m.opCount} root ${m.rootHex()}${m instanceof AnyModel ? ` floor ${m.floor}` : ""}`;
}

/** Every value the model knows equals the database's (absent keys absent; pruned immutable keys gone). */
function checkValues(kind: Kind, db: AnyDb | ImmutableDb, model: Model, context: string): void {
  if (kind === "any") {
    const m = model as AnyModel;
    expect({ context, floor: (db as AnyDb).inactivityFloorLoc }).toEqual({ context, floor: BigInt(m.floor) });
    expect({ context, activeKeys: db.activeKeys }).toEqual({ context, activeKeys: m.activeKeys });
    for (let i = 0; i < ANY_KEY_SPACE; i++) {
      const key = anyKey(i);
      const want = m.get(key);
      expect({ context, key: i, value: hexOrNone(db.get(key)) }).toEqual({ context, key: i, value: hexOrNone(want) });
    }
  } else {
    const m = model as ImmutableModel;
    const oldest = Number(db.oldestRetainedLoc);
    for (const [k, e] of m.entries()) {
      const want = e.loc >= oldest ? hex(e.value) : "none";
      expect({ context, key: k, loc: e.loc, value: hexOrNone(db.get(Buffer.from(k, "hex"))) }).toEqual({ context, key: k, loc: e.loc, value: want });
    }
  }
}

function hexOrNone(v: Uint8Array | undefined): string {
  return v === undefined ? "none" : hex(v);
}

async function openDb(kind: Kind, dir: string): Promise<AnyDb | ImmutableDb> {
  return kind === "any" ? AnyDb.open(dir, DB_OPTIONS) : ImmutableDb.open(dir, DB_OPTIONS);
}

interface CrashStats {
  cycles: number;
  /** Cycles that reopened at the last acknowledged commit / at the unacknowledged next one. */
  acked: number;
  unacked: number;
  /** Cycles killed before the writer finished recovery (so recovery itself was interrupted). */
  killsBeforeOpen: number;
  /** Cycles in which the writer acknowledged at least one commit, and the total it acknowledged. */
  cyclesWithCommits: number;
  commits: number;
  /** Highest pruning boundary seen on reopen (shows that prunes were in the mix). */
  maxOldestRetained: number;
}

async function crashCycles(kind: Kind): Promise<CrashStats> {
  checkWriterBuilt();
  const dir = tempDir(`qmdb-crash-${kind}-`);
  let model: Model = kind === "any" ? new AnyModel() : new ImmutableModel();
  const timing = prng(new Uint8Array(Buffer.from(`kill-timing-${kind}-${BASE_SEED}`.padEnd(16, "."))));
  const stats: CrashStats = { cycles: 0, acked: 0, unacked: 0, killsBeforeOpen: 0, cyclesWithCommits: 0, commits: 0, maxOldestRetained: 0 };
  for (let cycle = 0; cycle < CYCLES[kind]; cycle++) {
    const seed = (BASE_SEED + cycle * 7919) >>> 0;
    const delayMs = between(timing, 20, 150);
    const fromSpawn = timing() < 0.25;
    const run = await runWriter(kind, dir, seed, delayMs, fromSpawn);
    const context = `${kind} cycle ${cycle} seed ${seed} (killed ${run.killedAfterMs} ms after ${run.killedFrom}, ${run.committed.length} commits acknowledged)`;

    // The writer recovered exactly the state the previous cycle left.
    if (run.opened !== undefined) {
      expect({ context, opened: { opCount: run.opened.opCount, root: run.opened.root } }).toEqual({
        context,
        opened: { opCount: BigInt(model.opCount), root: model.rootHex() },
      });
    } else {
      stats.killsBeforeOpen++;
    }

    // Replay the acknowledged commits on the model; each printed state must be the model's.
    run.committed.forEach((c, i) => {
      expect({ context, index: c.index }).toEqual({ context, index: i });
      applyStep(model, step(kind, seed, i));
      expect({ context, index: i, opCount: c.opCount, root: c.root }).toEqual({ context, index: i, opCount: BigInt(model.opCount), root: model.rootHex() });
    });
    if (run.committed.length > 0) stats.cyclesWithCommits++;
    stats.commits += run.committed.length;
    const acked = model;
    const next = model.clone();
    applyStep(next, step(kind, seed, run.committed.length));

    const db = await openDb(kind, dir);
    try {
      const got = { opCount: db.opCount, root: hex(db.root()) };
      const matches = (m: Model): boolean => got.opCount === BigInt(m.opCount) && got.root === m.rootHex();
      if (matches(acked)) {
        model = acked;
        stats.acked++;
      } else if (matches(next)) {
        model = next;
        stats.unacked++;
      } else {
        throw new Error(
          `${context}: reopened at opCount ${got.opCount} root ${got.root}, which is neither the last acknowledged state ` +
            `(${describeState(acked)}) nor the next commit (${describeState(next)})`,
        );
      }
      checkValues(kind, db, model, context);
      stats.maxOldestRetained = Math.max(stats.maxOldestRetained, Number(db.oldestRetainedLoc));

      // The recovered database keeps working: one more batch, committed and checked.
      if (db instanceof AnyDb) {
        const m = model as AnyModel;
        const key = anyKey(cycle % ANY_KEY_SPACE);
        const value = new Uint8Array(32).fill(cycle + 1);
        db.update(key, value);
        m.update(key, value);
        await db.commit();
        m.commit();
      } else {
        const m = model as ImmutableModel;
        const key = new Uint8Array(32).fill(0xee);
        key.set(Buffer.from(`post-${kind}-${cycle}`));
        const value = new Uint8Array(32).fill(cycle + 1);
        db.set(key, value);
        m.set(key, value);
        await db.commit();
        m.commit();
      }
      expect({ context, opCount: db.opCount, root: hex(db.root()) }).toEqual({ context, opCount: BigInt(model.opCount), root: model.rootHex() });
      checkValues(kind, db, model, `${context}, after one more commit`);
    } finally {
      await db.close();
    }
    stats.cycles++;
  }
  return stats;
}

describe("SIGKILL crash recovery (process level)", () => {
  test.each(["any", "immutable"] as const)(
    "%s: a writer killed at a random moment reopens at its last acknowledged commit or the one after it, with every value intact",
    async (kind) => {
      const stats = await crashCycles(kind);
      // Surface the mix actually exercised (useful when tuning timings on slow machines).
      process.stdout.write(`crash ${kind}: ${JSON.stringify(stats)}\n`);
      expect(stats.cycles).toBe(CYCLES[kind]);
      // Most cycles must have let the writer commit, or the kills only ever hit startup.
      expect(stats.cyclesWithCommits).toBeGreaterThanOrEqual(Math.floor(stats.cycles / 2));
    },
    60_000,
  );
});
