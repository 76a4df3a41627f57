/**
 * The local side of state sync: an operation log filled with verified operations `[start, upper)`
 * of a target, where `start` is the target's lower bound (rounded down to the journal's alignment
 * for `immutable`). It reuses an existing local log when it can (keeping what it already holds),
 * starts empty at `start` when it cannot, follows target updates, and finally opens the result as
 * a normal database. Verification happens before `appendVerified`; this layer trusts its caller.
 */
import path from "node:path";
import { type Contiguous, DiskStorage, destroyPartition, isJournalError, removeStateFile, stateFileExists, type Storage, writeStateFile } from "../journal";
import { type Location, MmrError } from "../mmr";
import { QmdbError } from "./errors";
import { JournaledMmr } from "./journaled-mmr";
import { KeyIndex } from "./key-index";
import type { DbKind, DbOptions } from "./kind";
import { AuthenticatedLog, type ProvenOperations } from "./log";
import { operationKey } from "./operation";

/** What `SyncLog.open` found locally. */
export type SyncLogOrigin = "empty" | "reused" | "replaced";

/** A log being filled by state sync. */
export class SyncLog<Op, D> {
  // The key index of every operation appended, built as they arrive so that `finish` need not
  // replay the log. Kept only for a log filled from empty: a reused log, or one whose start moved
  // up (pruning can leave entries whose keys can no longer be read), is indexed on open instead.
  private index: KeyIndex | undefined = undefined;

  private constructor(
    private readonly kind: DbKind<Op, D>,
    private readonly root: string | Storage,
    private readonly options: DbOptions,
    // Undefined while the MMR still waits for the pinned nodes of `start`.
    private log: AuthenticatedLog<Op> | undefined,
    private journal: Contiguous,
    private startLoc: number,
    private upperLoc: number,
    /** Whether local operations were kept, or there were none, or they were discarded. */
    readonly origin: SyncLogOrigin,
    /** Why, in words (for logs). */
    readonly reason: string,
  ) {}

  /**
   * Opens the local log for target range `[lower, upper)`. A log that ends inside the range (and
   * still holds the start) is pruned to the start and kept; one that is longer than `upper`, ends
   * at or before the start, was pruned past it, or cannot be recovered is replaced by an empty one.
   * With `rewindLonger`, a log longer than `upper` is rewound to `upper` and kept instead (a relay
   * resuming from the last state it reached).
   */
  static async open<Op, D>(
    kind: DbKind<Op, D>,
    root: string | Storage,
    lower: Location,
    upper: Location,
    options: DbOptions = {},
    rewindLonger = false,
  ): Promise<SyncLog<Op, D>> {
    if (lower >= upper) throw new QmdbError("InvalidSyncState", `lower bound ${lower} must be below upper bound ${upper}`);
    const alignment = kind.alignment(options);
    const start = Number(lower) - (Number(lower) % alignment);
    const end = Number(upper);
    let origin: SyncLogOrigin = "empty";
    let reason = "no local operations";
    let journal: Contiguous | undefined;
    let mmr: JournaledMmr | undefined;
    const marker = unfinishedMarker(root);
    try {
      if (marker !== undefined && stateFileExists(marker)) {
        // Killed before its first durable commit: whatever reached the disk is not a log to resume.
        throw new QmdbError("InvalidSyncState", "the previous sync was interrupted before its first durable commit, so none of it was kept");
      }
      journal = await kind.openJournal(root, options);
      if (journal.size > 0) {
        origin = "replaced";
        reason =
          journal.size > end
            ? `local log holds ${journal.size} operations, more than the target's ${end}`
            : journal.size <= start
              ? `local log ends at ${journal.size}, at or before the start ${start}`
              : `local log was pruned past the start ${start}`;
      }
      if (journal.size > start && (journal.size <= end || rewindLonger) && journal.pruningBoundary <= start) {
        mmr = await JournaledMmr.open(root, kind.mmrConfig(options));
        const log = await AuthenticatedLog.recover(journal, mmr, kind.codec, false);
        if (log.pruningBoundary <= start && log.size > end) await log.rewind(end);
        if (log.pruningBoundary <= start && log.size > start) {
          await mmr.retainFrom(BigInt(start)); // the MMR first (see AuthenticatedLog.prune)
          await journal.prune(start);
          return new SyncLog(kind, root, options, log, journal, start, end, "reused", `kept ${log.size - start} local operations`);
        }
        reason = `local log was pruned past the start ${start}`;
      }
    } catch (err) {
      // Local state that cannot be recovered is discarded and fetched again (`origin` says so).
      if (!(err instanceof QmdbError || err instanceof MmrError || isJournalError(err))) throw err;
      origin = "replaced";
      reason =
        err instanceof QmdbError && err.kind === "InvalidSyncState"
          ? err.message.replace(/^InvalidSyncState: /, "")
          : `local log could not be recovered: ${(err as Error).message}`;
    }
    await Promise.allSettled([journal?.close(), mmr?.close()]);
    // Marked before anything of the new log exists; cleared by its first durable commit.
    if (marker !== undefined) writeStateFile(marker, { startedAt: new Date().toISOString() });
    await wipe(kind, root, options);
    const fresh = new SyncLog(kind, root, options, undefined, await kind.initJournalAt(root, options, start), start, end, origin, reason);
    if (start === 0) await fresh.createLog([]);
    return fresh;
  }

