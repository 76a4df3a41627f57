/**
 * Building gRPC error statuses with a retry delay: the delay goes in the `retry-after-ms` trailer
 * (simple to read) and as a standard `google.rpc.RetryInfo` in `grpc-status-details-bin` (what
 * gRPC tooling understands). The protobuf of `google.rpc.Status` is written by hand: three
 * fields do not justify vendoring the googleapis protos.
 */
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { Metadata, type status } from "@grpc/grpc-js";

const RETRY_INFO_TYPE = "type.googleapis.com/google.rpc.RetryInfo";

/** Serialized `google.rpc.Status { code, message, details: [Any(RetryInfo { retry_delay })] }`. */
export function retryStatusDetails(code: status, message: string, retryAfterMs: number): Buffer {
  const seconds = Math.floor(retryAfterMs / 1000);
  const nanos = Math.round((retryAfterMs % 1000) * 1e6);
  const duration = new BinaryWriter();
  if (seconds !== 0) duration.uint32(8).int64(seconds);
  if (nanos !== 0) duration.uint32(16).int32(nanos);
  const retryInfo = new BinaryWriter().uint32(10).bytes(duration.finish()).finish();
  const any = new BinaryWriter().uint32(10).string(RETRY_INFO_TYPE).uint32(18).bytes(retryInfo).finish();
  return Buffer.from(new BinaryWriter().uint32(8).int32(code).uint32(18).string(message).uint32(26).bytes(any).finish());
}

/** Trailers that carry a retry delay both ways. */
export function retryMetadata(code: status, message: string, retryAfterMs: number): Metadata {
  const metadata = new Metadata();
  metadata.set("retry-after-ms", String(Math.ceil(retryAfterMs)));
  metadata.set("grpc-status-details-bin", retryStatusDetails(code, message, retryAfterMs));
  return metadata;
}
