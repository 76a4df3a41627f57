/**
 * The server's database: an `any` or `immutable` QMDB plus the target of its last commit. Only
 * committed state is ever served (the writer may be half-way through a batch at any await), so
 * the target is captured each time a commit returns.
 */
import { EventEmitter } from "node:events";
import {
  type AnyOperation, type DbKindName, type ImmutableOperation, type Operation, type ProvenOperations, AnyDb, ImmutableDb, checkStoredKind,
} from "../qmdb";
import type { SyncTarget } from "../sync";

const BUFFERED = { durable: false } as const;

function openDb(kind: DbKindName, dir: string): Promise<AnyDb | ImmutableDb> {
  return kind === "any" ? AnyDb.open(dir) : ImmutableDb.open(dir);
}

/** The database a server owns. Emits `target` with each new committed target. */
export class ServedDatabase extends EventEmitter<{ target: [SyncTarget] }> {
  private committed: SyncTarget;

  private constructor(
    readonly kind: DbKindName,
    private readonly dir: string,
    private db: AnyDb | ImmutableDb,
  ) {
    super();
    this.setMaxListeners(0); // one listener per watching client
    this.committed = this.currentTarget();
  }

  /** Opens (or creates) the database of `kind` in `dir`; refuses a directory of the other kind. */
  static async open(kind: DbKindName, dir: string): Promise<ServedDatabase> {
    await checkStoredKind(dir, kind);
    return new ServedDatabase(kind, dir, await openDb(kind, dir));
  }

  /** The target of the last commit: what clients sync to. */
  get target(): SyncTarget {
    return this.committed;
  }

  /** Number of operations, uncommitted ones included. */
  get opCount(): bigint {
    return this.db.opCount;
  }

  /** First operation still held. */
  get oldestRetainedLoc(): bigint {
    return this.db.oldestRetainedLoc;
  }

  /** The current root (of uncommitted state too). */
  root(): Uint8Array {
    return this.db.root();
  }

  /** Applies one operation; a commit updates the served target once it is durable. */
  async apply(op: Operation): Promise<void> {
    if (this.db instanceof AnyDb) await this.db.apply(op as AnyOperation);
    else await this.db.apply(op as ImmutableOperation);
    if (op.type === "commitFloor" || op.type === "commit") {
      this.committed = this.currentTarget();
      this.emit("target", this.committed);
    }
  }

  /**
   * Applies one operation of a bulk load: its commit is neither made durable nor served until
   * `sync` (a crash before then may lose any of the load).
   */
  async load(op: Operation): Promise<void> {
    if (this.db instanceof AnyDb) await this.db.apply(op as AnyOperation, BUFFERED);
    else await this.db.apply(op as ImmutableOperation, BUFFERED);
  }

  /** Makes everything durable and serves the last commit (ends a bulk load, whose last operation is a commit). */
  async sync(): Promise<void> {
    await this.db.sync();
    this.committed = this.currentTarget();
    this.emit("target", this.committed);
  }

  /** Deletes everything stored and starts again from an empty database (one commit). */
  async wipe(): Promise<void> {
    await this.db.destroy();
    this.db = await openDb(this.kind, this.dir);
    this.committed = this.currentTarget();
  }

  /** Canonically encoded operations with a proof against the root at `opCount` (see `Db.historicalProof`). */
  historicalProof(opCount: bigint, startLoc: bigint, maxOps: bigint): ProvenOperations<Uint8Array> {
    return this.db.historicalProofEncoded(opCount, startLoc, maxOps);
  }

  /** Syncs and closes. */
  async close(): Promise<void> {
    await this.db.close();
  }

  private currentTarget(): SyncTarget {
    const lowerBound = this.db instanceof AnyDb ? this.db.inactivityFloorLoc : this.db.oldestRetainedLoc;
    return { root: this.db.root(), lowerBound, upperBound: this.db.opCount };
  }
}
