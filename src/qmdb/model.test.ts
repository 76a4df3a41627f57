/**
 * Model-based property tests: random operation sequences — including close/reopen and pruning —
 * run against both a real database and the reference model of test/helpers/qmdb-model.ts, which
 * computes op counts, floors and roots on its own (own encodings, own floor raising, `MemMmr` for
 * the root). After every step the two must agree on op count, floor, root, metadata and (`any`)
 * pruning boundary; after every commit, reopen and prune also on the value of every key. Blob
 * sizes are drawn too (down to one item per blob), so boundaries are hit in every shape.
 */
import { rmSync } from "node:fs";
import { isDeepStrictEqual } from "node:util";
import fc from "fast-check";
import { AnyDb } from "./any";
import { QmdbError } from "./errors";
import { ImmutableDb } from "./immutable";
import { AnyModel, ImmutableModel } from "../../test/helpers/qmdb-model";
import { refSha256, be64, hex } from "../../test/helpers/vectors";
import { tempDir } from "../../test/helpers/tmp";

/** Runs per property; set QMDB_MODEL_RUNS for a longer soak (the time limit is then lifted). */
const SOAK_RUNS = process.env.QMDB_MODEL_RUNS === undefined ? undefined : Number(process.env.QMDB_MODEL_RUNS);
const RUNS = SOAK_RUNS ?? 60;
const TEST_TIMEOUT_MS = SOAK_RUNS === undefined ? 30_000 : 3_600_000;
const TIME_LIMIT_MS = SOAK_RUNS === undefined ? 20_000 : undefined;

const ANY_KEYS = 10;
const IMMUTABLE_KEYS = 24;

/**
 * Key `i`: keys share their 8-byte prefix in groups (prefix = `i mod 4`), so the
 * index (which stores 8-byte prefixes, like commonware's EightCap) must resolve collisions by
 * reading full keys.
 */
function keyOf(i: number): Uint8Array {
  const key = refSha256(be64(i), Uint8Array.of(0x4b));
  key.fill(0, 0, 7);
  key[7] = i % 4;
  return key;
}

const valueOf = (tag: number): Uint8Array => refSha256(be64(tag), Uint8Array.of(0x56));
const metadataOf = (tag: number): Uint8Array => refSha256(be64(tag), Uint8Array.of(0x4d));

type AnyCmd =
  | { t: "update"; key: number; value: number }
  | { t: "delete"; key: number }
  | { t: "commit"; metadata: number | undefined }
  | { t: "reopen" }
  | { t: "prune"; percent: number }
  | { t: "pruneBeyond" };

const anyCmd: fc.Arbitrary<AnyCmd> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ t: fc.constant("update" as const), key: fc.nat(ANY_KEYS - 1), value: fc.nat(1_000_000) }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant("delete" as const), key: fc.nat(ANY_KEYS - 1) }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant("commit" as const), metadata: fc.option(fc.nat(1000), { nil: undefined }) }) },
  { weight: 2, arbitrary: fc.constant({ t: "reopen" as const }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("prune" as const), percent: fc.integer({ min: 0, max: 100 }) }) },
  { weight: 1, arbitrary: fc.constant({ t: "pruneBeyond" as const }) },
);

type ImmutableCmd = { t: "set"; key: number; value: number } | { t: "commit"; metadata: number | undefined } | { t: "reopen" };

const immutableCmd: fc.Arbitrary<ImmutableCmd> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ t: fc.constant("set" as const), key: fc.nat(IMMUTABLE_KEYS - 1), value: fc.nat(1_000_000) }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant("commit" as const), metadata: fc.option(fc.nat(1000), { nil: undefined }) }) },
  { weight: 2, arbitrary: fc.constant({ t: "reopen" as const }) },
);

interface Layout {
  logItemsPerBlob: number;
  mmrItemsPerBlob: number;
}

/**
 * Always-run cases: appending into a tail blob that recovery has just truncated. With one item per
 * blob, reopening rewinds the uncommitted op by deleting its blob and cutting the previous one to
 * empty; the next append must then reach that file (and survive close/reopen).
 */
