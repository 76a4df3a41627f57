/**
 * A lying sync server for scale-out tests: a gRPC proxy (in the test process, on 127.0.0.1 and a
 * free port) in front of an honest server that passes targets on unchanged but flips one byte of
 * an operation in every `GetOperations` message, so every batch fails its proof. `WatchSyncTarget`
 * is forwarded too. Counts the operations messages it corrupted. `startSilentServer` makes a
 * source that stalls instead (counting the operations requests it left unanswered).
 */
import { type ServerUnaryCall, type ServerWritableStream, Server, ServerCredentials, type sendUnaryData, credentials, status } from "@grpc/grpc-js";
import {
  type GetOperationsRequest,
  type GetOperationsResponse,
  type GetSyncTargetRequest,
  type GetSyncTargetResponse,
  type Operation,
  SyncServiceClient,
  SyncServiceService,
  type WatchSyncTargetRequest,
} from "../../gen/commonware/sync/v1/sync";

/** A running lying proxy. */
export interface LyingProxy {
  readonly addr: string;
  /** Operations messages sent with a flipped byte (silent server: requests left unanswered). */
  readonly corrupted: () => number;
  close(): Promise<void>;
}

// Flips the last byte of the first operation's value (or key, or floor) so its hash changes.
function corrupt(op: Operation): void {
  const bytes = op.anyUpdate?.value ?? op.immutableSet?.value ?? op.anyDelete?.key;
  if (bytes !== undefined && bytes.length > 0) bytes[bytes.length - 1]! ^= 0x01;
  else if (op.anyCommitFloor !== undefined) op.anyCommitFloor.floorLoc ^= 1n;
  else if (op.immutableCommit !== undefined) op.immutableCommit.metadata = Buffer.from([1]);
}

/** Starts a proxy to `upstream` that corrupts every operations message. */
export function startLyingProxy(upstream: string): Promise<LyingProxy> {
  return startProxy(upstream, { corrupt: true });
}

/**
 * Starts an honest proxy to `upstream` that answers its first `times` target requests with
 * `stale` (an older target, validly signed: what a lagging relay behind a load balancer serves).
 */
export function startStaleProxy(upstream: string, stale: GetSyncTargetResponse, times: number): Promise<LyingProxy> {
  return startProxy(upstream, { corrupt: false, stale, times });
}

async function startProxy(upstream: string, how: { corrupt: boolean; stale?: GetSyncTargetResponse; times?: number }): Promise<LyingProxy> {
  const honest = new SyncServiceClient(upstream, credentials.createInsecure());
  let corrupted = 0;
  let staleLeft = how.times ?? 0;
  const server = new Server();
  server.addService(SyncServiceService, {
    getSyncTarget(call: ServerUnaryCall<GetSyncTargetRequest, GetSyncTargetResponse>, callback: sendUnaryData<GetSyncTargetResponse>): void {
      if (how.stale !== undefined && staleLeft > 0) {
        staleLeft--;
        return callback(null, how.stale);
      }
      honest.getSyncTarget(call.request, (err, res) => callback(err, res));
    },
    getOperations(call: ServerWritableStream<GetOperationsRequest, GetOperationsResponse>): void {
      const upstreamCall = honest.getOperations(call.request);
      call.on("cancelled", () => upstreamCall.cancel());
      upstreamCall.on("data", (m: GetOperationsResponse) => {
        const first = m.operations[0];
        if (how.corrupt && first !== undefined) {
          corrupt(first);
          corrupted++;
        }
        call.write(m);
      });
      upstreamCall.on("end", () => call.end());
      upstreamCall.on("error", (err: { code?: number; details?: string }) =>
        call.destroy(Object.assign(new Error(err.details ?? "upstream failed"), { code: err.code ?? status.UNAVAILABLE })),
      );
    },
    watchSyncTarget(call: ServerWritableStream<WatchSyncTargetRequest, GetSyncTargetResponse>): void {
      const upstreamCall = honest.watchSyncTarget(call.request);
      call.on("cancelled", () => upstreamCall.cancel());
      upstreamCall.on("data", (m: GetSyncTargetResponse) => call.write(m));
      upstreamCall.on("end", () => call.end());
      upstreamCall.on("error", () => call.end());
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    addr: `127.0.0.1:${port}`,
    corrupted: () => corrupted,
    close: () =>
      new Promise<void>((resolve) => {
        honest.close();
        server.forceShutdown();
        resolve();
      }),
  };
}

/** A source that answers targets (from `upstream`) but never sends a byte of operations. */
export async function startSilentServer(upstream: string): Promise<LyingProxy> {
  const honest = new SyncServiceClient(upstream, credentials.createInsecure());
  let stalled = 0;
  const server = new Server();
  server.addService(SyncServiceService, {
    getSyncTarget(call: ServerUnaryCall<GetSyncTargetRequest, GetSyncTargetResponse>, callback: sendUnaryData<GetSyncTargetResponse>): void {
      honest.getSyncTarget(call.request, (err, res) => callback(err, res));
    },
    getOperations(call: ServerWritableStream<GetOperationsRequest, GetOperationsResponse>): void {
      stalled++;
      call.on("cancelled", () => call.end());
    },
    watchSyncTarget(call: ServerWritableStream<WatchSyncTargetRequest, GetSyncTargetResponse>): void {
      call.on("cancelled", () => call.end());
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    addr: `127.0.0.1:${port}`,
    corrupted: () => stalled,
    close: async () => {
      honest.close();
      server.forceShutdown();
    },
  };
}
