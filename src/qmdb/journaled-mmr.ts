/**
 * A Merkle Mountain Range persisted in a fixed journal of 32-byte node digests (item index = node
 * position), with its prune boundary and pinned nodes in a metadata store (commonware
 * `mmr::journaled`, same files). New nodes live in memory until `flush`/`sync`; a crash may lose
 * them, which is fine because the database re-adds any leaves the MMR lacks from its operation
 * log on open. Open repairs a journal cut mid-append (keeping an orphaned leaf digest).
 */
import { FixedJournal, Metadata, type Storage } from "../journal";
import {
  DIGEST_BYTES,
  type Location,
  MemMmr,
  MmrError,
  type NodeSource,
  type Position,
  type Proof,
  buildRangeProof,
  isMmrSize,
  mmrSize,
  nodesToPin,
  peaks,
  toNearestSize,
  toSafeNumber,
} from "../mmr";

import { runAll } from "./run-all";

/** Node digests per journal blob (commonware's example uses 4096). */
export const MMR_ITEMS_PER_BLOB = 4096;
/**
 * Filled blobs that may wait for their fsync before `flush` waits for them (the node journal's here,
 * the operation log's in `AuthenticatedLog.flush`): a journal keeps each one's bytes (and the next
 * blob's) in memory until then, so a writer that only flushes (state sync, a bulk load) would
 * otherwise hold everything it wrote while the disk lags behind.
 */
export const MAX_UNSYNCED_BLOBS = 8;
const PIN_PREFIX = 0x00;
const BOUNDARY_PREFIX = 0x01;

function metadataKey(prefix: number, value: number): Uint8Array {
  const key = new Uint8Array(9);
  key[0] = prefix;
  new DataView(key.buffer).setBigUint64(1, BigInt(value));
  return key;
}

function encodeU64(value: number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(value));
  return out;
}

/** Where a journaled MMR keeps its two partitions. */
export interface JournaledMmrConfig {
  /** Partition of the node journal (e.g. `mmr_journal`). */
  readonly journalPartition: string;
  /** Partition of the metadata store (e.g. `mmr_metadata`). */
  readonly metadataPartition: string;
  /** Nodes per journal blob; must never change for a partition. */
  readonly itemsPerBlob?: number;
}

/** An MMR whose nodes are stored in a crash-safe journal. */
export class JournaledMmr implements NodeSource {
  private constructor(
    private readonly journal: FixedJournal,
    private readonly metadata: Metadata,
    // Nodes not yet written to the journal, fully pruned at the journal's size (so it pins the
    // peaks needed to keep appending).
    private mem: MemMmr,
    // Every position below this is pruned; `prunePins` holds the nodes still needed below it.
    private prunedTo: number,
    private prunePins: Map<number, Uint8Array>,
  ) {}

  /** Opens (or creates) the MMR, repairing a journal cut mid-append. */
  static async open(root: string | Storage, cfg: JournaledMmrConfig): Promise<JournaledMmr> {
    const journal = await FixedJournal.open(root, cfg.journalPartition, { itemSize: DIGEST_BYTES, itemsPerBlob: cfg.itemsPerBlob ?? MMR_ITEMS_PER_BLOB });
    const metadata = await Metadata.open(root, cfg.metadataPartition);
    const boundaryBytes = metadata.get(metadataKey(BOUNDARY_PREFIX, 0));
    const boundary =
      boundaryBytes === undefined ? 0 : toSafeNumber(new DataView(boundaryBytes.buffer, boundaryBytes.byteOffset, 8).getBigUint64(0), "prune boundary");
    if (journal.pruningBoundary < boundary && journal.size > 0) await journal.prune(boundary);
    // Pruning records the boundary before it removes nodes: nodes missing above it were lost.
    if (journal.pruningBoundary > boundary) {
      throw new MmrError(
        "MissingDigest",
        `the MMR node journal starts at position ${journal.pruningBoundary} but is pruned only to ${boundary}: its leading files are missing`,
      );
    }

    // A crash mid-append can leave a size that is not a valid MMR size: cut back to the last
    // valid size, keeping the digest just past it (a complete leaf) to re-add.
    let orphan: Uint8Array | undefined;
    let size = journal.size;
    if (!isMmrSize(BigInt(size))) {
      const valid = Number(toNearestSize(BigInt(size)));
      if (valid >= journal.pruningBoundary && valid < size) orphan = journal.read(valid);
      await journal.rewind(valid);
      size = valid;
    }
    const prunePins = readPins(metadata, boundary);
    const mmr = new JournaledMmr(journal, metadata, new MemMmr(), boundary, prunePins);
    mmr.mem = mmr.memAt(size);
    if (orphan !== undefined) {
      mmr.mem.addLeafDigest(orphan);
      await mmr.sync();
    }
    return mmr;
  }