const ANY_EXAMPLES: [Layout, AnyCmd[]][] = [
  [{ logItemsPerBlob: 1, mmrItemsPerBlob: 1 }, [{ t: "update", key: 0, value: 0 }, { t: "reopen" }, { t: "update", key: 0, value: 0 }]],
  [
    { logItemsPerBlob: 2, mmrItemsPerBlob: 3 },
    [
      { t: "update", key: 0, value: 0 },
      { t: "commit", metadata: undefined },
      { t: "update", key: 1, value: 1 },
      { t: "reopen" },
      { t: "update", key: 2, value: 2 },
      { t: "commit", metadata: 7 },
    ],
  ],
];
const IMMUTABLE_EXAMPLES: [Layout, ImmutableCmd[]][] = [
  [{ logItemsPerBlob: 1, mmrItemsPerBlob: 1 }, [{ t: "set", key: 0, value: 0 }, { t: "reopen" }, { t: "set", key: 0, value: 1 }]],
  [
    { logItemsPerBlob: 2, mmrItemsPerBlob: 3 },
    [
      { t: "set", key: 0, value: 0 },
      { t: "commit", metadata: undefined },
      { t: "set", key: 1, value: 1 },
      { t: "reopen" },
      { t: "set", key: 1, value: 2 },
      { t: "commit", metadata: 7 },
    ],
  ],
];

const layout: fc.Arbitrary<Layout> = fc.record({ logItemsPerBlob: fc.integer({ min: 1, max: 9 }), mmrItemsPerBlob: fc.integer({ min: 1, max: 13 }) });

/** `expect(got).toEqual(want)`, but only built when they differ: jest's `expect` costs ~10 µs a call. */
/** Commits `db` and `model` with the metadata of `tag` (if any), checks the commit locations agree, and returns the metadata. */
async function commitBoth(
  db: { commit(metadata?: Uint8Array): Promise<bigint> },
  model: { commit(metadata?: Uint8Array): void; readonly lastCommit: number },
  tag: number | undefined,
  step: string,
): Promise<Uint8Array | undefined> {
  const metadata = tag === undefined ? undefined : metadataOf(tag);
  const loc = await db.commit(metadata);
  model.commit(metadata);
  same({ step, loc }, { step, loc: BigInt(model.lastCommit) });
  return metadata;
}

/** Closes `db` and reopens its directory, and the model with it (both drop uncommitted operations). */
async function reopenBoth<D extends { close(): Promise<void> }>(db: D, model: { reopen(): void }, open: () => Promise<D>): Promise<D> {
  await db.close();
  const reopened = await open();
  model.reopen();
  return reopened;
}

function same(got: object, want: object): void {
  if (!isDeepStrictEqual(got, want)) expect(got).toEqual(want);
}

const hexOrNone = (b: Uint8Array | undefined): string => (b === undefined ? "none" : hex(b));

/** Op count, floor, root and active keys always; every value too when `values` (each commit, reopen, prune). */
function expectAnyAgrees(db: AnyDb, model: AnyModel, step: string, values = true): void {
  same(
    { step, opCount: db.opCount, floor: db.inactivityFloorLoc, root: hex(db.root()), activeKeys: db.activeKeys },
    { step, opCount: BigInt(model.opCount), floor: BigInt(model.floor), root: model.rootHex(), activeKeys: model.activeKeys },
  );
  if (!values) return;
  for (let k = 0; k < ANY_KEYS; k++) {
    const got = db.get(keyOf(k));
    const want = model.get(keyOf(k));
    same({ step, key: k, value: hexOrNone(got) }, { step, key: k, value: hexOrNone(want) });
  }
}

/** Op count and root always; every value too when `values` (each commit and reopen). */
function expectImmutableAgrees(db: ImmutableDb, model: ImmutableModel, step: string, values = true): void {
  same({ step, opCount: db.opCount, root: hex(db.root()) }, { step, opCount: BigInt(model.opCount), root: model.rootHex() });
  if (!values) return;
  for (let k = 0; k < IMMUTABLE_KEYS; k++) {
    const got = db.get(keyOf(k));
    const want = model.get(keyOf(k));
    same({ step, key: k, value: hexOrNone(got) }, { step, key: k, value: hexOrNone(want) });
  }
}

/**
 * fast-check settings of both model properties. On a loaded machine they stop early rather than time
 * out: a failure found (and shrunk so far) is still reported, and fewer runs are not a failure.
 */
function runOptions<T>(examples: T[]): fc.Parameters<T> {
  return { numRuns: RUNS, interruptAfterTimeLimit: TIME_LIMIT_MS, markInterruptAsFailure: false, examples };
}

