/** The wire layer: protobuf ⇄ domain conversions shared by the gRPC server and client. */
export * from "./convert";
export { decodeOperationsResponse, encodeOperationsResponse, type DecodedBatch, type DecodeLimits } from "./batch-codec";