  /**
   * Creates an empty MMR that starts at leaf `lower` (state sync): everything below
   * `mmrSize(lower)` is pruned and `pins` (the nodes `nodesToPin(mmrSize(lower))`, taken from a
   * verified proof) are persisted, so the root and appends work as if all earlier leaves were
   * present. Any previous contents of the partitions are deleted first.
   */
  static async createAt(root: string | Storage, cfg: JournaledMmrConfig, lower: Location, pins: readonly Uint8Array[]): Promise<JournaledMmr> {
    const boundary = toSafeNumber(mmrSize(lower), "lower bound position");
    const positions = nodesToPin(BigInt(boundary)).map(Number);
    if (pins.length !== positions.length) {
      throw new MmrError("InvalidPinnedNodes", `expected ${positions.length} pinned nodes for lower bound ${lower}, got ${pins.length}`);
    }
    await (await JournaledMmr.open(root, cfg)).destroy();
    const journalCfg = { itemSize: DIGEST_BYTES, itemsPerBlob: cfg.itemsPerBlob ?? MMR_ITEMS_PER_BLOB };
    const journal =
      boundary === 0
        ? await FixedJournal.open(root, cfg.journalPartition, journalCfg)
        : await FixedJournal.initAtSize(root, cfg.journalPartition, journalCfg, boundary);
    const metadata = await Metadata.open(root, cfg.metadataPartition);
    const mmr = new JournaledMmr(journal, metadata, new MemMmr(), 0, new Map());
    await mmr.persistBoundary(
      boundary,
      positions,
      pins.map((p) => Uint8Array.from(p)),
    );
    mmr.mem = mmr.memAt(boundary);
    return mmr;
  }

  /**
   * Prunes everything below leaf `lower` using the MMR's own nodes as pins (state sync keeping
   * local data after the lower bound moved up). Pins are durable before anything is removed.
   */
  async retainFrom(lower: Location): Promise<void> {
    await this.pruneToPos(toSafeNumber(mmrSize(lower), "lower bound position"));
  }

  /** Number of nodes, pruned ones included. */
  get size(): number {
    return this.mem.size;
  }

  /** Number of leaves. */
  get leaves(): number {
    return this.mem.leaves;
  }

  /** Every position below this is pruned. */
  get prunedToPos(): number {
    return this.prunedTo;
  }

  /** Digest at `pos`, from memory, the pinned set or the journal; undefined if pruned. */
  getNode(pos: number): Uint8Array | undefined {
    if (pos >= this.mem.prunedToPos) return this.mem.getNode(pos);
    const pinned = this.mem.getNode(pos) ?? this.prunePins.get(pos);
    if (pinned !== undefined || pos < this.prunedTo) return pinned;
    return pos >= this.journal.pruningBoundary && pos < this.journal.size ? this.journal.read(pos) : undefined;
  }

  /** Appends an element as a leaf; returns its position. */
  add(element: Uint8Array): number {
    return this.mem.add(element);
  }

  /** Appends nodes computed by verifying a range proof that starts at the current size. */
  appendNodes(digests: Uint8Array): void {
    this.mem.appendNodes(digests);
  }

  /** The root over every leaf. */
  root(): Uint8Array {
    return this.mem.root();
  }

