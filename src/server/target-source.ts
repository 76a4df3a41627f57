/**
 * What the sync service serves from. A `TargetSource` holds a target and the operations below it
 * with historical proofs; the service only ever answers from it. Two sources exist: the writer
 * (the server's own database and workload, `writer-source.ts`) and a relay (a verified copy of an
 * upstream, `src/relay`). A `ServedSource` adds the lifecycle the server drives.
 */
import type { EventEmitter } from "node:events";
import type { DbKindName, ProvenOperations } from "../qmdb";
import type { SyncTarget } from "../sync";
import type { ServerMetrics } from "./metrics";
import type { Logger } from "../telemetry";

/** A signature that came with a target from its origin (relays pass it on verbatim). */
export interface TargetSignature {
  readonly signature: Uint8Array;
  readonly signer: Uint8Array;
}

/** The state a server serves. Emits `target` each time a new target becomes servable. */
export interface TargetSource extends Pick<EventEmitter<{ target: [SyncTarget] }>, "on" | "off" | "listenerCount"> {
  readonly kind: DbKindName;
  /** The target served now; undefined while there is none (a relay before its first target). */
  readonly target: SyncTarget | undefined;
  /** The origin's signature of `target`, when the source received one (relays); else undefined. */
  readonly targetSignature?: TargetSignature;
  /** First location whose operation can be proven. */
  readonly oldestRetainedLoc: bigint;
  /**
   * Whether a request for an op count beyond `target` may succeed soon (a relay catching up:
   * answered UNAVAILABLE, so clients retry) rather than being out of range.
   */
  readonly catchingUp?: boolean;
  /** Canonically encoded operations with a proof against the root at `opCount`. */
  historicalProof(opCount: bigint, startLoc: bigint, maxOps: bigint): ProvenOperations<Uint8Array>;
}

/** A target source with the lifecycle the server drives. */
export interface ServedSource {
  readonly source: TargetSource;
  /** Extra fields of the "server listening" log line. */
  readonly description: Record<string, unknown>;
  /** Starts producing targets (called once the server listens). */
  start(): void;
  /** Stops producing targets (finishing what is in progress); serving goes on. */
  stop(): Promise<void>;
  /** Closes the storage (after `stop`). */
  close(): Promise<void>;
}

/** What a `ServedSource` is made from. */
export interface SourceContext {
  readonly kind: DbKindName;
  readonly storageDir: string;
  readonly logger: Logger;
  readonly metrics: ServerMetrics;
  /** Aborts a long preparation (the writer's initial load): the factory then rejects. */
  readonly signal?: AbortSignal;
  /** Reports whether the source can serve (health): false while it recovers from a storage failure. */
  readonly setServing?: (serving: boolean) => void;
}

/** Opens a served source (the writer by default; `--upstream` makes a relay). */
export type SourceFactory = (context: SourceContext) => Promise<ServedSource>;