  /** First location this log holds (where the boundary request must start). */
  get start(): bigint {
    return BigInt(this.startLoc);
  }

  /** The target's upper bound. */
  get upper(): bigint {
    return BigInt(this.upperLoc);
  }

  /** Next location to fill. */
  get size(): bigint {
    return BigInt(this.log?.size ?? this.startLoc);
  }

  /** Whether the next append must bring the pinned nodes of `start`. */
  get needsPins(): boolean {
    return this.log === undefined;
  }

  /**
   * Appends verified operations that start at `startLoc ≤ size` (those below `size` are skipped).
   * `nodes`, when given, are the MMR nodes the verifier rebuilt for exactly these operations
   * (used only when nothing is skipped); `pins` are required while `needsPins`.
   */
  async appendVerified(startLoc: bigint, encoded: readonly Uint8Array[], nodes?: Uint8Array, pins?: readonly Uint8Array[]): Promise<void> {
    if (this.log === undefined) {
      if (pins === undefined || startLoc !== BigInt(this.startLoc)) {
        throw new QmdbError("InvalidSyncState", `the first operations must start at ${this.startLoc} and bring pinned nodes`);
      }
      await this.createLog(pins);
    }
    const log = this.log!;
    const skip = Number(BigInt(log.size) - startLoc);
    if (skip < 0) throw new QmdbError("InvalidSyncState", `operations at ${startLoc} would leave a gap after ${log.size}`);
    if (log.size + encoded.length - skip > this.upperLoc) {
      throw new QmdbError("InvalidSyncState", `operations up to ${Number(startLoc) + encoded.length} exceed the upper bound ${this.upperLoc}`);
    }
    const first = log.size;
    if (skip === 0 && nodes !== undefined) {
      log.appendVerified(encoded, nodes);
    } else {
      for (let i = Math.max(skip, 0); i < encoded.length; i++) log.appendEncoded(encoded[i]!);
    }
    const index = this.index;
    if (index !== undefined) {
      const keyAt = (loc: number): Uint8Array => operationKey(log.readEncoded(loc));
      for (let i = Math.max(skip, 0), loc = first; i < encoded.length; i++, loc++) this.kind.indexOperation(index, loc, encoded[i]!, keyAt);
    }
  }

  /** The MMR root over every appended operation (throws before the first batch). */
  mmrRoot(): Uint8Array {
    if (this.log === undefined) throw new QmdbError("InvalidSyncState", `no operations appended yet at ${this.startLoc}`);
    return this.log.root();
  }

  /** Digests of the MMR's current peaks, left to right (throws before the first batch). */
  mmrPeaks(): Uint8Array[] {
    if (this.log === undefined) throw new QmdbError("InvalidSyncState", `no operations appended yet at ${this.startLoc}`);
    return this.log.mmr.peakDigests();
  }

  /** First location held with its proof nodes (what can be served). */
  get oldestRetainedLoc(): bigint {
    return BigInt(this.log?.pruningBoundary ?? this.startLoc);
  }

  /** Operations and a proof against the root at `opCount` (see `AuthenticatedLog.historicalProofEncoded`). */
  historicalProofEncoded(opCount: bigint, startLoc: bigint, maxOps: bigint): ProvenOperations<Uint8Array> {
    if (this.log === undefined) throw new QmdbError("RangeOutOfBounds", `no operations held yet (op count ${opCount} requested)`);
    return this.log.historicalProofEncoded(opCount, startLoc, maxOps);
  }

