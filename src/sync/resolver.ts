/**
 * What the engine needs from a transport: a stream of operation batches for a range, each with a
 * proof against the root at a given op count. Batches carry operations already in their canonical
 * encoding (the bytes the MMR hashes); nothing here is trusted: the engine checks every field.
 */
import type { Proof } from "../mmr";
import type { InvalidResponseError } from "./errors";

/** Where the engine wants operations from. */
export interface FetchRequest {
  /** The op count (target upper bound) whose root the proofs must verify against. */
  readonly opCount: bigint;
  /** First location wanted. */
  readonly startLoc: bigint;
  /** Operations wanted in total (the stream may end earlier). */
  readonly maxOps: bigint;
  /** Operations per batch. */
  readonly batchSize: number;
}

/** One batch as a peer sent it. */
export interface FetchedBatch {
  /** Where the peer claims the batch starts (checked against the request). */
  readonly startLoc: bigint;
  readonly proof: Proof;
  /** Canonically encoded operations. */
  readonly operations: readonly Uint8Array[];
}

/** A source of proven operations (e.g. the gRPC client, or an in-process database in tests). */
export interface Resolver {
  /**
   * Streams batches answering `request`. Throw `ResolverError` for transport failures and
   * `InvalidResponseError` for undecodable data; stop promptly when `signal` aborts.
   */
  fetch(request: FetchRequest, signal: AbortSignal): AsyncIterable<FetchedBatch>;
  /**
   * Called when the engine rejects a batch this resolver yielded (it failed a check or its
   * proof). Return true when the resolver has excluded the peer that sent it (one of several
   * sources): the range is then re-requested at once, and the rejection does not count towards
   * the engine's limit of invalid responses.
   */
  rejected?(batch: FetchedBatch, error: InvalidResponseError): boolean;
}
