/**
 * Responses written to grpc-js already in their gRPC frame (a 5-byte header: compression flag 0
 * and the message length, then the message). grpc-js frames every response by allocating a new
 * buffer and copying the message into it; for a cached 700 KB batch sent to many clients that copy
 * (and the fresh pages it touches) was the largest per-send cost of the server. A batch is
 * therefore encoded with room for the header in front (`encodeOperationsResponse`'s headroom),
 * the header is filled in once, and `installFramedResponses` lets grpc-js write such a frame as is.
 *
 * grpc-js has no public hook for this: the frame is built by the private
 * `BaseServerInterceptingCall.serializeMessage` (grpc-js 1.14). Where it is missing, framed
 * messages go through the service's response serializer (`message`), which grpc-js frames as it
 * does any other message: the bytes on the wire are the same either way (the tests pin both).
 */
import { BaseServerInterceptingCall } from "@grpc/grpc-js/build/src/server-interceptors";

/** Bytes of the gRPC message header: compression flag and big-endian length. */
export const FRAME_HEADER_BYTES = 5;

/** A response message inside its gRPC frame. */
export class FramedMessage {
  /**
   * Takes `frame`: `FRAME_HEADER_BYTES` of room, then the message; fills in the header (an
   * uncompressed message of `frame.length - FRAME_HEADER_BYTES` bytes).
   */
  constructor(readonly frame: Buffer) {
    if (frame.length < FRAME_HEADER_BYTES) throw new RangeError(`a gRPC frame has at least ${FRAME_HEADER_BYTES} bytes, got ${frame.length}`);
    frame[0] = 0;
    frame.writeUInt32BE(frame.length - FRAME_HEADER_BYTES, 1);
  }

  /** Bytes on the wire, header included (what send budgets count). */
  get length(): number {
    return this.frame.length;
  }

  /** The message itself (a view, not a copy). */
  get message(): Buffer {
    return this.frame.subarray(FRAME_HEADER_BYTES);
  }
}

type SerializeMessage = (this: unknown, value: unknown) => Buffer;
let installed = false;

/**
 * Makes grpc-js servers write a `FramedMessage` response as its frame, without copying it
 * (idempotent). Returns false, changing nothing, if grpc-js no longer has the method this relies on.
 */
export function installFramedResponses(): boolean {
  if (installed) return true;
  const proto = BaseServerInterceptingCall.prototype as unknown as { serializeMessage?: SerializeMessage };
  const original = proto.serializeMessage;
  if (typeof original !== "function") return false;
  proto.serializeMessage = function (this: unknown, value: unknown): Buffer {
    return value instanceof FramedMessage ? value.frame : original.call(this, value);
  };
  installed = true;
  return true;
}
