/**
 * In-process torn-write and corruption tests for both databases (formats and recovery rules:
 * docs/formats.md). A database is built with several commits, tiny blobs and one prune, closed, and then
 * damaged on disk: every byte offset of the last item of each journal's tail blob is truncated at
 * (what a crash can leave) and, separately, flipped; tails are cut at every item boundary and
 * zero-extended; tail blobs are deleted; a CRC in a middle blob is corrupted; the MMR metadata is
 * damaged. After each damage the reopened database must be exactly the last committed state the
 * damage did not touch, or — for damage no crash can cause — fail with a typed error; never some
 * other root for an op count.
 */
import { cpSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, unlinkSync } from "node:fs";
import path from "node:path";
import { CodecError } from "../codec";
import { JournalError } from "../journal";
import { MmrError, mmrSize, verifyRangeInclusion } from "../mmr";
import { AnyDb } from "./any";
import { QmdbError } from "./errors";
import { ImmutableDb } from "./immutable";
import { encodeAnyOperation, encodeImmutableOperation } from "./operation";
import { refSha256, be64, hex } from "../../test/helpers/vectors";
import { tempDir } from "../../test/helpers/tmp";
import { flipByte } from "../../test/helpers/files";

type Kind = "any" | "immutable";
type AnyKindDb = AnyDb | ImmutableDb;

const OPTS = { logItemsPerBlob: 7, mmrItemsPerBlob: 11 } as const;
const ANY_CHUNK = 65 + 4;
const MMR_CHUNK = 32 + 4;
const OFFSET_CHUNK = 4 + 4;
const KEY_SPACE = 12;

/** A committed state: what a reopen may legitimately produce. */
interface State {
  readonly opCount: bigint;
  readonly root: string;
  readonly floor: bigint | undefined;
  /** Key (hex) → value (hex, "none" once deleted) and location of every key ever written. */
  readonly values: ReadonlyMap<string, Written>;
}

interface Written {
  readonly value: string;
  /** Location of the operation that wrote it (an `immutable` key below the pruning boundary is gone). */
  readonly loc: number;
}

interface Built {
  readonly kind: Kind;
  readonly dir: string;
  readonly states: readonly State[];
  /** Pruning boundary set while building (a prune is durable, so every recovery keeps it). */
  readonly prunedTo: bigint;
}

const keyOf = (i: number): Uint8Array => refSha256(be64(i), Uint8Array.of(0x6b));
const valueOf = (i: number): Uint8Array => refSha256(be64(i), Uint8Array.of(0x76));

function open(kind: Kind, dir: string): Promise<AnyKindDb> {
  return kind === "any" ? AnyDb.open(dir, OPTS) : ImmutableDb.open(dir, OPTS);
}

function snapshot(db: AnyKindDb, values: Map<string, Written>): State {
  return { opCount: db.opCount, root: hex(db.root()), floor: db instanceof AnyDb ? db.inactivityFloorLoc : undefined, values: new Map(values) };
}

/**
 * Builds a database of at least 8 commits whose log and MMR tail blobs are both non-empty (so
 * "the last item of the tail blob" exists) and that spans at least 5 log blobs, pruned after its
 * fourth commit (so recovery also runs against pinned MMR nodes); then closes it.
 */
async function build(kind: Kind): Promise<Built> {
  const dir = tempDir(`qmdb-torn-${kind}-`);
  const db = await open(kind, dir);
  const values = new Map<string, Written>();
  const states: State[] = [snapshot(db, values)];
  let prunedTo = 0n;
  let n = 0;
  for (let commit = 0; ; commit++) {
    const batch = 1 + ((commit * 5) % 6);
    for (let i = 0; i < batch; i++, n++) {
      if (db instanceof AnyDb) {
        const key = keyOf((n * 7) % KEY_SPACE);
        if (n % 5 === 4) {
          if (db.delete(key)) values.set(hex(key), { value: "none", loc: -1 });
        } else {
          db.update(key, valueOf(n));
          values.set(hex(key), { value: hex(valueOf(n)), loc: -1 });
        }
      } else {
        values.set(hex(keyOf(n)), { value: hex(valueOf(n)), loc: Number(db.opCount) });
        db.set(keyOf(n), valueOf(n));
      }
    }
    await db.commit(commit % 3 === 0 ? valueOf(1000 + commit) : undefined);
    states.push(snapshot(db, values));
    if (commit === 3) {
      await db.prune(db instanceof AnyDb ? db.inactivityFloorLoc : db.opCount - 1n);
      prunedTo = db.oldestRetainedLoc;
      expect(prunedTo).toBeGreaterThan(0n);
    }
    const ops = Number(db.opCount);
    if (commit >= 7 && ops >= 5 * OPTS.logItemsPerBlob && ops % OPTS.logItemsPerBlob !== 0 && Number(mmrSize(BigInt(ops))) % OPTS.mmrItemsPerBlob !== 0) break;
  }
  await db.close();
  return { kind, dir, states, prunedTo };
}

