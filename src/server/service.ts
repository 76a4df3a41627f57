/**
 * The sync service's request logic, free of gRPC: answers target requests and turns an operations
 * request into a sequence of batches, each with its own range proof against the root at the
 * requested op count (so a client can verify and store each batch as it arrives; `batch-source.ts`
 * produces and encodes them). Requests are validated up front; every bound is documented in
 * `ServiceLimits`.
 */
import { MmrError, type Proof } from "../mmr";
import { type DbKindName, QmdbError } from "../qmdb";
import type { SyncTarget } from "../sync";
import type { TargetSigner } from "../sync";
import { ServiceError } from "./errors";
import type { TargetSource } from "./target-source";

/** Bounds on what one request may ask for. */
export interface ServiceLimits {
  /** Operations per streamed message when the request asks for 0 (default 100). */
  readonly defaultBatchSize: number;
  /** Largest number of operations per streamed message; larger requests are clamped (default 10 000). */
  readonly maxBatchSize: number;
  /** Largest number of operations one stream carries; larger `max_ops` are clamped (default 1 000 000). */
  readonly maxOpsPerStream: number;
}

/** The defaults of `ServiceLimits`: a 10 000-operation message stays under 1 MiB on the wire. */
export const DEFAULT_LIMITS: ServiceLimits = { defaultBatchSize: 100, maxBatchSize: 10_000, maxOpsPerStream: 1_000_000 };

/** An operations request, as received. */
export interface OperationsRequest {
  readonly opCount: bigint;
  readonly startLoc: bigint;
  readonly maxOps: bigint;
  readonly batchSize: number;
}

/** A target with the server's signature (empty when the server has no signing key). */
export interface SignedTarget {
  readonly target: SyncTarget;
  readonly signature: Uint8Array;
  readonly signer: Uint8Array;
}

/** Serves targets and proven operations from a target source (the server's database, or a relay's copy). */
export class SyncService {
  private signed: SignedTarget | undefined;

  constructor(
    private readonly db: TargetSource,
    readonly limits: ServiceLimits = DEFAULT_LIMITS,
    private readonly signer?: TargetSigner,
  ) {}

  /** The source, for subscribing to new targets. */
  get database(): TargetSource {
    return this.db;
  }

  /** Whether there is a target to serve (a relay has none until it reaches its first). */
  get hasTarget(): boolean {
    return this.db.target !== undefined;
  }

  /**
   * The served target, signed if the server has a signing key (signed once per target), or with
   * the origin's signature a relay received with it. `Unavailable` while there is no target.
   */
  signedTarget(): SignedTarget {
    const target = this.served();
    if (this.signed?.target !== target) {
      const passedOn = this.db.targetSignature;
      this.signed =
        this.signer !== undefined
          ? { target, signature: this.signer.sign(this.db.kind, target), signer: this.signer.publicKey }
          : passedOn !== undefined
            ? { target, signature: passedOn.signature, signer: passedOn.signer }
            : { target, signature: new Uint8Array(0), signer: new Uint8Array(0) };
    }
    return this.signed;
  }

  /** The kind of database served. */
  get kind(): DbKindName {
    return this.db.kind;
  }

  /** The served target. `Unavailable` while there is none. */
  target(): SyncTarget {
    return this.served();
  }

  private served(): SyncTarget {
    const target = this.db.target;
    if (target === undefined) throw new ServiceError("Unavailable", "this relay has not reached a target yet; retry later");
    return target;
  }

  /**
   * Checks a request against the committed state and the limits; returns the clamped plan. Throws
   * `InvalidArgument` for `max_ops` 0 or `start_loc ≥ op_count`, `OutOfRange` for an `op_count`
   * beyond the committed size or a `start_loc` below the pruned boundary.
   */
  plan(req: OperationsRequest): { opCount: bigint; startLoc: bigint; endLoc: bigint; batchSize: number } {
    if (req.maxOps === 0n) throw new ServiceError("InvalidArgument", "max_ops must be at least 1");
    if (req.opCount === 0n) throw new ServiceError("InvalidArgument", "op_count must be at least 1");
    if (req.startLoc >= req.opCount) {
      throw new ServiceError("InvalidArgument", `start_loc ${req.startLoc} must be below op_count ${req.opCount}`);
    }
    const size = this.served().upperBound;
    if (req.opCount > size) {
      if (this.db.catchingUp === true)
        throw new ServiceError("Unavailable", `op_count ${req.opCount} is beyond the op count ${size} this relay has reached; retry later`);
      throw new ServiceError("OutOfRange", `op_count ${req.opCount} exceeds the database's committed op count ${size}`);
    }
    const oldest = this.db.oldestRetainedLoc;
    if (req.startLoc < oldest) {
      throw new ServiceError("OutOfRange", `start_loc ${req.startLoc} is below the oldest retained location ${oldest}`);
    }
    const maxOps = req.maxOps < BigInt(this.limits.maxOpsPerStream) ? req.maxOps : BigInt(this.limits.maxOpsPerStream);
    const end = req.startLoc + maxOps;
    const batchSize = req.batchSize === 0 ? this.limits.defaultBatchSize : Math.min(req.batchSize, this.limits.maxBatchSize);
    return { opCount: req.opCount, startLoc: req.startLoc, endLoc: end < req.opCount ? end : req.opCount, batchSize };
  }

  /** Operations `[startLoc, startLoc + n)` (encoded) and their proof against the root at `opCount`; errors as `ServiceError`s. */
  prove(opCount: bigint, startLoc: bigint, n: bigint): { proof: Proof; operations: Uint8Array[] } {
    try {
      return this.db.historicalProof(opCount, startLoc, n);
    } catch (err) {
      if (err instanceof QmdbError && (err.kind === "OperationPruned" || err.kind === "RangeOutOfBounds")) {
        throw new ServiceError("OutOfRange", err.message, { cause: err });
      }
      if (err instanceof QmdbError || err instanceof MmrError) throw new ServiceError("Internal", "failed to build a proof", { cause: err });
      throw err;
    }
  }
}
