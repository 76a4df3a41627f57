/** The wire layer: protobuf ⇄ domain conversions shared by the gRPC server and client. */
export * from "./convert";