/** The newest state whose operations all lie below `ops` (a log cut to `ops` items recovers to it). */
function stateWithin(built: Built, ops: number): State {
  const fit = built.states.filter((s) => s.opCount <= BigInt(ops));
  return fit[fit.length - 1]!;
}

const finalState = (built: Built): State => built.states[built.states.length - 1]!;

/** Blob files of a partition, sorted by index (file names are u64 BE hex). */
function blobs(dir: string, partition: string): string[] {
  return readdirSync(path.join(dir, partition))
    .sort()
    .map((name) => path.join(dir, partition, name));
}

/** Byte range `[start, end)` of the last entry of a segmented-journal section (16-byte aligned entries). */
function lastEntry(file: string): { start: number; end: number } {
  const bytes = readFileSync(file);
  let last = { start: 0, end: 0 };
  for (let at = 0; at < bytes.length; at = Math.ceil(last.end / 16) * 16) last = entryAt(bytes, at);
  expect(last.end).toBe(bytes.length);
  return last;
}

/** Byte offsets `0, chunk, 2·chunk, …, size` of a fixed-journal blob: index i = i items kept. */
function boundaries(size: number, chunk: number): number[] {
  return Array.from({ length: size / chunk + 1 }, (_, i) => i * chunk);
}

/** Byte offsets at which a segmented-journal section holds exactly 0, 1, 2, … entries. */
function entryBoundaries(file: string): number[] {
  const bytes = readFileSync(file);
  const out = [0];
  let at = 0;
  while (at < bytes.length) {
    const { end } = entryAt(bytes, at);
    out.push(end);
    at = Math.ceil(end / 16) * 16;
  }
  return out;
}

/** The entry starting at `at`: `varint(len) ‖ data ‖ crc32`. */
function entryAt(bytes: Uint8Array, at: number): { start: number; end: number } {
  let len = 0;
  let shift = 0;
  let p = at;
  for (;;) {
    const b = bytes[p++]!;
    len += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if (b < 0x80) break;
  }
  return { start: at, end: p + len + 4 };
}

/** Fresh copy of the pristine database for one damage case. */
function workCopy(built: Built, work: string): void {
  rmSync(work, { recursive: true, force: true });
  cpSync(built.dir, work, { recursive: true });
}

function isTyped(err: unknown): boolean {
  return err instanceof JournalError || err instanceof QmdbError || err instanceof MmrError || err instanceof CodecError;
}

/** The error and its causes, outermost first. */
function chain(err: unknown): unknown[] {
  const out: unknown[] = [];
  for (let e = err; e !== undefined && out.length < 10; e = e instanceof Error ? e.cause : undefined) out.push(e);
  return out;
}

function describeError(err: unknown): string {
  return chain(err)
    .map((e) => (e instanceof Error ? `${e.name}: ${e.message}` : String(e)))
    .join(" <- ");
}

/**
 * The reopened database is exactly `want`: op count, root, floor, the build's pruning boundary and
 * every value ever written (`immutable` keys set below the boundary read as absent).
 */
function expectState(db: AnyKindDb, want: State, prunedTo: bigint, label: string): void {
  const got = {
    label,
    opCount: db.opCount,
    root: hex(db.root()),
    floor: db instanceof AnyDb ? db.inactivityFloorLoc : undefined,
    oldest: db.oldestRetainedLoc,
  };
  expect(got).toEqual({ label, opCount: want.opCount, root: want.root, floor: want.floor, oldest: prunedTo });
  for (const [k, { value: v, loc }] of want.values) {
    const value = db.get(Buffer.from(k, "hex"));
    const expected = loc >= 0 && loc < prunedTo ? "none" : v;
    if ((value === undefined ? "none" : hex(value)) !== expected) {
      expect({ label, key: k, loc, value: value === undefined ? "none" : hex(value) }).toEqual({ label, key: k, loc, value: expected });
    }
  }
}