describe("model-based: random operation sequences agree with the reference model", () => {
  test(
    "any: update/delete/commit/close+reopen/prune",
    async () => {
      await fc.assert(
        fc.asyncProperty(layout, fc.array(anyCmd, { minLength: 1, maxLength: 150, size: "max" }), async (opts, cmds) => {
          const dir = tempDir("qmdb-model-any-");
          const model = new AnyModel();
          let db = await AnyDb.open(dir, opts);
          // Expected pruning boundary: whole blobs below the requested location, never the tail blob
          // (docs/formats.md, fixed journal); it only ever grows and survives reopening.
          let boundary = 0;
          // Metadata of the last commit: what `db.metadata` reports, before and after reopening.
          let lastMetadata: Uint8Array | undefined;
          try {
            expectAnyAgrees(db, model, "open");
            for (const [i, cmd] of cmds.entries()) {
              const step = `#${i} ${JSON.stringify(cmd)}`;
              switch (cmd.t) {
                case "update":
                  db.update(keyOf(cmd.key), valueOf(cmd.value));
                  model.update(keyOf(cmd.key), valueOf(cmd.value));
                  break;
                case "delete":
                  same({ step, deleted: db.delete(keyOf(cmd.key)) }, { step, deleted: model.delete(keyOf(cmd.key)) });
                  break;
                case "commit":
                  lastMetadata = await commitBoth(db, model, cmd.metadata, step);
                  break;
                case "reopen":
                  db = await reopenBoth(db, model, () => AnyDb.open(dir, opts));
                  break;
                case "prune": {
                  const loc = Math.floor((model.floor * cmd.percent) / 100);
                  await db.prune(BigInt(loc));
                  const tailBlob = Math.floor(model.opCount / opts.logItemsPerBlob);
                  boundary = Math.max(boundary, Math.min(Math.floor(loc / opts.logItemsPerBlob), tailBlob) * opts.logItemsPerBlob);
                  break;
                }
                case "pruneBeyond":
                  await expect(db.prune(BigInt(model.floor + 1))).rejects.toThrow(QmdbError);
                  await expect(db.prune(BigInt(model.floor + 1))).rejects.toMatchObject({ kind: "PruneBeyondMinRequired" });
                  break;
              }
              expectAnyAgrees(db, model, step, cmd.t !== "update" && cmd.t !== "delete");
              same({ step, metadata: hexOrNone(db.metadata) }, { step, metadata: hexOrNone(lastMetadata) });
              same({ step, oldestRetainedLoc: db.oldestRetainedLoc }, { step, oldestRetainedLoc: BigInt(boundary) });
            }
            db = await reopenBoth(db, model, () => AnyDb.open(dir, opts));
            expectAnyAgrees(db, model, "final reopen");
          } finally {
            await db.close();
            rmSync(dir, { recursive: true, force: true }); // now, not after the test: a soak makes thousands
          }
        }),
        runOptions(ANY_EXAMPLES),
      );
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "immutable: set/commit/close+reopen, with KeyExists for keys already set",
    async () => {
      await fc.assert(
        fc.asyncProperty(layout, fc.array(immutableCmd, { minLength: 1, maxLength: 150, size: "max" }), async (opts, cmds) => {
          const dir = tempDir("qmdb-model-imm-");
          const model = new ImmutableModel();
          let db = await ImmutableDb.open(dir, opts);
          let lastMetadata: Uint8Array | undefined;
          try {
            expectImmutableAgrees(db, model, "open");
            for (const [i, cmd] of cmds.entries()) {
              const step = `#${i} ${JSON.stringify(cmd)}`;
              switch (cmd.t) {
                case "set":
                  if (model.has(keyOf(cmd.key))) {
                    expect(() => db.set(keyOf(cmd.key), valueOf(cmd.value))).toThrow(expect.objectContaining({ kind: "KeyExists" }));
                  } else {
                    db.set(keyOf(cmd.key), valueOf(cmd.value));
                    model.set(keyOf(cmd.key), valueOf(cmd.value));
                  }
                  break;
                case "commit":
                  lastMetadata = await commitBoth(db, model, cmd.metadata, step);
                  break;
                case "reopen":
                  db = await reopenBoth(db, model, () => ImmutableDb.open(dir, opts));
                  break;
              }
              expectImmutableAgrees(db, model, step, cmd.t !== "set");
              same({ step, metadata: hexOrNone(db.metadata) }, { step, metadata: hexOrNone(lastMetadata) });
            }
            db = await reopenBoth(db, model, () => ImmutableDb.open(dir, opts));
            expectImmutableAgrees(db, model, "final reopen");
          } finally {
            await db.close();
            rmSync(dir, { recursive: true, force: true }); // now, not after the test: a soak makes thousands
          }
        }),
        runOptions(IMMUTABLE_EXAMPLES),
      );
    },
    TEST_TIMEOUT_MS,
  );
});
