/**
 * gRPC spoken by hand over node:http2, for clients that grpc-js will not impersonate: one bound to
 * another loopback address (127.0.0.2, …: Linux routes all of 127/8 to lo, so a test can be
 * several clients by address), and one that never reads what it is sent (a tiny HTTP/2 window
 * and no 'data' listener, so the server's messages stay queued on its side).
 */
import http2 from "node:http2";
import { Metadata } from "@grpc/grpc-js";

/** How a call ended: its gRPC status (trailers or a trailers-only response) or the RST_STREAM code. */
export interface RawStatus {
  /** grpc-status, or undefined when the stream was reset without one. */
  readonly code: number | undefined;
  readonly details: string;
  /** The trailers as grpc-js metadata (e.g. `retry-after-ms`, `grpc-status-details-bin`). */
  readonly metadata: Metadata;
  /** The RST_STREAM code when the stream was reset (0 = closed normally). */
  readonly rstCode: number;
}

/** One call on a raw connection. */
export interface RawCall {
  readonly stream: http2.ClientHttp2Stream;
  /** Messages received (only when reading). */
  readonly messages: Buffer[];
  /** Resolves when the call ends, however it ends. */
  readonly ended: Promise<RawStatus>;
}

/** Settings of a raw connection. */
export interface RawOptions {
  /** Local address to connect from (e.g. "127.0.0.2"). */
  readonly localAddress?: string;
  /** The HTTP/2 initial window this client advertises (default 65 535; 16 makes a non-reader stall at once). */
  readonly initialWindowSize?: number;
}

/** A gRPC frame: compressed flag 0, big-endian length, the message. */
export function grpcFrame(message: Uint8Array): Buffer {
  const out = Buffer.alloc(5 + message.length);
  out.writeUInt32BE(message.length, 1);
  out.set(message, 5);
  return out;
}

/** An HTTP/2 connection speaking gRPC by hand. */
export class RawGrpcConnection {
  private constructor(readonly session: http2.ClientHttp2Session) {}

  /** Connects to `addr` ("127.0.0.1:PORT"); resolves once the connection is up. */
  static connect(addr: string, options: RawOptions = {}): Promise<RawGrpcConnection> {
    return new Promise((resolve, reject) => {
      const session = http2.connect(`http://${addr}`, {
        ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
        settings: { initialWindowSize: options.initialWindowSize ?? 65_535 },
      } as http2.SecureClientSessionOptions);
      session.once("connect", () => {
        session.off("error", reject);
        session.on("error", () => undefined); // a reset connection ends its calls; they report it
        resolve(new RawGrpcConnection(session));
      });
      session.once("error", reject);
    });
  }

  /** Whether the server closed this connection (GOAWAY or socket closed). */
  get closed(): boolean {
    return this.session.closed || this.session.destroyed;
  }

  /**
   * Calls `path` ("/package.Service/Method") with one request message. With `read: false` the
   * response body is never consumed (the stream stays paused); status and resets still arrive.
   */
  call(path: string, request: Uint8Array, { read }: { read: boolean }): RawCall {
    const stream = this.session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers" });
    const messages: Buffer[] = [];
    let settle!: (h: http2.IncomingHttpHeaders) => void;
    const ended = new Promise<RawStatus>((resolve) => {
      settle = (h) => {
        const metadata = new Metadata();
        for (const [k, v] of Object.entries(h)) {
          if (k.startsWith(":") || v === undefined) continue;
          for (const one of Array.isArray(v) ? v : [String(v)]) metadata.add(k, k.endsWith("-bin") ? Buffer.from(one, "base64") : one);
        }
        const code = h["grpc-status"] === undefined ? undefined : Number(h["grpc-status"]);
        resolve({ code, details: decodeURIComponent(String(h["grpc-message"] ?? "")), metadata, rstCode: stream.rstCode ?? 0 });
      };
    });
    // The status comes in a trailers-only response's headers, in trailers, or not at all (reset).
    stream.on("response", (h) => void (h["grpc-status"] !== undefined && settle(h)));
    stream.on("trailers", (t) => settle(t));
    stream.once("close", () => settle({}));
    stream.on("error", () => undefined); // reported through `ended`
    if (read) {
      let pending = Buffer.alloc(0);
      stream.on("data", (chunk: Buffer) => {
        pending = Buffer.concat([pending, chunk]);
        while (pending.length >= 5 && pending.length >= 5 + pending.readUInt32BE(1)) {
          const n = pending.readUInt32BE(1);
          messages.push(pending.subarray(5, 5 + n));
          pending = pending.subarray(5 + n);
        }
      });
    }
    stream.end(grpcFrame(request));
    return { stream, messages, ended };
  }

  /** Closes the connection at once. */
  destroy(): void {
    this.session.destroy();
  }
}