/** After recovery the database still takes a write, and the write survives a close/reopen. */
async function expectKeepsWorking(kind: Kind, work: string, db: AnyKindDb, label: string): Promise<void> {
  const key = refSha256(Uint8Array.of(0xaa), Buffer.from(label));
  if (db instanceof AnyDb) db.update(key, key);
  else db.set(key, key);
  await db.commit();
  const after = { opCount: db.opCount, root: hex(db.root()) };
  await db.close();
  const again = await open(kind, work);
  try {
    expect({ label, opCount: again.opCount, root: hex(again.root()), value: hex(again.get(key) ?? new Uint8Array(0)) }).toEqual({
      label,
      ...after,
      value: hex(key),
    });
  } finally {
    await again.close();
  }
}

type Outcome = "recovered" | "typed-error";

/**
 * Reopens the damaged copy. It must recover to exactly `want` (then keep working) or, when
 * `errorAllowed`, fail with a typed error. A reopened state with a root other than `want`'s is
 * always a failure, whatever its op count.
 */
async function reopenAfterDamage(built: Built, work: string, want: State, label: string, errorAllowed: boolean, keepWorking = true): Promise<Outcome> {
  let db: AnyKindDb;
  try {
    db = await open(built.kind, work);
  } catch (err) {
    if (errorAllowed && isTyped(err)) return "typed-error";
    throw new Error(`${label}: reopen failed${errorAllowed ? " with an untyped error" : " (this damage must be repaired)"}: ${describeError(err)}`, {
      cause: err,
    });
  }
  try {
    expectState(db, want, built.prunedTo, label);
  } catch (err) {
    await db.close();
    throw err;
  }
  if (keepWorking) await expectKeepsWorking(built.kind, work, db, label);
  else await db.close();
  return "recovered";
}

/** Truncates at, then separately flips, every byte of `[start, end)` of `file` (relative to the db dir). */
async function damageEveryByte(built: Built, work: string, rel: string, start: number, end: number, want: State): Promise<Record<Outcome, number>> {
  const counts: Record<Outcome, number> = { recovered: 0, "typed-error": 0 };
  for (let offset = start; offset < end; offset++) {
    workCopy(built, work);
    truncateSync(path.join(work, rel), offset);
    counts[await reopenAfterDamage(built, work, want, `${built.kind}: ${rel} truncated to ${offset} bytes`, false)]++;

    workCopy(built, work);
    flipByte(path.join(work, rel), offset);
    // (The write-after-recovery check runs on the truncation cases only, to keep the file fast.)
    counts[await reopenAfterDamage(built, work, want, `${built.kind}: ${rel} byte ${offset} flipped`, true, false)]++;
  }
  if (process.env.QMDB_TORN_VERBOSE) process.stdout.write(`${built.kind} ${rel} [${start}, ${end}): ${JSON.stringify(counts)}\n`);
  return counts;
}

/**
 * A corrupted CRC in a non-tail blob must surface as a typed error naming the file: either from
 * open, or — if open does not need that item — from the reads that do (`readBack` must hit it),
 * with the state untouched meanwhile. Returns where it surfaced.
 */
async function expectCorruptionNamed(built: Built, work: string, file: string, readBack: (db: AnyKindDb) => void, label: string): Promise<"open" | "read"> {
  const names = (err: unknown): boolean =>
    isTyped(err) && chain(err).some((e) => e instanceof Error && (e.message.includes(file) || (e instanceof JournalError && e.file === file)));
  const report = (where: "open" | "read"): "open" | "read" => {
    if (process.env.QMDB_TORN_VERBOSE) process.stdout.write(`${label}: reported at ${where}\n`);
    return where;
  };
  let db: AnyKindDb;
  try {
    db = await open(built.kind, work);
  } catch (err) {
    if (!names(err)) throw new Error(`${label}: open failed without a typed error naming ${file}: ${describeError(err)}`, { cause: err });
    return report("open");
  }
  try {
    const want = finalState(built);
    expect({ label, opCount: db.opCount, root: hex(db.root()) }).toEqual({ label, opCount: want.opCount, root: want.root });
    let thrown: unknown;
    try {
      readBack(db);
    } catch (err) {
      thrown = err;
    }
    if (thrown === undefined) throw new Error(`${label}: open succeeded and reading the corrupted item did not fail`);
    if (!names(thrown))
      throw new Error(`${label}: reading the corrupted item failed without a typed error naming ${file}: ${describeError(thrown)}`, { cause: thrown });
    return report("read");
  } finally {
    await db.close();
  }
}

