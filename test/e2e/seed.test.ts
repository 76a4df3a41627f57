/**
 * End-to-end: `--seed N` makes a run reproducible. Two fresh runs with the same seed reach the
 * same "database ready" root; and a seeded run stopped with SIGTERM and restarted on its directory
 * continues the batch sequence, so after the same number of batches it has the same root (and
 * every intermediate root) as a run that was never interrupted.
 */
import { KINDS, type Kind, type LogLine, cleanup, serverArgs, spawnServer, startServer, tempDir } from "./harness";

jest.setTimeout(30_000);
afterAll(cleanup);

const SEED_ARGS = (seed: number): string[] => ["--seed", String(seed)];

/** op_count and root of each "added operations" line. */
const states = (lines: readonly LogLine[]): Array<{ opCount: string; root: string }> =>
  lines.map((l) => ({ opCount: l.op_count as string, root: l.root as string }));

test.concurrent.each(KINDS)("--db %s: --seed 42 -i 50 twice on fresh dirs gives the same ready root; another seed does not", async (kind: Kind) => {
  const base = { db: kind, initialOps: 50, opInterval: "1h" } as const;
  const [a, b, c] = await Promise.all([
    startServer({ ...base, extra: SEED_ARGS(42) }),
    startServer({ ...base, extra: SEED_ARGS(42) }),
    startServer({ ...base, extra: SEED_ARGS(43) }),
  ]);
  expect(a.ready).toEqual(b.ready);
  expect(c.ready.opCount).toBe(a.ready.opCount);
  expect(c.ready.root).not.toBe(a.ready.root);
  await Promise.all([a.stop(), b.stop(), c.stop()]);
});

test.concurrent.each(KINDS)(
  "--db %s: a seeded run stopped and restarted continues the batch sequence (same roots as an uninterrupted run)",
  async (kind: Kind) => {
    const base = { db: kind, initialOps: 50, opInterval: "30ms", extra: SEED_ARGS(42) } as const;
    const dirB = tempDir();
    const [a, b1] = await Promise.all([startServer(base), startServer({ ...base, dir: dirB })]);
    expect(b1.ready).toEqual(a.ready);

    // Interrupt B after a few batches; SIGTERM lets the batch in progress finish.
    await b1.waitForBatches(3);
    expect(await b1.stop("SIGTERM")).toEqual({ code: 0, signal: null });
    const beforeStop = states(b1.logs("added operations"));
    const j = beforeStop.length;

    // Restart B on its directory and let both runs reach K batches in total.
    const extraBatches = 4;
    const K = j + extraBatches;
    const b2 = spawnServer(serverArgs({ ...base, dir: dirB }));
    const [aLines, b2Lines] = await Promise.all([a.waitForBatches(K), b2.waitForBatches(extraBatches)]);
    const uninterrupted = states(aLines).slice(0, K);

    expect(b2.logs("creating initial operations")).toEqual([]);
    expect(b2.ready).toEqual({ opCount: BigInt(uninterrupted[j - 1]!.opCount), root: uninterrupted[j - 1]!.root });
    expect(beforeStop).toEqual(uninterrupted.slice(0, j));
    expect(states(b2Lines).slice(0, extraBatches)).toEqual(uninterrupted.slice(j, K));
    await Promise.all([a.stop(), b2.stop()]);
  },
);

test.concurrent.each(KINDS)(
  "--db %s: after SIGKILL mid-batch, the restarted seeded run reports only states of the uninterrupted run, in order",
  async (kind: Kind) => {
    // 200 operations per batch (a commit after every 10th), so the kill often lands inside a batch.
    const base = { db: kind, initialOps: 50, opInterval: "10ms", opsPerInterval: 200, extra: SEED_ARGS(7) } as const;
    const dirB = tempDir();
    const [a, b1] = await Promise.all([startServer(base), startServer({ ...base, dir: dirB })]);
    await b1.waitForBatches(1);
    await new Promise((r) => setTimeout(r, 50 + Math.floor(Math.random() * 200)));
    expect(await b1.stop("SIGKILL")).toEqual({ code: null, signal: "SIGKILL" });

    const b2 = spawnServer(serverArgs({ ...base, dir: dirB }));
    await b2.waitForBatches(3);
    const b2States = [
      b2.ready,
      ...states(b2.logs("added operations"))
        .slice(0, 3)
        .map((s) => ({ opCount: BigInt(s.opCount), root: s.root })),
    ];
    const last = b2States[b2States.length - 1]!;
    await a.waitForLog((l) => l.msg === "added operations" && BigInt(l.op_count as string) >= last.opCount, `op_count ${last.opCount}`);
    const aStates = [a.ready, ...states(a.logs("added operations")).map((s) => ({ opCount: BigInt(s.opCount), root: s.root }))];
    const i = aStates.findIndex((s) => s.opCount === b2.ready.opCount);
    expect(i).toBeGreaterThanOrEqual(0);
    expect(b2States).toEqual(aStates.slice(i, i + b2States.length));
    await Promise.all([a.stop(), b2.stop()]);
  },
);
