#!/usr/bin/python3
"""Independent client check of a running sync-server, with Debian's python3-grpcio (C core).

Generates Python stubs into a temporary directory (sync.proto with buf + Debian protoc and
/usr/bin/grpc_python_plugin; reflection and health from /usr/share/grpc-proto with protoc), then:
  * GetSyncTarget: the database kind matches --db, the root is 32 bytes, lower < upper;
  * GetOperations over [lower, upper) in batches of --batch-size: contiguous, each message holds at
    most that many operations of the right kind, its proof is against the MMR of `upper` leaves;
  * rebuilds the MMR root over [0, upper) from the streamed operations with its own canonical
    encoder and hasher (no project code) and compares it with the target root;
  * a bad request (max_ops 0) gets INVALID_ARGUMENT naming max_ops;
  * reflection (v1 and v1alpha) list_services names the sync and health services, and
    file_containing_symbol yields a descriptor pool that knows both RPCs;
  * grpc.health.v1.Health/Check is SERVING for "" and the sync service.
Prints one "ok" line per check and exits 0, or prints the failure and exits 1.

Needs: apt-get install -y python3-grpcio protobuf-compiler protobuf-compiler-grpc grpc-proto
Usage: /usr/bin/python3 scripts/python-client-check.py --addr 127.0.0.1:PORT --db any|immutable
"""
import argparse
import hashlib
import os
import shutil
import struct
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SYNC_SERVICE = "commonware.sync.v1.SyncService"
HEALTH_SERVICE = "grpc.health.v1.Health"
GRPC_PROTO_DIR = "/usr/share/grpc-proto/grpc"
GRPC_PYTHON_PLUGIN = "/usr/bin/grpc_python_plugin"


class CheckFailed(Exception):
    pass


def check(cond, message):
    if not cond:
        raise CheckFailed(message)


def ok(message):
    print(f"ok   {message}", flush=True)


# --------------------------------------------------------------------------------------------
# Stub generation


def find_buf():
    for rel in (f"node_modules/@bufbuild/buf-linux-{'x64' if os.uname().machine == 'x86_64' else 'arm64'}/bin/buf", "node_modules/.bin/buf"):
        path = os.path.join(REPO, rel)
        if os.path.exists(path):
            return path
    raise CheckFailed("buf not found under node_modules (run npm ci)")


def run(cmd, cwd=None):
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise CheckFailed(f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout}{result.stderr}")


def generate_stubs(out):
    for tool in ("protoc", GRPC_PYTHON_PLUGIN):
        if shutil.which(tool) is None:
            raise CheckFailed(f"{tool} not found: apt-get install -y protobuf-compiler protobuf-compiler-grpc")
    if not os.path.isdir(GRPC_PROTO_DIR):
        raise CheckFailed(f"{GRPC_PROTO_DIR} missing: apt-get install -y grpc-proto")
    # sync.proto through the repo's buf module; python/pyi come from Debian's protoc on PATH.
    template = os.path.join(out, "buf.gen.python.yaml")
    with open(template, "w") as f:
        f.write(
            "version: v2\n"
            "plugins:\n"
            "  - protoc_builtin: python\n    out: .\n"
            f"  - local: {GRPC_PYTHON_PLUGIN}\n    out: .\n"
        )
    run([find_buf(), "generate", REPO, "--template", template, "-o", out], cwd=REPO)
    # Reflection and health: generate with -I .../grpc so the packages are `reflection` and
    # `health`, not `grpc.*` (which would shadow grpcio's own `grpc` module).
    run([
        "protoc", f"-I{GRPC_PROTO_DIR}", f"--python_out={out}", f"--grpc_python_out={out}",
        f"--plugin=protoc-gen-grpc_python={GRPC_PYTHON_PLUGIN}",
        "reflection/v1/reflection.proto", "reflection/v1alpha/reflection.proto", "health/v1/health.proto",
    ])
    sys.path.insert(0, out)


# --------------------------------------------------------------------------------------------
# Canonical operation encoding and MMR (written from the format docs, independent of src/)

ANY_UPDATE, ANY_DELETE, ANY_COMMIT_FLOOR = 0xD2, 0xD1, 0xD3