/** A single-operation proof of `loc` that must verify against the current root (or throw). */
function proveLocation(db: AnyKindDb, loc: bigint): void {
  let ok: boolean;
  if (db instanceof AnyDb) {
    const { proof, operations } = db.proof(loc, 1n);
    ok = verifyRangeInclusion(proof, operations.map(encodeAnyOperation), loc, db.root());
  } else {
    const { proof, operations } = db.proof(loc, 1n);
    ok = verifyRangeInclusion(proof, operations.map(encodeImmutableOperation), loc, db.root());
  }
  if (!ok) throw new Error(`proof of location ${loc} does not verify against the root`);
}

/** Single-operation proofs for every retained location: each must verify, or throw (the caller checks what). */
function proveEveryLocation(db: AnyKindDb): void {
  for (let loc = db.oldestRetainedLoc; loc < db.opCount; loc++) proveLocation(db, loc);
}

describe.each(["any", "immutable"] as const)("%s database: torn writes and corruption", (kind) => {
  let built: Built;
  let work: string;
  beforeEach(async () => {
    built = await build(kind);
    work = path.join(tempDir(`qmdb-torn-work-`), "db");
  });

  test("the pristine database reopens to its last commit", async () => {
    workCopy(built, work);
    expect(await reopenAfterDamage(built, work, finalState(built), `${kind}: undamaged`, false)).toBe("recovered");
  });

  const SLOW = 30_000;

  test(
    "every byte of the op log's last item: truncation recovers the previous commit, a flipped byte never yields another root",
    async () => {
      const final = finalState(built);
      const last = Number(final.opCount) - 1; // the final commit operation
      const previous = stateWithin(built, last);
      expect(previous.opCount).toBeLessThan(final.opCount);
      if (kind === "any") {
        const tail = blobs(built.dir, "log_journal").pop()!;
        const size = statSync(tail).size;
        expect(size).toBeGreaterThan(0);
        expect(size % ANY_CHUNK).toBe(0);
        const rel = path.relative(built.dir, tail);
        const counts = await damageEveryByte(built, work, rel, size - ANY_CHUNK, size, previous);
        expect(counts.recovered + counts["typed-error"]).toBe(2 * ANY_CHUNK);
      } else {
        const tail = blobs(built.dir, "log_data").pop()!;
        const { start, end } = lastEntry(tail);
        const rel = path.relative(built.dir, tail);
        const counts = await damageEveryByte(built, work, rel, start, end, previous);
        expect(counts.recovered + counts["typed-error"]).toBe(2 * (end - start));
      }
    },
    SLOW,
  );

  test(
    "every byte of the MMR journal's last node: the MMR is rebuilt from the log, root unchanged",
    async () => {
      const tail = blobs(built.dir, "mmr_journal").pop()!;
      const size = statSync(tail).size;
      expect(size).toBeGreaterThan(0);
      expect(size % MMR_CHUNK).toBe(0);
      await damageEveryByte(built, work, path.relative(built.dir, tail), size - MMR_CHUNK, size, finalState(built));
    },
    SLOW,
  );

  if (kind === "immutable") {
    test(
      "every byte of the offsets journal's last entry: offsets are rebuilt from the data, nothing is lost",
      async () => {
        const tail = blobs(built.dir, "log_offsets").pop()!;
        const size = statSync(tail).size;
        expect(size).toBeGreaterThan(0);
        await damageEveryByte(built, work, path.relative(built.dir, tail), size - OFFSET_CHUNK, size, finalState(built));
      },
      SLOW,
    );
  }

  test(
    "cutting a tail blob back to any item boundary (unsynced items lost) recovers the newest commit it still holds",
    async () => {
      const logPartition = kind === "any" ? "log_journal" : "log_data";
      const logTail = blobs(built.dir, logPartition).pop()!;
      const logIndex = parseInt(path.basename(logTail), 16);
      const logBounds = kind === "any" ? boundaries(statSync(logTail).size, ANY_CHUNK) : entryBoundaries(logTail);
      const cases: [string, number[], (items: number) => State][] = [
        [logTail, logBounds, (items) => stateWithin(built, logIndex * OPTS.logItemsPerBlob + items)],
        [blobs(built.dir, "mmr_journal").pop()!, boundaries(statSync(blobs(built.dir, "mmr_journal").pop()!).size, MMR_CHUNK), () => finalState(built)],
      ];
      if (kind === "immutable") {
        const offsets = blobs(built.dir, "log_offsets").pop()!;
        cases.push([offsets, boundaries(statSync(offsets).size, OFFSET_CHUNK), () => finalState(built)]);
      }
      for (const [file, bounds, want] of cases) {
        const rel = path.relative(built.dir, file);
        expect(bounds.length).toBeGreaterThan(1);
        for (const [items, bytes] of bounds.entries()) {
          workCopy(built, work);
          truncateSync(path.join(work, rel), bytes);
          await reopenAfterDamage(built, work, want(items), `${kind}: ${rel} cut to ${items} items (${bytes} bytes)`, false, items % 2 === 0);
        }
      }
    },
    SLOW,
  );

  // A tail blob never grows past `itemsPerBlob` items, so only zero runs that fit are crash states
  // (a longer file is corruption, and a typed InvalidBlobSize error is then the right answer).
  test(
    "zero bytes past the end of a tail blob (size grew, data never landed) are dropped and nothing committed is lost",
    async () => {
      const tails: [string, number, number][] =
        kind === "any"
          ? [
              ["log_journal", ANY_CHUNK, OPTS.logItemsPerBlob * ANY_CHUNK],
              ["mmr_journal", MMR_CHUNK, OPTS.mmrItemsPerBlob * MMR_CHUNK],
            ]
          : [
              ["log_data", 80, Infinity],
              ["log_offsets", OFFSET_CHUNK, OPTS.logItemsPerBlob * OFFSET_CHUNK],
              ["mmr_journal", MMR_CHUNK, OPTS.mmrItemsPerBlob * MMR_CHUNK],
            ];
      for (const [partition, chunk, capacity] of tails) {
        const rel = path.relative(built.dir, blobs(built.dir, partition).pop()!);
        const room = capacity - statSync(path.join(built.dir, rel)).size;
        expect(room).toBeGreaterThanOrEqual(chunk);
        for (const zeros of [1, 2, 4, 5, 15, 16, 17, chunk - 1, chunk, chunk + 1, 2 * chunk + 3].filter((z) => z <= room)) {
          workCopy(built, work);
          const file = path.join(work, rel);
          truncateSync(file, statSync(file).size + zeros);
          await reopenAfterDamage(built, work, finalState(built), `${kind}: ${zeros} zero bytes appended to ${rel}`, false, zeros % 2 === 1);
        }
      }
    },
    SLOW,
  );

  test("deleting the tail blob of each journal recovers the newest commit that survives", async () => {
    const logPartition = kind === "any" ? "log_journal" : "log_data";
    const cases: [string, (tailIndex: number) => State][] = [
      [logPartition, (tailIndex) => stateWithin(built, tailIndex * OPTS.logItemsPerBlob)],
      ["mmr_journal", () => finalState(built)],
    ];
    if (kind === "immutable") cases.push(["log_offsets", () => finalState(built)]);
    for (const [partition, want] of cases) {
      workCopy(built, work);
      const files = blobs(work, partition);
      const tail = files[files.length - 1]!;
      const tailIndex = parseInt(path.basename(tail), 16);
      unlinkSync(tail);
      await reopenAfterDamage(built, work, want(tailIndex), `${kind}: ${partition} tail blob ${path.basename(tail)} deleted`, false);
    }
  });

  test("a corrupted CRC in a middle op-log blob is a typed error naming the file", async () => {
    workCopy(built, work);
    if (kind === "any") {
      const files = blobs(work, "log_journal");
      expect(files.length).toBeGreaterThanOrEqual(3);
      // The blob just before the tail (in this build its items are at or above the floor, so open's
      // replay reads the corrupted one; either way the error must name the file).
      const file = files[files.length - 2]!;
      const index = parseInt(path.basename(file), 16);
      flipByte(file, ANY_CHUNK - 1); // the CRC of the blob's first item
      const loc = BigInt(index * OPTS.logItemsPerBlob);
      await expectCorruptionNamed(built, work, file, (db) => void db.operation(loc), `${kind}: CRC of item ${loc} in ${file} corrupted`);
    } else {
      const files = blobs(work, "log_data");
      expect(files.length).toBeGreaterThanOrEqual(3);
      const file = files[1]!;
      const index = parseInt(path.basename(file), 16);
      const first = firstEntry(file);
      flipByte(file, first.end - 1); // the CRC of the section's first entry
      const loc = BigInt(index * OPTS.logItemsPerBlob);
      await expectCorruptionNamed(built, work, file, (db) => void db.operation(loc), `${kind}: CRC of entry ${loc} in ${file} corrupted`);
    }
  });

  if (kind === "immutable") {
    test("a corrupted CRC in a middle offsets blob is a typed error naming the file", async () => {
      workCopy(built, work);
      const files = blobs(work, "log_offsets");
      expect(files.length).toBeGreaterThanOrEqual(3);
      const file = files[1]!;
      const index = parseInt(path.basename(file), 16);
      flipByte(file, OFFSET_CHUNK - 1);
      const loc = BigInt(index * OPTS.logItemsPerBlob);
      await expectCorruptionNamed(built, work, file, (db) => void db.operation(loc), `${kind}: CRC of offset ${loc} in ${file} corrupted`);
    });
  }

  test("a corrupted CRC in a middle MMR blob is a typed error naming the file (at open or when a proof needs the node)", async () => {
    workCopy(built, work);
    const files = blobs(work, "mmr_journal");
    expect(files.length).toBeGreaterThanOrEqual(3);
    const file = files[1]!;
    flipByte(file, MMR_CHUNK - 1);
    await expectCorruptionNamed(built, work, file, proveEveryLocation, `${kind}: CRC of the first node in ${file} corrupted`);
  });

  test("damaged or missing MMR metadata (prune boundary and pinned nodes) never yields another root", async () => {
    const metaFiles = blobs(built.dir, "mmr_metadata").map((f) => path.relative(built.dir, f));
    expect(metaFiles.length).toBe(2); // `left` and `right`
    const damages: [string, (dir: string) => void][] = [
      ...metaFiles.map((rel): [string, (dir: string) => void] => [`${rel} flipped`, (dir) => flipByte(path.join(dir, rel), 9)]),
      ["both metadata blobs flipped", (dir) => metaFiles.forEach((rel) => flipByte(path.join(dir, rel), 9))],
      ["both metadata blobs deleted", (dir) => metaFiles.forEach((rel) => unlinkSync(path.join(dir, rel)))],
    ];
    for (const [what, damage] of damages) {
      workCopy(built, work);
      damage(work);
      const outcome = await reopenAfterDamage(built, work, finalState(built), `${kind}: ${what}`, true);
      let proofs = "";
      if (outcome === "recovered") {
        // Without its pins the MMR may be unable to prove the oldest retained operations: a proof
        // must then fail with a typed error, never come out wrong.
        const db = await open(kind, work);
        try {
          for (let loc = db.oldestRetainedLoc; loc < db.opCount; loc++) {
            try {
              proveLocation(db, loc);
              proofs += ".";
            } catch (err) {
              if (!isTyped(err)) throw new Error(`${kind}: ${what}: proof of ${loc} failed without a typed error: ${describeError(err)}`, { cause: err });
              proofs += "x";
            }
          }
        } finally {
          await db.close();
        }
      }
      if (process.env.QMDB_TORN_VERBOSE) process.stdout.write(`${kind}: ${what}: ${outcome} ${proofs}\n`);
    }
  });

  test("a missing middle blob is a typed error", async () => {
    for (const partition of [kind === "any" ? "log_journal" : "log_data", "mmr_journal"]) {
      workCopy(built, work);
      const files = blobs(work, partition);
      unlinkSync(files[1]!);
      let err: unknown;
      try {
        const db = await open(kind, work);
        await db.close();
      } catch (e) {
        err = e;
      }
      expect({ partition, typed: isTyped(err), error: describeError(err) }).toEqual({ partition, typed: true, error: expect.stringMatching(/MissingBlob/) });
    }
  });
});

/** Byte range of the first entry of a section file. */
function firstEntry(file: string): { start: number; end: number } {
  return entryAt(readFileSync(file), 0);
}
