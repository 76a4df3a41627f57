/**
 * End-to-end with an independent client: scripts/python-client-check.py (Debian's python3-grpcio,
 * the C core) against real servers of both kinds. Skipped, with a console message, only when
 * /usr/bin/python3 cannot `import grpc`; any other missing piece (protoc, grpc_python_plugin,
 * grpc-proto) fails the test with the install line.
 */
import { spawnSync } from "node:child_process";
import path from "node:path";
import { KINDS, type Kind, ROOT, type ServerProcess, cleanup, run, startServer } from "./harness";

jest.setTimeout(60_000);

const PYTHON = "/usr/bin/python3";
const SCRIPT = path.join(ROOT, "scripts/python-client-check.py");
const APT = "apt-get install -y python3-grpcio protobuf-compiler protobuf-compiler-grpc grpc-proto";

const probe = spawnSync(PYTHON, ["-c", "import grpc"], { encoding: "utf8" });
const hasGrpc = probe.status === 0;
if (!hasGrpc) {
  const why = probe.error ? probe.error.message : probe.stderr.trim().split("\n").pop();
  console.warn(`SKIPPED python-client e2e: ${PYTHON} cannot import grpc (${why}); install with: ${APT}`);
}

(hasGrpc ? describe : describe.skip)("python3-grpcio client (scripts/python-client-check.py)", () => {
  const servers = new Map<Kind, ServerProcess>();

  beforeAll(async () => {
    const started = await Promise.all(KINDS.map((db) => startServer({ db, initialOps: 100, opInterval: "20ms" })));
    KINDS.forEach((k, i) => servers.set(k, started[i]!));
  });
  afterAll(cleanup);

  test.concurrent.each(KINDS)(
    "--db %s: GetSyncTarget, GetOperations (+ independent MMR root), a bad request, reflection and health all pass",
    async (kind: Kind) => {
      const r = await run(PYTHON, [SCRIPT, "--addr", servers.get(kind)!.addr, "--db", kind], 45_000);
      if (r.code !== 0) {
        const hint = /not found|missing|No module named/.test(r.stdout + r.stderr) ? `\n(install: ${APT})` : "";
        throw new Error(`python-client-check.py exited ${r.code ?? r.signal}:\n${r.stdout}${r.stderr}${hint}`);
      }
      expect(r.stdout).toMatch(/^ok {3}independent MMR root/m);
      expect(r.stdout).toMatch(/^ok {3}reflection v1 list_services: .*commonware\.sync\.v1\.SyncService/m);
      expect(r.stdout).toContain("python-client-check: all checks passed");
    },
  );
});
