/**
 * The authenticated operation log both databases are built on: an append-only journal of encoded
 * operations plus a journaled MMR whose leaf i is operation i. The journal is the source of
 * truth: on open, operations after the last commit are discarded and the MMR is realigned to the
 * journal (re-hashing any leaves it lacks). A commit makes the journal durable; MMR nodes follow
 * lazily and are rebuilt from the journal if a crash loses them.
 */
import type { Contiguous } from "../journal";
import { type Location, type Proof, leafCount, MAX_LOCATION, MmrError, mmrSize } from "../mmr";
import { QmdbError } from "./errors";
import { JournaledMmr, MAX_UNSYNCED_BLOBS } from "./journaled-mmr";
import { runAll } from "./run-all";

/** How a database encodes its operations and recognises commits. */
export interface OperationCodec<Op> {
  encode(op: Op): Uint8Array;
  /** Strict decode of one encoded operation. */
  decode(bytes: Uint8Array): Op;
  /** Whether the encoded operation is a commit. */
  isCommit(bytes: Uint8Array): boolean;
}

/** Operations and the proof that they sit at `[startLoc, startLoc + n)` under a historical root. */
export interface ProvenOperations<Op> {
  readonly proof: Proof;
  readonly operations: Op[];
}

/** An append-only operation log authenticated by an MMR. */
export class AuthenticatedLog<Op> {
  private poisoned: Error | undefined = undefined;

  private constructor(
    readonly journal: Contiguous,
    readonly mmr: JournaledMmr,
    readonly codec: OperationCodec<Op>,
  ) {}

  /**
   * Recovers a log: rewinds the journal to its last commit, aligns the MMR with it, syncs both,
   * and appends `initialCommit` if the log is empty (so a new log holds one operation).
   */
  static async open<Op>(journal: Contiguous, mmr: JournaledMmr, codec: OperationCodec<Op>, initialCommit: Op): Promise<AuthenticatedLog<Op>> {
    const log = await AuthenticatedLog.recover(journal, mmr, codec, true);
    if (journal.size === 0) {
      log.append(initialCommit);
      await log.sync();
    }
    return log;
  }

  /**
   * Recovers a log without adding anything: optionally rewinds to the last commit, then aligns the
   * MMR with the journal and syncs both. A log being filled by state sync keeps its uncommitted
   * tail (every operation in it was verified before it was appended).
   */
  static async recover<Op>(journal: Contiguous, mmr: JournaledMmr, codec: OperationCodec<Op>, rewindToCommit: boolean): Promise<AuthenticatedLog<Op>> {
    const log = new AuthenticatedLog(journal, mmr, codec);
    log.checkRetainedRange();
    if (rewindToCommit) await log.rewindToLastCommit();
    const readded = await log.alignMmr();
    await journal.sync();
    // Nodes re-derived from the log stay in memory until the next commit or close writes them:
    // opening needs no free space then, so a server can serve its last commit on a full disk.
    if (!readded) await mmr.sync();
    return log;
  }

  /** Number of operations ever appended (pruned and uncommitted ones included). */
  get size(): number {
    return this.journal.size;
  }

  /**
   * Operations below this location are pruned. The journal prunes whole blobs, and a synced log
   * starts mid-blob at its lower bound, so the MMR's boundary (which is exact) can be higher.
   */
  get pruningBoundary(): number {
    return Math.max(this.journal.pruningBoundary, Number(leafCount(BigInt(this.mmr.prunedToPos))));
  }

  /** Root of the MMR over every operation. */
  root(): Uint8Array {
    return this.mmr.root();
  }

  /** Appends an operation; returns its location. Not durable until `commit`. */
  append(op: Op): number {
    return this.appendEncoded(this.codec.encode(op));
  }

  /** Appends an already-encoded operation; returns its location. */
  appendEncoded(bytes: Uint8Array): number {
    this.checkUsable();
    const loc = this.journal.append(bytes);
    this.mmr.add(bytes);
    return loc;
  }

  /**
   * Appends encoded operations whose MMR nodes were already computed (by verifying a range proof
   * that starts at the current size), so nothing is hashed twice.
   */
  appendVerified(encoded: readonly Uint8Array[], nodes: Uint8Array): void {
    this.checkUsable();
    for (const bytes of encoded) this.journal.append(bytes);
    this.mmr.appendNodes(nodes);
  }

  /** The encoded operation at `loc` (a fresh copy). */
  readEncoded(loc: number): Uint8Array {
    return this.journal.read(loc);
  }

  /** The operation at `loc`. */
  read(loc: number): Op {
    return this.codec.decode(this.journal.read(loc));
  }

  /** Makes every appended operation durable (the journal only; MMR nodes are flushed, not synced). */
  async commit(): Promise<void> {
    await this.guard(async () => {
      await this.journal.commit();
      await this.mmr.flush();
    });
  }

  /**
   * Writes appended operations and MMR nodes to their files without making them durable (a bulk
   * load that is made durable once at the end with `sync`; a crash before that may lose any of it).
   */
  async flush(): Promise<void> {
    await this.guard(async () => {
      await this.mmr.flush();
      // The log's filled blobs hold their bytes until their fsync too: bound them as the MMR's.
      await this.journal.waitForBacklog(MAX_UNSYNCED_BLOBS);
    });
  }

  /** Makes the journal and the MMR durable, leaving nothing for recovery to redo. */
  async sync(): Promise<void> {
    await this.guard(async () => {
      await this.journal.sync();
      await this.mmr.sync();
    });
  }

