/**
 * Where `GetOperations` messages come from: the batches of a request, proven and encoded, with
 * two things added so that many streams share the server fairly.
 *
 * - A cache of encoded messages (least recently used first out, bounded in bytes): clients
 *   syncing the same target ask for the same batches, and each then costs one read, one proof and
 *   one encoding in all. Only batches against the currently served target are cached, keyed by
 *   its root, op count, start and length, so a cached message is exactly what building it again
 *   would give (the tests pin this byte for byte).
 * - Time slices: all streams share one `Slicer`, which lets batch production run for a few
 *   milliseconds at a time and then waits for the next event-loop turn, so target requests,
 *   pushes and health checks are answered between batches however many streams run.
 */
import { performance } from "node:perf_hooks";
import { toHex } from "../codec/bytes";
import { encodeOperationsResponse } from "../wire";
import { FRAME_HEADER_BYTES, FramedMessage } from "./framed-message";
import type { OperationsRequest, SyncService } from "./service";

/** One encoded `GetOperationsResponse` (in its gRPC frame) and the number of operations in it. */
export interface EncodedBatch {
  readonly framed: FramedMessage;
  readonly operations: number;
}

/** Settings of a `BatchSource`. */
export interface BatchSourceOptions {
  /** Most bytes of encoded messages kept for reuse (0 disables the cache; default 64 MiB). */
  readonly cacheBytes?: number;
  /** Longest stretch of batch production before the event loop gets a turn (default 4 ms). */
  readonly sliceMs?: number;
}

/** Default of `BatchSourceOptions.cacheBytes`: about 900 batches of 1000 `any` operations. */
export const DEFAULT_BATCH_CACHE_BYTES = 64 * 1024 * 1024;
const DEFAULT_SLICE_MS = 4;

/**
 * Hands out event-loop time in slices: `turn()` returns at once while the current slice lasts,
 * otherwise waits for a later turn of the event loop (one waiter per turn, in arrival order), so
 * I/O and timers run between slices.
 */
export class Slicer {
  private sliceStart = performance.now();
  private readonly waiting: Array<() => void> = [];
  private scheduled = false;

  constructor(private readonly sliceMs: number = DEFAULT_SLICE_MS) {}

  /** Resolves when the caller may do another piece of work. */
  turn(): Promise<void> | undefined {
    if (this.waiting.length === 0 && performance.now() - this.sliceStart < this.sliceMs) return undefined;
    return new Promise<void>((resolve) => {
      this.waiting.push(resolve);
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.sliceStart = performance.now();
      this.waiting.shift()?.();
      if (this.waiting.length > 0) this.schedule();
    });
  }
}

/**
 * A least-recently-used map of encoded messages, bounded by their total size, holding the
 * messages of one target at a time: lookups are only made for the currently served target, so
 * messages of an earlier target could never be served again and are dropped when it moves on
 * (with commits every 100 ms they would otherwise fill the bound with dead entries).
 */
class MessageCache {
  private readonly entries = new Map<string, EncodedBatch>();
  private generation = "";
  private bytes = 0;

  constructor(private readonly maxBytes: number) {}

  /** Bytes of encoded messages held now. */
  get size(): number {
    return this.bytes;
  }

  /** Drops every entry unless `generation` (the served target's identity) is the one cached. */
  use(generation: string): void {
    if (generation === this.generation) return;
    this.entries.clear();
    this.bytes = 0;
    this.generation = generation;
  }

  get(key: string): EncodedBatch | undefined {
    const hit = this.entries.get(key);
    if (hit !== undefined) {
      this.entries.delete(key); // re-inserted as the most recent
      this.entries.set(key, hit);
    }
    return hit;
  }

  set(key: string, batch: EncodedBatch): void {
    if (batch.framed.length > this.maxBytes || this.entries.has(key)) return;
    this.entries.set(key, batch);
    this.bytes += batch.framed.length;
    for (const [oldest, old] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(oldest);
      this.bytes -= old.framed.length;
    }
  }
}

/** Produces the encoded batches of operations requests for one service. */
export class BatchSource {
  private readonly cache: MessageCache | undefined;
  private readonly slicer: Slicer;

  constructor(
    private readonly service: SyncService,
    options: BatchSourceOptions = {},
  ) {
    const cacheBytes = options.cacheBytes ?? DEFAULT_BATCH_CACHE_BYTES;
    this.cache = cacheBytes > 0 ? new MessageCache(cacheBytes) : undefined;
    this.slicer = new Slicer(options.sliceMs);
  }

  /** Bytes of encoded messages cached now (all for the currently served target). */
  get cachedBytes(): number {
    return this.cache?.size ?? 0;
  }

  /**
   * The encoded batches answering `req`, each produced when the consumer asks for it (a slow
   * reader holds back the work) and after the event loop had its turn if the slice is used up.
   * Throws the service's errors (`InvalidArgument`, `OutOfRange`, ...) before the first batch.
   * Stops early when `signal` aborts.
   */
  async *batches(req: OperationsRequest, signal?: AbortSignal): AsyncGenerator<EncodedBatch> {
    const { opCount, startLoc, endLoc, batchSize } = this.service.plan(req);
    for (let loc = startLoc; loc < endLoc;) {
      await this.slicer.turn();
      if (signal?.aborted === true) return;
      const n = endLoc - loc < BigInt(batchSize) ? endLoc - loc : BigInt(batchSize);
      const batch = this.batch(opCount, loc, n);
      yield batch;
      loc += BigInt(batch.operations);
    }
  }

  /** One encoded batch: from the cache, or proven and encoded (and cached if it may be reused). */
  private batch(opCount: bigint, startLoc: bigint, n: bigint): EncodedBatch {
    const target = this.service.database.target;
    let key: string | undefined;
    if (this.cache !== undefined && target !== undefined && target.upperBound === opCount) {
      this.cache.use(`${toHex(target.root)}:${opCount}`);
      key = `${startLoc}:${n}`;
    }
    const cached = key === undefined ? undefined : this.cache!.get(key);
    if (cached !== undefined) return cached;
    const { proof, operations } = this.service.prove(opCount, startLoc, n);
    // Serialized straight from the stored operation bytes (no per-operation objects), behind room
    // for the gRPC frame header (framed once, never copied to be sent).
    const message = encodeOperationsResponse(this.service.kind, startLoc, proof, operations, FRAME_HEADER_BYTES);
    const batch = { framed: new FramedMessage(message), operations: operations.length };
    if (key !== undefined) this.cache!.set(key, batch);
    return batch;
  }
}
