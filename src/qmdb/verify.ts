/**
 * Offline check of a storage directory (`sync-server --verify`, `sync-client --verify`): opens
 * the operation log and the MMR without changing what they hold (beyond the torn-tail repairs
 * every open makes), decodes every retained operation, re-hashes the MMR from the log starting at
 * its pinned nodes, and compares every stored node and the root. Also checks that the retained
 * ranges fit (log vs MMR prune boundary, `any` inactivity floor). Reports everything it finds.
 */
import { statSync } from "node:fs";
import { toHex } from "../codec";
import { type Contiguous, DirectoryLock, DiskStorage, StorageDirectoryError } from "../journal";
import { MemMmr, leafCount, nodesToPin } from "../mmr";
import { ANY_KIND } from "./any";
import { IMMUTABLE_KIND } from "./immutable";
import { JournaledMmr } from "./journaled-mmr";
import type { DbKind, DbKindName, DbOptions } from "./kind";
import { anyCommitFloor } from "./operation";
import { runAll } from "./run-all";

/** What `verifyStorage` found. */
export interface StorageReport {
  readonly directory: string;
  /** The kind found (undefined when the directory holds no database). */
  readonly kind: DbKindName | undefined;
  /** True when nothing is wrong. */
  readonly sound: boolean;
  /** Each problem, in words (empty when sound). */
  readonly problems: string[];
  /** Operations in the log (uncommitted tail included). */
  readonly opCount: bigint;
  /** First operation held. */
  readonly oldestRetainedLoc: bigint;
  /** Root recomputed from the log (hex), when the log could be read to its end. */
  readonly root: string | undefined;
}

/** Re-hash in chunks, dropping rebuilt nodes once compared (bounded memory). */
const PRUNE_EVERY_LEAVES = 4096;
/** Stop listing node mismatches after this many. */
const MAX_PROBLEMS = 20;

/**
 * Verifies the database in `directory` (its kind is detected). Takes the directory's lock, so
 * it refuses a directory in use (`DirectoryInUseError`); a missing path or one that is not a
 * directory is a `StorageDirectoryError` (nothing is created); everything else is reported, not thrown.
 */
export async function verifyStorage(directory: string, options: DbOptions = {}): Promise<StorageReport> {
  // A check must not create what it checks: a missing directory is an error, not an empty database.
  const stat = statSync(directory, { throwIfNoEntry: false });
  if (stat === undefined) throw new StorageDirectoryError(directory, "does not exist");
  if (!stat.isDirectory()) throw new StorageDirectoryError(directory, "is not a directory");
  const lock = DirectoryLock.acquire(directory);
  try {
    const storage = new DiskStorage(directory);
    const kinds = [
      (await storage.scan("log_journal")).length > 0 ? ANY_KIND : undefined,
      (await storage.scan("log_data")).length > 0 ? IMMUTABLE_KIND : undefined,
    ].filter((k) => k !== undefined);
    if (kinds.length !== 1) {
      const problem = kinds.length === 0 ? "holds no database (no operation log)" : "holds the operation logs of both database kinds";
      return { directory, kind: undefined, sound: false, problems: [problem], opCount: 0n, oldestRetainedLoc: 0n, root: undefined };
    }
    return await verifyKind(directory, kinds[0] as DbKind<unknown, unknown>, options);
  } finally {
    lock.release();
  }
}

