/**
 * The server's database: an `any` or `immutable` QMDB plus the target of its last commit. Only
 * committed state is ever served (the writer may be half-way through a batch at any await), so
 * the target is captured each time a commit returns.
 */
import { EventEmitter } from "node:events";
import {
  type AnyOperation,
  type DbKindName,
  type ImmutableOperation,
  type Operation,
  type ProvenOperations,
  AnyDb,
  ImmutableDb,
  checkStoredKind,
} from "../qmdb";
import type { SyncTarget } from "../sync";
import { ServiceError } from "./errors";

const BUFFERED = { durable: false } as const;

function openDb(kind: DbKindName, dir: string): Promise<AnyDb | ImmutableDb> {
  return kind === "any" ? AnyDb.open(dir) : ImmutableDb.open(dir);
}

/** The database a server owns. Emits `target` with each new committed target. */
export class ServedDatabase extends EventEmitter<{ target: [SyncTarget] }> {
  private committed: SyncTarget;
  /** The write failure that made the open database unusable, until `reopen` succeeds. */
  private failure: Error | undefined;

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

  /** Whether a write failed and the database awaits `reopen` (nothing is served meanwhile). */
  get broken(): boolean {
    return this.failure !== undefined;
  }

  /** Applies one operation; a commit updates the served target once it is durable. */
  async apply(op: Operation): Promise<void> {
    if (this.failure !== undefined) throw this.failure;
    try {
      if (this.db instanceof AnyDb) await this.db.apply(op as AnyOperation);
      else await this.db.apply(op as ImmutableOperation);
    } catch (err) {
      this.failure = err as Error;
      throw err;
    }
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

  /**
   * Canonically encoded operations with a proof against the root at `opCount` (see
   * `Db.historicalProof`). `Unavailable` while a write failure is being recovered from.
   */
  historicalProof(opCount: bigint, startLoc: bigint, maxOps: bigint): ProvenOperations<Uint8Array> {
    if (this.failure !== undefined) throw new ServiceError("Unavailable", "the server is recovering from a storage failure; retry later");
    return this.db.historicalProofEncoded(opCount, startLoc, maxOps);
  }

  /**
   * Marks the database broken by `err` (a failed write outside it, e.g. its progress record), so
   * that `reopen` starts over from what is durable.
   */
  markBroken(err: Error): void {
    this.failure ??= err;
  }

  /**
   * After a failed write: releases the broken handles and opens the directory again at its last
   * durable commit (recovery discards anything after it), which is then served. Rejects, leaving
   * the database broken, when the directory cannot be opened yet (e.g. the disk is still full).
   */
  async reopen(): Promise<void> {
    // Closing a database that failed restates that failure (already reported): only the released
    // handles matter here.
    await this.db.close().catch(() => undefined);
    this.db = await openDb(this.kind, this.dir);
    this.failure = undefined;
    const target = this.currentTarget();
    if (target.upperBound !== this.committed.upperBound) {
      this.committed = target;
      this.emit("target", target);
    }
  }

  /**
   * Syncs and closes. A database broken by a write failure only releases its files: its committed
   * state is already durable, and the failure was reported when it happened.
   */
  async close(): Promise<void> {
    if (this.failure === undefined) return this.db.close();
    await this.db.close().catch(() => undefined);
  }

  private currentTarget(): SyncTarget {
    const lowerBound = this.db instanceof AnyDb ? this.db.inactivityFloorLoc : this.db.oldestRetainedLoc;
    return { root: this.db.root(), lowerBound, upperBound: this.db.opCount };
  }
}