  /** Digests of the current peaks, left to right (always held: they are pinned). */
  peakDigests(): Uint8Array[] {
    return this.mem.peakDigests();
  }

  /** Proof of leaves `[start, end)` against the root at `size` nodes. */
  historicalRangeProof(size: Position, start: Location, end: Location): Proof {
    return buildRangeProof(this, size, start, end);
  }

  /** Writes in-memory nodes to the journal (buffered, not fsynced) and drops them from memory. */
  async flush(): Promise<void> {
    const size = this.mem.size;
    this.mem.forEachNodeRange(this.journal.size, size, (flat) => this.journal.appendMany(flat));
    this.mem.pruneAll();
    await this.journal.waitForBacklog(MAX_UNSYNCED_BLOBS);
  }

  /** Writes in-memory nodes to the journal and makes them durable. */
  async sync(): Promise<void> {
    await this.flush();
    await this.journal.sync();
  }

  /** Removes leaves until `leaves` remain. Throws `ElementPruned` below the prune boundary. */
  async rewindToLeaves(leaves: number): Promise<void> {
    if (leaves >= this.leaves) return;
    const size = Number(mmrSize(BigInt(leaves)));
    if (size < this.prunedTo) throw new MmrError("ElementPruned", `cannot rewind to ${leaves} leaves: below the prune boundary ${this.prunedTo}`);
    if (size >= this.mem.prunedToPos) {
      while (this.mem.size > size) this.mem.pop();
      return;
    }
    await this.journal.rewind(size);
    this.mem = this.memAt(size);
  }

  /**
   * Prunes every node below `pos` (no-op if already pruned there). Pins are made durable before
   * any node is removed.
   */
  async pruneToPos(pos: number): Promise<void> {
    if (pos <= this.prunedTo) return;
    if (pos > this.size) throw new MmrError("InvalidInput", `prune position ${pos} beyond size ${this.size}`);
    await this.sync();
    const positions = nodesToPin(BigInt(pos)).map(Number);
    await this.persistBoundary(
      pos,
      positions,
      positions.map((p) => this.getNode(p)!),
    );
    await this.journal.prune(pos);
    this.mem = this.memAt(this.size);
  }

  /** Syncs and releases the files. */
  async close(): Promise<void> {
    await runAll([() => this.sync(), () => this.journal.close(), () => this.metadata.close()]);
  }

  /** Deletes both partitions. */
  async destroy(): Promise<void> {
    await this.journal.destroy();
    await this.metadata.destroy();
  }

  private async persistBoundary(boundary: number, positions: number[], digests: Uint8Array[]): Promise<void> {
    const pins = new Map<number, Uint8Array>();
    positions.forEach((p, i) => {
      pins.set(p, digests[i]!);
      this.metadata.put(metadataKey(PIN_PREFIX, p), digests[i]!);
    });
    this.metadata.put(metadataKey(BOUNDARY_PREFIX, 0), encodeU64(boundary));
    await this.metadata.sync();
    this.prunedTo = boundary;
    this.prunePins = pins;
  }

  // An in-memory MMR fully pruned at `size` (a valid size), pinning its peaks, read from the
  // prune pins or the journal.
  private memAt(size: number): MemMmr {
    const pins = peaks(BigInt(size)).map((p) => {
      const pos = Number(p.pos);
      const d = this.prunePins.get(pos) ?? (pos >= this.journal.pruningBoundary && pos < this.journal.size ? this.journal.read(pos) : undefined);
      if (d === undefined) throw new MmrError("MissingDigest", `peak ${pos} of size ${size} is neither pinned nor in the journal`);
      return d;
    });
    return MemMmr.fromComponents({ prunedToPos: size, pinnedNodes: pins });
  }
}

function readPins(metadata: Metadata, boundary: number): Map<number, Uint8Array> {
  const pins = new Map<number, Uint8Array>();
  for (const p of nodesToPin(BigInt(boundary))) {
    const d = metadata.get(metadataKey(PIN_PREFIX, Number(p)));
    if (d !== undefined) pins.set(Number(p), d);
  }
  return pins;
}