async function verifyKind(directory: string, kind: DbKind<unknown, unknown>, options: DbOptions): Promise<StorageReport> {
  const problems: string[] = [];
  let journal: Contiguous | undefined;
  let mmr: JournaledMmr | undefined;
  let root: string | undefined;
  try {
    journal = await kind.openJournal(directory, options);
    mmr = await JournaledMmr.open(directory, kind.mmrConfig(options));
    const start = journal.pruningBoundary;
    const mmrStart = Number(leafCount(BigInt(mmr.prunedToPos)));
    if (journal.size === 0) problems.push("the operation log is empty");
    if (start > mmrStart)
      problems.push(`the operation log starts at ${start} but the MMR is pruned only to ${mmrStart}: operations [${mmrStart}, ${start}) are missing`);
    if (kind.name === "any" && journal.size > 0) {
      const floor = lastFloor(journal);
      if (floor === undefined) problems.push("the log holds no commit");
      else if (BigInt(Math.max(start, mmrStart)) > floor) problems.push(`the log starts at ${Math.max(start, mmrStart)}, above the inactivity floor ${floor}`);
    }
    root = rehash(journal, mmr, kind, mmrStart, problems);
  } catch (err) {
    problems.push((err as Error).message);
  } finally {
    await runAll([async () => journal?.close(), async () => mmr?.close()]).catch((err: unknown) => problems.push(`closing: ${(err as Error).message}`));
  }
  const opCount = BigInt(journal?.size ?? 0);
  const oldest = BigInt(Math.max(journal?.pruningBoundary ?? 0, mmr === undefined ? 0 : Number(leafCount(BigInt(mmr.prunedToPos)))));
  return { directory, kind: kind.name, sound: problems.length === 0, problems, opCount, oldestRetainedLoc: oldest, root };
}

/** The floor of the last commit in an `any` log (scanning back from its end). */
function lastFloor(journal: Contiguous): bigint | undefined {
  for (let loc = journal.size - 1; loc >= journal.pruningBoundary; loc--) {
    const bytes = journal.read(loc);
    if (ANY_KIND.codec.isCommit(bytes)) return anyCommitFloor(bytes);
  }
  return undefined;
}

/**
 * Decodes every operation from the MMR's boundary, re-adds it to an MMR rebuilt from the stored
 * pins, and compares each node with the stored one. Returns the recomputed root (hex).
 */
function rehash(journal: Contiguous, mmr: JournaledMmr, kind: DbKind<unknown, unknown>, from: number, problems: string[]): string | undefined {
  const pinPositions = nodesToPin(BigInt(mmr.prunedToPos)).map(Number);
  const pins = pinPositions.map((p) => mmr.getNode(p));
  const missing = pinPositions.filter((_, i) => pins[i] === undefined);
  if (missing.length > 0) {
    problems.push(`pinned MMR nodes ${missing.join(", ")} are missing`);
    return undefined;
  }
  const rebuilt = MemMmr.fromComponents({ prunedToPos: mmr.prunedToPos, pinnedNodes: pins as Uint8Array[] });
  let mismatches = 0;
  const stored = mmr.size;
  journal.replay(Math.max(from, journal.pruningBoundary), (loc, item) => {
    try {
      kind.codec.decode(item);
    } catch (err) {
      if (mismatches++ < MAX_PROBLEMS) problems.push(`operation ${loc} does not decode: ${(err as Error).message}`);
    }
    const before = rebuilt.size;
    rebuilt.add(item);
    for (let pos = before; pos < rebuilt.size && pos < stored; pos++) {
      const want = rebuilt.getNode(pos)!;
      const have = mmr.getNode(pos);
      if (have === undefined || toHex(have) !== toHex(want)) {
        if (mismatches++ < MAX_PROBLEMS)
          problems.push(`MMR node ${pos} (covering operation ${loc}) ${have === undefined ? "is missing" : "differs from the one recomputed from the log"}`);
      }
    }
    if (loc % PRUNE_EVERY_LEAVES === 0) rebuilt.pruneAll();
  });
  if (mismatches > MAX_PROBLEMS) problems.push(`… ${mismatches - MAX_PROBLEMS} more`);
  if (mmr.leaves === journal.size && toHex(mmr.root()) !== toHex(rebuilt.root()))
    problems.push(`the stored MMR root ${toHex(mmr.root())} differs from the root recomputed from the log`);
  return toHex(rebuilt.root());
}
