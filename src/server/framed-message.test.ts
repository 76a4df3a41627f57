/**
 * Framed responses: the header is right, grpc-js (with `installFramedResponses`) sends the frame
 * as is, and a client receives exactly the message, the same bytes as an ordinary serialized
 * response of the same message (the path taken where the patch could not be installed).
 */
import { Server, ServerCredentials, type ServerWritableStream, credentials, makeGenericClientConstructor } from "@grpc/grpc-js";
import { FRAME_HEADER_BYTES, FramedMessage, installFramedResponses } from "./framed-message";

/** `size` bytes of a recognisable pattern, behind header room. */
function frameOf(size: number): Buffer {
  const frame = Buffer.alloc(FRAME_HEADER_BYTES + size);
  for (let i = 0; i < size; i++) frame[FRAME_HEADER_BYTES + i] = (i * 7 + 3) & 0xff;
  return frame;
}

test("the header states an uncompressed message of the rest's length; `message` is a view of the rest", () => {
  for (const size of [0, 1, 127, 128, 70_001]) {
    const framed = new FramedMessage(frameOf(size));
    expect(framed.length).toBe(FRAME_HEADER_BYTES + size);
    expect(framed.frame[0]).toBe(0);
    expect(framed.frame.readUInt32BE(1)).toBe(size);
    expect(framed.message.buffer).toBe(framed.frame.buffer);
    expect(framed.message.equals(frameOf(size).subarray(FRAME_HEADER_BYTES))).toBe(true);
  }
  expect(() => new FramedMessage(Buffer.alloc(4))).toThrow(RangeError);
});

test("a client receives a framed response byte for byte, next to ordinarily serialized ones", async () => {
  expect(installFramedResponses()).toBe(true); // grpc-js 1.14 has the method it relies on
  expect(installFramedResponses()).toBe(true); // idempotent
  const sizes = [0, 1, 1000, 300_001];
  const identity = (b: Buffer): Buffer => b;
  let framedSerialized = 0;
  const definition = {
    stream: {
      path: "/test.Framed/Stream",
      requestStream: false,
      responseStream: true,
      requestSerialize: identity,
      requestDeserialize: identity,
      // Ordinary messages are Buffers; framed ones skip this (or, without the patch, give their message).
      responseSerialize: (m: Buffer | FramedMessage): Buffer => (m instanceof FramedMessage ? (framedSerialized++, m.message) : m),
      responseDeserialize: identity,
    },
  };
  const server = new Server();
  server.addService(definition, {
    stream: (call: ServerWritableStream<Buffer, Buffer | FramedMessage>) => {
      for (const size of sizes) {
        call.write(new FramedMessage(frameOf(size)));
        call.write(frameOf(size).subarray(FRAME_HEADER_BYTES));
      }
      call.end();
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  const Client = makeGenericClientConstructor(definition, "Framed");
  const client = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
  try {
    const received = await new Promise<Buffer[]>((resolve, reject) => {
      const out: Buffer[] = [];
      const call = (client as unknown as { stream: (req: Buffer) => NodeJS.ReadableStream }).stream(Buffer.alloc(0));
      call.on("data", (m: Buffer) => out.push(m));
      call.on("error", reject);
      call.on("end", () => resolve(out));
    });
    expect(received.length).toBe(2 * sizes.length);
    expect(framedSerialized).toBe(0); // sent as framed, not serialized and copied into a new frame
    sizes.forEach((size, i) => {
      const want = frameOf(size).subarray(FRAME_HEADER_BYTES);
      expect(received[2 * i]!.equals(want)).toBe(true);
      expect(received[2 * i + 1]!.equals(want)).toBe(true);
    });
  } finally {
    client.close();
    await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  }
});
