/**
 * The service layer's error type. `kind` says what a caller did wrong (or what failed); only the
 * gRPC adapter turns it into a status code, so this layer knows nothing of gRPC.
 */

/** Why a request failed. */
export type ServiceErrorKind = "InvalidArgument" | "OutOfRange" | "Unavailable" | "Stalled" | "Internal";

/** A request failed; the message names the field and the bound. */
export class ServiceError extends Error {
  override name = "ServiceError";
  constructor(
    readonly kind: ServiceErrorKind,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
