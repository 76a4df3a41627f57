/**
 * An in-process resolver over a local database (deterministic, no network), with optional
 * tampering hooks for adversarial tests and a call counter.
 */
import type { Proof } from "../../src/mmr";
import type { DbKind, ProvenOperations } from "../../src/qmdb";
import { type FetchedBatch, type FetchRequest, type Resolver, ResolverError } from "../../src/sync";

/** Something that serves historical proofs (AnyDb or ImmutableDb). */
export interface ProofSource<Op> {
  historicalProof(opCount: bigint, startLoc: bigint, maxOps: bigint): ProvenOperations<Op>;
}

/** A batch about to be returned; a tamper hook may return a modified copy. */
export type Tamper = (batch: FetchedBatch, request: FetchRequest, call: number) => FetchedBatch;

/** Serves `source` in-process. */
export class DbResolver<Op, D> implements Resolver {
  /** Number of `fetch` calls made. */
  calls = 0;
  /** Batches delivered. */
  batches = 0;
  /** If set, every fetch fails with this (retryable) error. */
  failWith: ResolverError | undefined;

  constructor(
    private readonly kind: DbKind<Op, D>,
    private readonly source: ProofSource<Op>,
    private readonly tamper?: Tamper,
  ) {}

  async *fetch(request: FetchRequest, signal: AbortSignal): AsyncIterable<FetchedBatch> {
    const call = ++this.calls;
    if (this.failWith !== undefined) throw this.failWith;
    let loc = request.startLoc;
    const end = request.startLoc + request.maxOps;
    while (loc < end && loc < request.opCount) {
      if (signal.aborted) return;
      const n = end - loc < BigInt(request.batchSize) ? end - loc : BigInt(request.batchSize);
      let proven: ProvenOperations<Op>;
      try {
        proven = this.source.historicalProof(request.opCount, loc, n);
      } catch (err) {
        throw new ResolverError(`source failed: ${(err as Error).message}`, false, undefined, { cause: err });
      }
      let batch: FetchedBatch = { startLoc: loc, proof: proven.proof as Proof, operations: proven.operations.map((op) => this.kind.codec.encode(op)) };
      if (this.tamper !== undefined) batch = this.tamper(batch, request, call);
      this.batches++;
      yield batch;
      // Yield to the event loop like a network would.
      await new Promise((resolve) => setImmediate(resolve));
      loc += BigInt(proven.operations.length);
    }
  }
}
