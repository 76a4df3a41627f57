/**
 * What the `any` and `immutable` databases share: an authenticated log, a compact key index
 * rebuilt by replaying the log on open, proofs, pruning and lifecycle. Subclasses add their
 * mutations and decide how replay updates the index.
 */
import { type DirectoryLock, type Storage, lockRoot } from "../journal";
import { type Location, type Position, toSafeNumber } from "../mmr";
import { QmdbError } from "./errors";
import { KeyIndex } from "./key-index";
import type { AuthenticatedLog, ProvenOperations } from "./log";
import { operationKey, operationValue } from "./operation";

/** Most operations `entries` reads with one call. */
const ENTRIES_WINDOW = 1024;

/** How a commit is made. */
export interface CommitOptions {
  /**
   * When false, the commit is appended but nothing is fsynced: a bulk load that calls `sync` once
   * at the end (a crash before then may lose any commit made this way). Default true.
   */
  readonly durable?: boolean;
}

/**
 * Opens a database in `root` holding its directory lock (taken before anything is read), which
 * `close`/`destroy` release; a failed open releases it at once.
 */
export async function openLocked<D>(root: string | Storage, open: (lock: DirectoryLock | undefined) => Promise<D>): Promise<D> {
  const lock = lockRoot(root);
  try {
    return await open(lock);
  } catch (err) {
    lock?.release();
    throw err;
  }
}

/** The common part of both databases. */
export abstract class Db<Op> {
  protected index = new KeyIndex();
  protected closed = false;
  // Reads the key of the keyed operation at `loc` (only ever called for indexed locations).
  protected readonly keyAt = (loc: number): Uint8Array => operationKey(this.log.readEncoded(loc));

  protected constructor(
    protected readonly log: AuthenticatedLog<Op>,
    // This process's share of the directory lock (none for storages without a directory).
    private readonly lock: DirectoryLock | undefined,
  ) {}

  /** Number of operations ever appended, pruned and uncommitted ones included. */
  get opCount(): bigint {
    return BigInt(this.log.size);
  }

  /** First operation still held (everything before it is pruned). */
  get oldestRetainedLoc(): bigint {
    return BigInt(this.log.pruningBoundary);
  }

  /** Number of keys with a value. */
  get activeKeys(): number {
    return this.index.size;
  }

  /** The MMR root over every operation: what a client verifies against. */
  root(): Uint8Array {
    return this.log.root();
  }

  /** The value of `key`, or undefined. */
  get(key: Uint8Array): Uint8Array | undefined {
    this.checkOpen();
    const loc = this.index.get(key, this.keyAt);
    return loc < 0 ? undefined : operationValue(this.log.readEncoded(loc));
  }

  /**
   * The digest of MMR node `pos`, if this database still holds it (retained nodes and the pinned
   * peaks of the prune boundary): lets audits and tests compare two databases node by node.
   */
  mmrNode(pos: Position): Uint8Array | undefined {
    this.checkOpen();
    return this.log.mmr.getNode(toSafeNumber(pos, "node position"));
  }

  /**
   * Every live key and its value (`any`: the current value; `immutable`: the value set), in log
   * order. The keys are those live when `entries` is called; keys and values are copies. Reading
   * the log as it goes, it holds 8 bytes a key; pruning while iterating is not allowed.
   */
  *entries(): IterableIterator<[key: Uint8Array, value: Uint8Array]> {
    this.checkOpen();
    const locations = this.index.sortedLocations();
    // Live locations close together are read with one call (a window of at most ENTRIES_WINDOW
    // operations, ending at the last live one in it): a dense log costs a few large reads, a
    // sparse one reads no more than the live operations.
    let window: Uint8Array[] = [];
    let windowStart = 0;
    for (let i = 0; i < locations.length; i++) {
      this.checkOpen();
      const loc = locations[i]!;
      if (loc >= windowStart + window.length) {
        let last = i;
        while (last + 1 < locations.length && locations[last + 1]! < loc + ENTRIES_WINDOW) last++;
        window = this.log.journal.readMany(loc, locations[last]! - loc + 1);
        windowStart = loc;
      }
      const bytes = window[loc - windowStart]!;
      yield [operationKey(bytes).slice(), operationValue(bytes)];
    }
  }

  /** The operation at `loc`. */
  operation(loc: Location): Op {
    this.checkOpen();
    if (loc < BigInt(this.log.pruningBoundary) || loc >= BigInt(this.log.size)) {
      throw new QmdbError("RangeOutOfBounds", `location ${loc} is outside the retained range [${this.log.pruningBoundary}, ${this.log.size})`);
    }
    return this.log.read(Number(loc));
  }

  /**
   * Operations `[startLoc, min(opCount, startLoc + maxOps))` and a proof against the root the
   * database had when it held `opCount` operations (see `AuthenticatedLog.historicalProof`).
   */
  historicalProof(opCount: bigint, startLoc: bigint, maxOps: bigint): ProvenOperations<Op> {
    this.checkOpen();
    return this.log.historicalProof(opCount, startLoc, maxOps);
  }

  /** Like `historicalProof`, with operations in their canonical encoding (no decoding). */
  historicalProofEncoded(opCount: bigint, startLoc: bigint, maxOps: bigint): ProvenOperations<Uint8Array> {
    this.checkOpen();
    return this.log.historicalProofEncoded(opCount, startLoc, maxOps);
  }

  /** Operations from `startLoc` with a proof against the current root. */
  proof(startLoc: bigint, maxOps: bigint): ProvenOperations<Op> {
    return this.historicalProof(this.opCount, startLoc, maxOps);
  }

  /** Makes the log durable (`commit`), or only writes it to its files (`durable: false`). */
  protected async persistCommit(options: CommitOptions | undefined): Promise<void> {
    if (options?.durable === false) await this.log.flush();
    else await this.log.commit();
  }

  /** Makes everything durable, including MMR nodes (so the next open has nothing to redo). */
  async sync(): Promise<void> {
    this.checkOpen();
    await this.log.sync();
  }

  /** Syncs and closes. Uncommitted operations are discarded by the next open. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.log.close();
    } finally {
      this.lock?.release();
    }
  }

  /** Deletes everything the database stored. */
  async destroy(): Promise<void> {
    this.closed = true;
    try {
      await this.log.destroy();
    } finally {
      this.lock?.release();
    }
  }

  protected checkOpen(): void {
    if (this.closed) throw new QmdbError("Closed", "the database is closed");
  }
}
