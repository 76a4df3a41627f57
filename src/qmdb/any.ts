/**
 * QMDB `any` (unordered, fixed 32-byte keys and values): a key-value store whose log holds every
 * update and delete. Each commit raises an inactivity floor by re-appending the oldest still-active
 * updates, so that everything below the floor is inactive and can be pruned; the number of steps
 * is one per overwrite/delete since the last commit, plus one (commonware 85d7d8f1fb, exactly).
 */
import { type DirectoryLock, FixedJournal, type Storage } from "../journal";
import { type BuiltIndex, type DbKind, type DbOptions, mmrPartitions } from "./kind";
import type { KeyIndex } from "./key-index";
import { QmdbError } from "./errors";
import { type CommitOptions, Db, openLocked } from "./db";
import { JournaledMmr } from "./journaled-mmr";
import { AuthenticatedLog, type OperationCodec } from "./log";
import {
  ANY_OPERATION_BYTES,
  ANY_TAG,
  type AnyOperation,
  decodeAnyOperation,
  encodeAnyOperation,
  OP_KEY_OFFSET,
  OP_VALUE_OFFSET,
  operationKey,
} from "./operation";

/** Operations per op-log blob (commonware's example uses 4096). */
export const ANY_LOG_ITEMS_PER_BLOB = 4096;

const anyCodec: OperationCodec<AnyOperation> = {
  encode: encodeAnyOperation,
  decode: decodeAnyOperation,
  isCommit: (bytes) => bytes[0] === ANY_TAG.commitFloor,
};

const logConfig = (options: DbOptions) => ({ itemSize: ANY_OPERATION_BYTES, itemsPerBlob: options.logItemsPerBlob ?? ANY_LOG_ITEMS_PER_BLOB });

/** The `any` authenticated key-value database. */
export class AnyDb extends Db<AnyOperation> {
  private floor: number;
  private lastCommit: number;
  // Floor-raising steps owed by overwrites and deletes since the last commit.
  private steps = 0;

  private constructor(log: AuthenticatedLog<AnyOperation>, lock: DirectoryLock | undefined, floor: number, built: BuiltIndex | undefined) {
    super(log, lock);
    this.floor = floor;
    this.lastCommit = log.size - 1;
    const from = Math.max(floor, log.pruningBoundary);
    if (built !== undefined && built.size === log.size) {
      // Indexed from a lower location: keeping only keys at or above `from` gives exactly what
      // the replay from `from` would (a key's entry is its last operation either way).
      this.index = built.index;
      this.index.retainFrom(from);
    } else {
      this.rebuildIndex(from);
    }
  }

  /**
   * Opens (or creates) the database in directory `root`. Operations after the last commit are
   * discarded; a new database holds one commit at location 0.
   */
  static async open(root: string | Storage, options: DbOptions = {}, built?: BuiltIndex): Promise<AnyDb> {
    return openLocked(root, async (lock) => {
      const journal = await ANY_KIND.openJournal(root, options);
      const mmr = await JournaledMmr.open(root, mmrPartitions(options));
      const log = await AuthenticatedLog.open(journal, mmr, anyCodec, { type: "commitFloor", metadata: undefined, floorLoc: 0n });
      const last = log.read(log.size - 1);
      if (last.type !== "commitFloor") throw new QmdbError("Corruption", `last operation at ${log.size - 1} is not a commit`);
      // Pruning never passes the floor: a log starting above it lost operations that are still active.
      if (BigInt(log.pruningBoundary) > last.floorLoc) {
        throw new QmdbError(
          "Corruption",
          `the operation log starts at ${log.pruningBoundary}, above the inactivity floor ${last.floorLoc}: active operations are missing`,
        );
      }
      return new AnyDb(log, lock, Number(last.floorLoc), built);
    });
  }

  /** Every operation below this location is inactive. */
  get inactivityFloorLoc(): bigint {
    return BigInt(this.floor);
  }

  /** The metadata of the last commit. */
  get metadata(): Uint8Array | undefined {
    const op = this.log.read(this.lastCommit);
    return op.type === "commitFloor" ? op.metadata : undefined;
  }

