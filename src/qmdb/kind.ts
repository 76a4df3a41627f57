/**
 * What distinguishes the two database kinds to code that handles both (state sync, the server):
 * how their operation log is stored and encoded, and how a finished log is opened as a database.
 */
import { type Contiguous, DiskStorage, type Storage } from "../journal";
import type { JournaledMmrConfig } from "./journaled-mmr";
import type { KeyIndex } from "./key-index";
import type { OperationCodec } from "./log";

/** The two database kinds. */
export type DbKindName = "any" | "immutable";

/** Storage options for a database. */
export interface DbOptions {
  /** Ops per op-log blob (any) or section (immutable); must never change for a directory. */
  readonly logItemsPerBlob?: number;
  /** MMR nodes per journal blob; must never change for a directory. */
  readonly mmrItemsPerBlob?: number;
}

/** A database kind: its op codec and its storage layout. */
export interface DbKind<Op, D> {
  readonly name: DbKindName;
  readonly codec: OperationCodec<Op>;
  /** Partitions of the operation log. */
  readonly logPartitions: readonly string[];
  /** A synced log must start at a multiple of this (the variable journal starts on sections). */
  alignment(options: DbOptions): number;
  openJournal(root: string | Storage, options: DbOptions): Promise<Contiguous>;
  /** An empty journal whose next position is `size` (a multiple of `alignment`). */
  initJournalAt(root: string | Storage, options: DbOptions, size: number): Promise<Contiguous>;
  mmrConfig(options: DbOptions): JournaledMmrConfig;
  /**
   * The inactivity floor recorded in an encoded commit (decoded strictly), for kinds that have one
   * (`any`). A sync target's lower bound may not exceed the floor of its last commit: everything
   * below the floor is inactive, while operations between it and a higher lower bound may be live.
   */
  recordedFloor?(lastCommit: Uint8Array): bigint | undefined;
  /**
   * Applies one encoded operation at `loc` to a key index, as opening the database does when it
   * replays its log (`keyAt` reads the key of an indexed location).
   */
  indexOperation(index: KeyIndex, loc: number, bytes: Uint8Array, keyAt: (loc: number) => Uint8Array): void;
  /**
   * Opens the database stored in `root`. With `built`, an index of every operation of the log
   * (built with `indexOperation` while it was filled) replaces the replay of the log on open.
   */
  open(root: string | Storage, options: DbOptions, built?: BuiltIndex): Promise<D>;
}

/** A key index built while a log was filled, and the log's size then. */
export interface BuiltIndex {
  readonly index: KeyIndex;
  /** The log's size when the index was complete (it is used only if the opened log has that size). */
  readonly size: number;
}

/** The MMR partitions both kinds use. */
export function mmrPartitions(options: DbOptions): JournaledMmrConfig {
  return { journalPartition: "mmr_journal", metadataPartition: "mmr_metadata", itemsPerBlob: options.mmrItemsPerBlob };
}

/** A directory holds a database of another kind than the one asked for. */
export class KindMismatchError extends Error {
  override name = "KindMismatchError";
}

/** The partition only a kind's operation log has (its presence tells the kind apart). */
const KIND_MARKER: Record<DbKindName, string> = { any: "log_journal", immutable: "log_data" };

/**
 * Throws `KindMismatchError` if `root` holds a database of the other kind (opening it as `kind`
 * would mix two databases' MMRs in one directory).
 */
export async function checkStoredKind(root: string | Storage, kind: DbKindName): Promise<void> {
  const storage = typeof root === "string" ? new DiskStorage(root) : root;
  const other: DbKindName = kind === "any" ? "immutable" : "any";
  if ((await storage.scan(KIND_MARKER[other])).length > 0) {
    const where = typeof root === "string" ? root : "the storage";
    throw new KindMismatchError(`${where} holds an ${other} database, not ${kind === "any" ? "an any" : "an immutable"} one`);
  }
}
