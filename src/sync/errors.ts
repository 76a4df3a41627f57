/**
 * The sync engine's error type. `kind` mirrors commonware's engine errors plus the production
 * additions (invalid peer data, exhausted retries); evidence (roots, ranges, the peer's fault)
 * is in the message and, where useful, in `details`.
 */

/** What made a sync fail. */
export type SyncErrorKind =
  "InvalidTarget" | "TargetRootUnchanged" | "RootMismatch" | "HiddenLiveKeys" | "InvalidResponse" | "ResolverFailed" | "InvalidState" | "Aborted";

/** A sync failed; `kind` says why. */
export class SyncError extends Error {
  override name = "SyncError";
  constructor(
    readonly kind: SyncErrorKind,
    message: string,
    options?: ErrorOptions & { details?: Record<string, unknown> },
  ) {
    super(`${kind}: ${message}`, options);
    this.details = options?.details;
  }
  readonly details: Record<string, unknown> | undefined;
}

/**
 * A resolver could not deliver (network failure, server error). `retryable` errors are retried
 * with backoff; `retryAfterMs` is a delay the server asked for (e.g. when rate limiting).
 */
export class ResolverError extends Error {
  override name = "ResolverError";
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly retryAfterMs?: number,
    options?: ErrorOptions & { throttled?: boolean },
  ) {
    super(message, options);
    this.throttled = options?.throttled ?? false;
  }
  /** The server is rate limiting this client: wait `retryAfterMs`; this is not a failure. */
  readonly throttled: boolean;
}

/** A peer sent data that breaks the protocol or fails verification (it is never kept). */
export class InvalidResponseError extends Error {
  override name = "InvalidResponseError";
  constructor(
    /** Short reason class: "bad proof", "wrong count", "wrong start", "oversize", "wrong size", "malformed". */
    readonly reason: string,
    message: string,
  ) {
    super(`${reason}: ${message}`);
  }
}