  /** Sets `key` to `value` (appends an Update). */
  update(key: Uint8Array, value: Uint8Array): void {
    this.checkOpen();
    const loc = this.log.size;
    const bytes = encodeAnyOperation({ type: "update", key, value });
    const old = this.index.get(key, this.keyAt);
    this.log.appendEncoded(bytes);
    if (old >= 0) {
      this.index.move(key, old, loc);
      this.steps++;
    } else {
      this.index.insertNew(key, loc);
    }
  }

  /** Deletes `key` (appends a Delete). Returns false, appending nothing, if it had no value. */
  delete(key: Uint8Array): boolean {
    this.checkOpen();
    const bytes = encodeAnyOperation({ type: "delete", key });
    if (this.index.remove(key, this.keyAt) < 0) return false;
    this.log.appendEncoded(bytes);
    this.steps++;
    return true;
  }

  /**
   * Raises the inactivity floor, appends `CommitFloor(metadata, floor)` and makes the log durable
   * (unless `options.durable` is false). Returns the location of the commit.
   */
  async commit(metadata?: Uint8Array, options?: CommitOptions): Promise<bigint> {
    this.checkOpen();
    if (this.index.size === 0) {
      this.floor = this.log.size;
    } else {
      for (let i = 0; i <= this.steps; i++) this.raiseFloorOneStep();
    }
    this.steps = 0;
    const loc = this.log.append({ type: "commitFloor", metadata, floorLoc: BigInt(this.floor) });
    this.lastCommit = loc;
    await this.persistCommit(options);
    return BigInt(loc);
  }

  /** Applies one operation as the example server does (a commit's floor field is ignored). */
  async apply(op: AnyOperation, options?: CommitOptions): Promise<void> {
    if (op.type === "update") this.update(op.key, op.value);
    else if (op.type === "delete") this.delete(op.key);
    else await this.commit(op.metadata, options);
  }

  /** Prunes operations below `loc` (whole blobs only). `loc` may not exceed the floor. */
  async prune(loc: bigint): Promise<void> {
    this.checkOpen();
    if (loc > BigInt(this.floor)) throw new QmdbError("PruneBeyondMinRequired", `prune location ${loc} is beyond the inactivity floor ${this.floor}`);
    await this.log.prune(loc);
  }

  // Moves the oldest active update at or above the floor to the tip (exactly one per step).
  private raiseFloorOneStep(): void {
    const tip = this.log.size;
    for (;;) {
      if (this.floor >= tip) throw new QmdbError("Corruption", `no active operation between the floor and the tip ${tip}`);
      const loc = this.floor++;
      const bytes = this.log.readEncoded(loc);
      if (bytes[0] !== ANY_TAG.update) continue;
      const key = operationKey(bytes);
      if (!this.index.hasAt(key, loc)) continue;
      this.index.move(key, loc, this.log.size);
      this.log.appendEncoded(bytes);
      return;
    }
  }

  private rebuildIndex(from: number): void {
    this.index.clear();
    this.index.reserve(this.log.size - from); // every operation above the floor could be a live key
    this.log.journal.replay(from, (loc, bytes) => indexAnyOperation(this.index, loc, bytes, this.keyAt));
  }
}

function indexAnyOperation(index: KeyIndex, loc: number, bytes: Uint8Array, keyAt: (loc: number) => Uint8Array): void {
  if (bytes[0] === ANY_TAG.update) index.setRange(bytes, OP_KEY_OFFSET, OP_VALUE_OFFSET, loc, keyAt);
  else if (bytes[0] === ANY_TAG.delete) index.remove(operationKey(bytes), keyAt);
}

/** The `any` kind: a fixed journal `log_journal` of 65-byte operations. */
export const ANY_KIND: DbKind<AnyOperation, AnyDb> = {
  name: "any",
  codec: anyCodec,
  logPartitions: ["log_journal"],
  alignment: () => 1,
  openJournal: (root, options) => FixedJournal.open(root, "log_journal", logConfig(options)),
  initJournalAt: (root, options, size) => FixedJournal.initAtSize(root, "log_journal", logConfig(options), size),
  mmrConfig: mmrPartitions,
  recordedFloor: (lastCommit) => {
    const op = decodeAnyOperation(lastCommit);
    return op.type === "commitFloor" ? op.floorLoc : undefined;
  },
  indexOperation: indexAnyOperation,
  open: (root, options, built) => AnyDb.open(root, options, built),
};