def encode_operation(kind, op):
    which = op.WhichOneof("op")
    if kind == "any":
        if which == "any_update":
            check(len(op.any_update.key) == 32 and len(op.any_update.value) == 32, "any_update key/value must be 32 bytes")
            return bytes([ANY_UPDATE]) + op.any_update.key + op.any_update.value
        if which == "any_delete":
            check(len(op.any_delete.key) == 32, "any_delete key must be 32 bytes")
            return bytes([ANY_DELETE]) + op.any_delete.key + bytes(32)
        if which == "any_commit_floor":
            c = op.any_commit_floor
            meta = c.metadata if c.HasField("metadata") else None
            check(meta is None or len(meta) == 32, "commit metadata must be 32 bytes")
            body = bytes([ANY_COMMIT_FLOOR, 0 if meta is None else 1]) + (meta or bytes(32)) + struct.pack(">Q", c.floor_loc)
            return body + bytes(65 - len(body))
    else:
        if which == "immutable_set":
            s = op.immutable_set
            check(len(s.key) == 32 and len(s.value) == 32, "immutable_set key/value must be 32 bytes")
            return b"\x00" + s.key + s.value
        if which == "immutable_commit":
            c = op.immutable_commit
            if not c.HasField("metadata"):
                return b"\x01\x00"
            check(len(c.metadata) == 32, "commit metadata must be 32 bytes")
            return b"\x01\x01" + c.metadata
    raise CheckFailed(f"operation variant {which!r} does not belong to an {kind} database")


def sha256(*parts):
    h = hashlib.sha256()
    for p in parts:
        h.update(p)
    return h.digest()


def mmr_size(leaves):
    return 2 * leaves - bin(leaves).count("1")


def mmr_root(elements):
    """Root of the MMR over `elements`: leaf = H(pos‖e), node = H(pos‖l‖r), root = H(size‖peaks)."""
    size = 0
    peaks = []  # (height, digest), left to right
    for e in elements:
        digest = sha256(struct.pack(">Q", size), e)
        size += 1
        height = 0
        while peaks and peaks[-1][0] == height:
            _, left = peaks.pop()
            digest = sha256(struct.pack(">Q", size), left, digest)
            size += 1
            height += 1
        peaks.append((height, digest))
    return sha256(struct.pack(">Q", size), *[d for _, d in peaks])


# --------------------------------------------------------------------------------------------
# Checks


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--addr", required=True, help="host:port of a running sync-server")
    parser.add_argument("--db", required=True, choices=["any", "immutable"])
    parser.add_argument("--batch-size", type=int, default=7)
    args = parser.parse_args()

    tmp = tempfile.mkdtemp(prefix="py-client-check-")
    try:
        generate_stubs(tmp)
        run_checks(args)
    except CheckFailed as e:
        print(f"FAIL {e}", flush=True)
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"python-client-check: all checks passed against {args.addr} ({args.db})", flush=True)
    return 0


