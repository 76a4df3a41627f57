/**
 * A misbehaving sync server for client tests: a real gRPC server on 127.0.0.1 (grpc-js, an
 * ephemeral port) that reports a fixed `any` target and answers `GetOperations` the way a test
 * says, recording when each request arrived. `WatchSyncTarget` sends the target and stays open.
 */
import { Server, ServerCredentials, type ServerWritableStream } from "@grpc/grpc-js";
import { DatabaseKind, type GetOperationsRequest, SyncServiceService } from "../../gen/commonware/sync/v1/sync";

/** What a fake server does with one `GetOperations` call (it may write Buffers: they are sent as they are). */
export type OperationsHandler = (call: ServerWritableStream<GetOperationsRequest, unknown>) => void;

/** A running fake server. */
export interface FakeServer {
  readonly addr: string;
  /** Arrival times (ms since the epoch) of every `GetOperations` request. */
  readonly operationRequests: number[];
  close(): Promise<void>;
}

/** The target every fake server reports: 100 operations under an arbitrary root. */
export const FAKE_TARGET = { root: Buffer.alloc(32, 7), lowerBound: 0n, upperBound: 100n };

/** Starts a fake server whose `GetOperations` calls are answered by `onOperations`. */
export async function startFakeServer(onOperations: OperationsHandler): Promise<FakeServer> {
  const operationRequests: number[] = [];
  const server = new Server();
  const serializeOperations = SyncServiceService.getOperations.responseSerialize;
  const definition = {
    ...SyncServiceService,
    getOperations: { ...SyncServiceService.getOperations, responseSerialize: (m: unknown) => (Buffer.isBuffer(m) ? m : serializeOperations(m as never)) },
  };
  const target = { database: DatabaseKind.DATABASE_KIND_ANY, target: FAKE_TARGET, signature: Buffer.alloc(0), signer: Buffer.alloc(0) };
  server.addService(definition, {
    getSyncTarget: (_call: unknown, callback: (err: null, res: typeof target) => void) => callback(null, target),
    watchSyncTarget: (call: ServerWritableStream<unknown, typeof target>) => {
      call.write(target);
      call.on("cancelled", () => call.end());
    },
    getOperations: (call: ServerWritableStream<GetOperationsRequest, unknown>) => {
      operationRequests.push(Date.now());
      call.on("error", () => undefined);
      onOperations(call);
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    addr: `127.0.0.1:${port}`,
    operationRequests,
    close: async () => server.forceShutdown(),
  };
}