  /**
   * Operations `[startLoc, min(opCount, startLoc + maxOps))` with a proof against the root the log
   * had at `opCount` operations. Throws `RangeOutOfBounds` for `opCount` above the current size or
   * `startLoc ≥ opCount`, and `OperationPruned` for operations or nodes no longer held.
   */
  historicalProof(opCount: bigint, startLoc: bigint, maxOps: bigint): ProvenOperations<Op> {
    const { proof, operations } = this.historicalProofEncoded(opCount, startLoc, maxOps);
    return { proof, operations: operations.map((bytes) => this.codec.decode(bytes)) };
  }

  /** Like `historicalProof`, with the operations in their canonical encoding (as stored). */
  historicalProofEncoded(opCount: bigint, startLoc: bigint, maxOps: bigint): ProvenOperations<Uint8Array> {
    const size = BigInt(this.size);
    if (opCount > size) throw new QmdbError("RangeOutOfBounds", `op count ${opCount} exceeds the current size ${size}`);
    if (startLoc >= opCount) throw new QmdbError("RangeOutOfBounds", `start location ${startLoc} is not below op count ${opCount}`);
    if (maxOps <= 0n) throw new QmdbError("RangeOutOfBounds", `max ops must be at least 1, got ${maxOps}`);
    if (startLoc < BigInt(this.pruningBoundary)) {
      throw new QmdbError("OperationPruned", `start location ${startLoc} is below the pruning boundary ${this.pruningBoundary}`);
    }
    const limit = startLoc + maxOps > MAX_LOCATION ? MAX_LOCATION : startLoc + maxOps;
    const end = limit < opCount ? limit : opCount;
    let proof: Proof;
    try {
      proof = this.mmr.historicalRangeProof(mmrSize(opCount), startLoc, end);
    } catch (err) {
      if (err instanceof MmrError && err.kind === "ElementPruned") throw new QmdbError("OperationPruned", err.message, { cause: err });
      throw err;
    }
    return { proof, operations: this.journal.readMany(Number(startLoc), Number(end - startLoc)) };
  }

  /**
   * Prunes whole journal blobs/sections below `loc` and the MMR nodes below them. The MMR's
   * durable boundary moves first, so it always covers the log's: on open, a log that starts
   * above it has lost blobs (damage), never an interrupted prune (see `checkRetainedRange`).
   */
  async prune(loc: Location): Promise<void> {
    await this.guard(async () => {
      const boundary = this.journal.prunedBoundary(Number(loc));
      if (boundary <= this.journal.pruningBoundary) return;
      await this.mmr.pruneToPos(Number(mmrSize(BigInt(boundary))));
      await this.journal.prune(Number(loc));
    });
  }

  /**
   * Syncs and releases everything; the files are released even if the sync fails or the log is
   * poisoned (the first failure is rethrown).
   */
  async close(): Promise<void> {
    await runAll([...(this.poisoned === undefined ? [() => this.sync()] : []), () => this.journal.close(), () => this.mmr.close()]);
  }

  /** Deletes everything the log stored. */
  async destroy(): Promise<void> {
    await this.journal.destroy();
    await this.mmr.destroy();
  }

  /** Rewinds the log (journal and MMR) to `size` operations. */
  async rewind(size: number): Promise<void> {
    await this.guard(async () => {
      await this.journal.rewind(size);
      await this.mmr.rewindToLeaves(size);
    });
  }

  /**
   * Throws `Corruption` when the log's retained range cannot be what pruning left: a log that
   * starts above the MMR's prune boundary (its leading blobs were deleted: pruning moves the MMR
   * first), or an empty log under an MMR that has leaves (the log's blobs are gone).
   */
  private checkRetainedRange(): void {
    const mmrBoundary = Number(leafCount(BigInt(this.mmr.prunedToPos)));
    const start = this.journal.pruningBoundary;
    if (start > mmrBoundary) {
      throw new QmdbError(
        "Corruption",
        `the operation log starts at ${start} but the MMR is pruned only to ${mmrBoundary}: operations [${mmrBoundary}, ${start}) are missing (deleted log files?)`,
      );
    }
    if (this.journal.size === 0 && this.mmr.leaves > 0) {
      throw new QmdbError("Corruption", `the operation log is empty but the MMR holds ${this.mmr.leaves} operations: the log files are missing`);
    }
  }

  private async rewindToLastCommit(): Promise<void> {
    let size = this.journal.size;
    while (size > this.pruningBoundary && !this.codec.isCommit(this.journal.read(size - 1))) size--;
    if (size < this.journal.size) await this.journal.rewind(size);
  }

  // Returns whether leaves were re-added (their nodes are then only in memory).
  private async alignMmr(): Promise<boolean> {
    const ops = this.journal.size;
    if (this.mmr.leaves > ops) {
      await this.mmr.rewindToLeaves(ops);
    } else if (this.mmr.leaves < ops) {
      this.journal.replay(this.mmr.leaves, (_, item) => void this.mmr.add(item));
      return true;
    }
    return false;
  }

  private checkUsable(): void {
    if (this.poisoned !== undefined) throw new QmdbError("Poisoned", "an earlier write failed; reopen the database", { cause: this.poisoned });
  }

  private async guard(f: () => Promise<void>): Promise<void> {
    this.checkUsable();
    try {
      await f();
    } catch (err) {
      this.poisoned = err as Error;
      throw err;
    }
  }
}
