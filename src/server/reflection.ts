/**
 * gRPC reflection (`grpc.reflection.v1` and `v1alpha`) from the raw FileDescriptorProtos that
 * `buf build` produced (embedded in descriptors.generated.ts by `npm run generate`). Serving them
 * unmodified keeps each file's dependency list, which strict clients (buf curl, grpcurl, Python) need.
 */
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import type { Server } from "@grpc/grpc-js";
import { ReflectionService } from "@grpc/reflection";
import { HEALTH_DESCRIPTOR_SET, SYNC_DESCRIPTOR_SET } from "./descriptors.generated";

/** Adds the reflection services, describing the sync and health services, to `server`. */
export function addReflection(server: Pick<Server, "addService">): void {
  const fileDescriptorProtos = [SYNC_DESCRIPTOR_SET, HEALTH_DESCRIPTOR_SET].flatMap((b64) =>
    fromBinary(FileDescriptorSetSchema, Buffer.from(b64, "base64")).file.map((f) => Buffer.from(toBinary(FileDescriptorProtoSchema, f))),
  );
  // @grpc/reflection only reads `fileDescriptorProtos` of each package-definition entry.
  const packageDefinition = { __descriptors__: { format: "descriptor", fileDescriptorProtos } };
  new ReflectionService(packageDefinition as unknown as ConstructorParameters<typeof ReflectionService>[0]).addToServer(server);
}
