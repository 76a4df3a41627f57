/**
 * What distinguishes the two database kinds to code that handles both (state sync, the server):
 * how their operation log is stored and encoded, and how a finished log is opened as a database.
 */
import type { Contiguous, Storage } from "../journal";
import type { JournaledMmrConfig } from "./journaled-mmr";
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
  /** Opens the database stored in `root`. */
  open(root: string | Storage, options: DbOptions): Promise<D>;
}

/** The MMR partitions both kinds use. */
export function mmrPartitions(options: DbOptions): JournaledMmrConfig {
  return { journalPartition: "mmr_journal", metadataPartition: "mmr_metadata", itemsPerBlob: options.mmrItemsPerBlob };
}