def run_checks(args):
    import grpc
    from commonware.sync.v1 import sync_pb2, sync_pb2_grpc
    from google.protobuf import descriptor_pb2, descriptor_pool
    from health.v1 import health_pb2, health_pb2_grpc
    from reflection.v1 import reflection_pb2, reflection_pb2_grpc
    from reflection.v1alpha import reflection_pb2 as reflection_alpha_pb2
    from reflection.v1alpha import reflection_pb2_grpc as reflection_alpha_pb2_grpc

    kind = args.db
    with grpc.insecure_channel(args.addr) as channel:
        grpc.channel_ready_future(channel).result(timeout=10)
        stub = sync_pb2_grpc.SyncServiceStub(channel)

        # GetSyncTarget
        res = stub.GetSyncTarget(sync_pb2.GetSyncTargetRequest(), timeout=10)
        want_kind = sync_pb2.DATABASE_KIND_ANY if kind == "any" else sync_pb2.DATABASE_KIND_IMMUTABLE
        check(res.database == want_kind, f"database is {sync_pb2.DatabaseKind.Name(res.database)}, expected {sync_pb2.DatabaseKind.Name(want_kind)}")
        t = res.target
        check(len(t.root) == 32, f"root has {len(t.root)} bytes")
        check(t.lower_bound < t.upper_bound, f"lower_bound {t.lower_bound} is not below upper_bound {t.upper_bound}")
        ok(f"GetSyncTarget: {sync_pb2.DatabaseKind.Name(res.database)} [{t.lower_bound}, {t.upper_bound}) root {t.root.hex()}")

        # GetOperations over [lower, upper) in small batches
        req = sync_pb2.GetOperationsRequest(op_count=t.upper_bound, start_loc=t.lower_bound, max_ops=t.upper_bound - t.lower_bound, batch_size=args.batch_size)
        loc, messages = t.lower_bound, 0
        for m in stub.GetOperations(req, timeout=30):
            check(m.start_loc == loc, f"message {messages} starts at {m.start_loc}, expected {loc}")
            check(0 < len(m.operations) <= args.batch_size, f"message {messages} has {len(m.operations)} operations")
            check(m.proof.size == mmr_size(t.upper_bound), f"message {messages} proof size {m.proof.size} != mmr_size({t.upper_bound})")
            check(all(len(d) == 32 for d in m.proof.digests), f"message {messages} has a digest that is not 32 bytes")
            for op in m.operations:
                encode_operation(kind, op)
            loc += len(m.operations)
            messages += 1
        check(loc == t.upper_bound, f"stream ended at {loc}, expected {t.upper_bound}")
        check(messages >= 2, f"only {messages} message(s)")
        ok(f"GetOperations: {t.upper_bound - t.lower_bound} operations in {messages} contiguous messages")

        # Independent root: rebuild the MMR over [0, upper) from the streamed operations.
        req = sync_pb2.GetOperationsRequest(op_count=t.upper_bound, start_loc=0, max_ops=t.upper_bound)
        elements = [encode_operation(kind, op) for m in stub.GetOperations(req, timeout=30) for op in m.operations]
        check(len(elements) == t.upper_bound, f"got {len(elements)} operations for [0, {t.upper_bound})")
        root = mmr_root(elements)
        check(root == t.root, f"rebuilt root {root.hex()} != target root {t.root.hex()}")
        ok(f"independent MMR root over {len(elements)} re-encoded operations matches the target root")

        # A bad request
        try:
            list(stub.GetOperations(sync_pb2.GetOperationsRequest(op_count=t.upper_bound, start_loc=0, max_ops=0), timeout=10))
            raise CheckFailed("max_ops 0 was accepted")
        except grpc.RpcError as e:
            check(e.code() == grpc.StatusCode.INVALID_ARGUMENT, f"max_ops 0 gave {e.code()}, expected INVALID_ARGUMENT")
            check("max_ops" in (e.details() or ""), f"max_ops 0 error does not name the field: {e.details()!r}")
        ok("max_ops 0: INVALID_ARGUMENT naming max_ops")

        # Reflection v1 and v1alpha
        for name, pb2, pb2_grpc in (("v1", reflection_pb2, reflection_pb2_grpc), ("v1alpha", reflection_alpha_pb2, reflection_alpha_pb2_grpc)):
            refl = pb2_grpc.ServerReflectionStub(channel)
            responses = list(refl.ServerReflectionInfo(iter([pb2.ServerReflectionRequest(list_services="")]), timeout=10))
            services = sorted(s.name for s in responses[0].list_services_response.service)
            check(SYNC_SERVICE in services and HEALTH_SERVICE in services, f"reflection {name} list_services gave {services}")
            ok(f"reflection {name} list_services: {', '.join(services)}")

        refl = reflection_pb2_grpc.ServerReflectionStub(channel)
        [resp] = list(refl.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(file_containing_symbol=SYNC_SERVICE)]), timeout=10))
        check(resp.HasField("file_descriptor_response"), f"file_containing_symbol failed: {resp}")
        pool = descriptor_pool.DescriptorPool()
        files = [descriptor_pb2.FileDescriptorProto.FromString(b) for b in resp.file_descriptor_response.file_descriptor_proto]
        pending = list(files)
        while pending:  # add in dependency order
            progressed = False
            for f in list(pending):
                try:
                    pool.Add(f)
                    pending.remove(f)
                    progressed = True
                except TypeError:
                    pass
            check(progressed, f"descriptors do not resolve: {[f.name for f in pending]}")
        service = pool.FindServiceByName(SYNC_SERVICE)
        methods = sorted(m.name for m in service.methods)
        check({"GetOperations", "GetSyncTarget"} <= set(methods), f"reflected service has methods {methods}")
        ok(f"reflection file_containing_symbol: {', '.join(f.name for f in files)} -> {SYNC_SERVICE} {{{', '.join(methods)}}}")

        # Health
        health = health_pb2_grpc.HealthStub(channel)
        for svc in ("", SYNC_SERVICE):
            st = health.Check(health_pb2.HealthCheckRequest(service=svc), timeout=10).status
            check(st == health_pb2.HealthCheckResponse.SERVING, f"health of {svc!r} is {health_pb2.HealthCheckResponse.ServingStatus.Name(st)}")
        ok("health: SERVING for '' and " + SYNC_SERVICE)


if __name__ == "__main__":
    sys.exit(main())
