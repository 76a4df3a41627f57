/**
 * QMDB `immutable`: a key-value store whose keys are set once. Its log is a variable-size journal
 * of Set and Commit operations; a commit just appends Commit(metadata) and makes the log durable
 * (no floor, no moved operations). The oldest retained location plays the floor's role for sync.
 */
import { type DirectoryLock, VariableJournal, type Storage } from "../journal";
import { toHex } from "../codec";
import { type CommitOptions, Db, openLocked } from "./db";
import { QmdbError } from "./errors";
import { JournaledMmr } from "./journaled-mmr";
import { AuthenticatedLog, type OperationCodec } from "./log";
import { IMMUTABLE_TAG, type ImmutableOperation, decodeImmutableOperation, encodeImmutableOperation, OP_KEY_OFFSET, OP_VALUE_OFFSET } from "./operation";
import { type BuiltIndex, type DbKind, type DbOptions, mmrPartitions } from "./kind";
import type { KeyIndex } from "./key-index";

/** Operations per log section (commonware's example uses 512). */
export const IMMUTABLE_ITEMS_PER_SECTION = 512;

const logConfig = (options: DbOptions) => ({ itemsPerSection: options.logItemsPerBlob ?? IMMUTABLE_ITEMS_PER_SECTION });

const immutableCodec: OperationCodec<ImmutableOperation> = {
  encode: encodeImmutableOperation,
  decode: decodeImmutableOperation,
  isCommit: (bytes) => bytes[0] === IMMUTABLE_TAG.commit,
};

/** The `immutable` authenticated key-value database. */
export class ImmutableDb extends Db<ImmutableOperation> {
  private lastCommit: number;

  private constructor(log: AuthenticatedLog<ImmutableOperation>, lock: DirectoryLock | undefined, built: BuiltIndex | undefined) {
    super(log, lock);
    this.lastCommit = log.size - 1;
    if (built !== undefined && built.size === log.size) {
      this.index = built.index;
      this.index.retainFrom(log.pruningBoundary);
    } else {
      this.rebuildIndex();
    }
  }

  /** Opens (or creates) the database in `root`; a new database holds one commit. */
  static async open(root: string | Storage, options: DbOptions = {}, built?: BuiltIndex): Promise<ImmutableDb> {
    return openLocked(root, async (lock) => {
      const journal = await IMMUTABLE_KIND.openJournal(root, options);
      const mmr = await JournaledMmr.open(root, mmrPartitions(options));
      const log = await AuthenticatedLog.open(journal, mmr, immutableCodec, { type: "commit", metadata: undefined });
      return new ImmutableDb(log, lock, built);
    });
  }

  /** The metadata of the last commit. */
  get metadata(): Uint8Array | undefined {
    const op = this.log.read(this.lastCommit);
    return op.type === "commit" ? op.metadata : undefined;
  }

  /** Sets `key` to `value`. Throws `KeyExists` if the key already has a value. */
  set(key: Uint8Array, value: Uint8Array): void {
    this.checkOpen();
    const bytes = encodeImmutableOperation({ type: "set", key, value });
    if (this.index.get(key, this.keyAt) >= 0) throw new QmdbError("KeyExists", `key ${toHex(key)} is already set`);
    this.index.insertNew(key, this.log.appendEncoded(bytes));
  }

  /**
   * Appends `Commit(metadata)` and makes the log durable (unless `options.durable` is false).
   * Returns the commit's location.
   */
  async commit(metadata?: Uint8Array, options?: CommitOptions): Promise<bigint> {
    this.checkOpen();
    const loc = this.log.append({ type: "commit", metadata });
    this.lastCommit = loc;
    await this.persistCommit(options);
    return BigInt(loc);
  }

  /** Applies one operation as the example server does. */
  async apply(op: ImmutableOperation, options?: CommitOptions): Promise<void> {
    if (op.type === "set") this.set(op.key, op.value);
    else await this.commit(op.metadata, options);
  }

  /** Prunes operations below `loc` (whole sections only); `loc` may not exceed the last commit. */
  async prune(loc: bigint): Promise<void> {
    this.checkOpen();
    if (loc > BigInt(this.lastCommit)) throw new QmdbError("PruneBeyondMinRequired", `prune location ${loc} is beyond the last commit ${this.lastCommit}`);
    await this.log.prune(loc);
    // Keys set below the new boundary can no longer be read back: forget them.
    this.index.retainFrom(this.log.pruningBoundary);
  }

  private rebuildIndex(): void {
    this.index.clear();
    this.index.reserve(this.log.size - this.log.pruningBoundary); // at most one key per operation
    this.log.journal.replay(this.log.pruningBoundary, (loc, bytes) => indexImmutableOperation(this.index, loc, bytes, this.keyAt));
  }
}

function indexImmutableOperation(index: KeyIndex, loc: number, bytes: Uint8Array, keyAt: (loc: number) => Uint8Array): void {
  if (bytes[0] === IMMUTABLE_TAG.set) index.setRange(bytes, OP_KEY_OFFSET, OP_VALUE_OFFSET, loc, keyAt);
}

/** The `immutable` kind: a variable journal `log` (`log_data` + `log_offsets`), 512 ops a section. */
export const IMMUTABLE_KIND: DbKind<ImmutableOperation, ImmutableDb> = {
  name: "immutable",
  codec: immutableCodec,
  logPartitions: ["log_data", "log_offsets"],
  alignment: (options) => logConfig(options).itemsPerSection,
  openJournal: (root, options) => VariableJournal.open(root, "log", logConfig(options)),
  initJournalAt: (root, options, size) => VariableJournal.initAtSize(root, "log", logConfig(options), size),
  mmrConfig: mmrPartitions,
  indexOperation: indexImmutableOperation,
  open: (root, options, built) => ImmutableDb.open(root, options, built),
};