  /** The encoded operation at `size − 1`, or undefined if nothing was appended yet. */
  lastOperation(): Uint8Array | undefined {
    const log = this.log;
    return log === undefined || log.size <= this.startLoc ? undefined : log.readEncoded(log.size - 1);
  }

  /** Makes the appended operations durable, so a restart resumes after them. */
  async commit(): Promise<void> {
    if (this.log === undefined) return;
    await this.log.commit();
    this.markDurable();
  }

  // The log now has a durable state to resume from: a restart may reuse it.
  private markDurable(): void {
    const marker = unfinishedMarker(this.root);
    if (marker !== undefined) removeStateFile(marker);
  }

  /** Makes the operations and the MMR durable (a restart then has nothing to rebuild or replay). */
  async sync(): Promise<void> {
    await this.log?.sync();
  }

  /**
   * Moves to a new target range (`lower`/`upper` must not decrease). Operations at or above the new
   * start are kept; if none are, the log restarts empty at the new start (and needs pins again).
   */
  async retarget(lower: Location, upper: Location): Promise<void> {
    const alignment = this.kind.alignment(this.options);
    const start = Number(lower) - (Number(lower) % alignment);
    if (start < this.startLoc || Number(upper) < this.upperLoc) {
      throw new QmdbError("InvalidSyncState", `target range [${lower}, ${upper}) moves backwards from [${this.startLoc}, ${this.upperLoc})`);
    }
    this.upperLoc = Number(upper);
    if (start === this.startLoc) return;
    this.index = undefined;
    const size = this.log?.size ?? this.startLoc;
    if (size <= start || this.log === undefined) {
      await this.destroy();
      this.journal = await this.kind.initJournalAt(this.root, this.options, start);
      this.log = undefined;
    } else {
      await this.log.mmr.retainFrom(BigInt(start)); // the MMR first (see AuthenticatedLog.prune)
      await this.journal.prune(start);
    }
    this.startLoc = start;
  }

  /**
   * Closes the filled log and opens it as a database. Throws `InvalidSyncState` unless the log
   * holds exactly `[start, upper)`.
   */
  async finish(): Promise<D> {
    const size = this.log?.size ?? this.startLoc;
    if (this.log === undefined || size !== this.upperLoc) {
      throw new QmdbError("InvalidSyncState", `log holds operations up to ${size}, expected ${this.upperLoc}`);
    }
    await this.log.close();
    this.markDurable();
    return this.kind.open(this.root, this.options, this.index === undefined ? undefined : { index: this.index, size });
  }

  /** Releases the files, keeping what was synced (a later `open` resumes from it). */
  async close(): Promise<void> {
    if (this.log === undefined) return this.journal.close();
    await this.log.close();
    this.markDurable();
  }

  /** Deletes the partitions of a log of `kind` in `root`, whatever state they are in. */
  static async wipe<Op, D>(kind: DbKind<Op, D>, root: string | Storage, options: DbOptions = {}): Promise<void> {
    await wipe(kind, root, options);
  }

  /** Deletes the local log and MMR. */
  async destroy(): Promise<void> {
    await Promise.allSettled([this.log?.close() ?? this.journal.close()]);
    this.log = undefined;
    await wipe(this.kind, this.root, this.options);
  }

  private async createLog(pins: readonly Uint8Array[]): Promise<void> {
    const mmr = await JournaledMmr.createAt(this.root, this.kind.mmrConfig(this.options), BigInt(this.startLoc), pins);
    this.log = await AuthenticatedLog.recover(this.journal, mmr, this.kind.codec, false);
    // Sized for the whole range at once: no doubling (and no old and new table side by side) on the way.
    this.index = new KeyIndex(this.upperLoc - this.startLoc);
  }
}

/** File marking a log being filled that has no durable commit yet (directories only). */
function unfinishedMarker(root: string | Storage): string | undefined {
  const dir = typeof root === "string" ? root : root instanceof DiskStorage ? root.root : undefined;
  return dir === undefined ? undefined : path.join(dir, "sync-unfinished.json");
}

/** Deletes every partition of the kind's log and MMR, whatever state they are in. */
async function wipe<Op, D>(kind: DbKind<Op, D>, root: string | Storage, options: DbOptions): Promise<void> {
  const mmr = kind.mmrConfig(options);
  for (const partition of [...kind.logPartitions, mmr.journalPartition, mmr.metadataPartition]) await destroyPartition(root, partition);
}
