/**
 * The npm package: `npm pack --dry-run` holds the binaries, the compiled library and gRPC stub,
 * the protos, the README and the batched SHA-256 addon's sources (its install script builds them),
 * and no compiled tests, benchmarks, CI, sources or prebuilt addon; the `exports` map
 * resolves the main entry and the `./grpc` subpath (with their type declarations, which a
 * TypeScript consumer finds under node16, bundler and legacy node10 resolution); the README's
 * example runs after `npm run build` and reads what it synced.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { ROOT, cleanup, requireBuilt, run, startServer, tempDir } from "./harness";

jest.setTimeout(60_000);
beforeAll(requireBuilt);
afterAll(cleanup);

test("npm pack --dry-run: binaries, library, stub, protos, README and addon sources; no tests, bench, CI, sources or prebuilt addon", () => {
  const report = JSON.parse(execFileSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: ROOT, encoding: "utf8" })) as Array<{
    files: Array<{ path: string }>;
  }>;
  const files = report[0]!.files.map((f) => f.path);
  for (const wanted of [
    "package.json",
    "README.md",
    "bin/sync-server.js",
    "bin/sync-client.js",
    "bin/launch.js",
    "dist/src/index.js",
    "dist/src/index.d.ts",
    "dist/src/cli/server.js",
    "dist/gen/commonware/sync/v1/sync.js",
    "dist/gen/commonware/sync/v1/sync.d.ts",
    "proto/commonware/sync/v1/sync.proto",
    "native/sha256_batch.c",
    "native/binding.gyp",
    "native/build.js",
  ]) {
    expect(files).toContain(wanted);
  }
  const unwanted = files.filter((f) =>
    /\.test\.|(^|\/)(test|bench|\.ci|scripts|examples)\/|^src\/|^gen\/|\.map$|^Dockerfile|^deploy\/|^native\/build\/|\.node$/.test(f),
  );
  expect(unwanted).toEqual([]);
});

test("the exports map resolves the library and the gRPC stub (CommonJS and ESM), and hides internals", async () => {
  const cjs = await run(process.execPath, [
    "-e",
    `const lib = require("commonware-sync-ts"); const grpc = require("commonware-sync-ts/grpc");
     console.log(typeof lib.SyncClient, typeof lib.NotSyncedError, typeof grpc.SyncServiceClient, typeof grpc.SyncServiceService.getOperations);
     console.log(require.resolve("commonware-sync-ts/proto/sync.proto"));
     try { require("commonware-sync-ts/dist/src/cli/server.js"); } catch (e) { console.log(e.code); }`,
  ]);
  expect(cjs.stderr).toBe("");
  const [types, proto, hidden] = cjs.stdout.trim().split("\n");
  expect(types).toBe("function function function object");
  expect(proto).toBe(path.join(ROOT, "proto/commonware/sync/v1/sync.proto"));
  expect(hidden).toBe("ERR_PACKAGE_PATH_NOT_EXPORTED");
  const esm = await run(process.execPath, [
    "--input-type=module",
    "-e",
    `import { SyncClient } from "commonware-sync-ts"; import { SyncServiceClient } from "commonware-sync-ts/grpc"; console.log(typeof SyncClient, typeof SyncServiceClient);`,
  ]);
  expect(esm.stdout.trim()).toBe("function function");
  const pkg = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { exports: Record<string, { types?: string } | string> };
  for (const entry of [".", "./grpc"]) {
    const types = (pkg.exports[entry] as { types: string }).types;
    expect(existsSync(path.join(ROOT, types))).toBe(true);
  }
});

test("the README's example runs from dist/ after npm run build and reads the synced keys", async () => {
  expect(existsSync(path.join(ROOT, "dist/examples/embed-client.js"))).toBe(true);
  const server = await startServer({ db: "any", initialOps: 100, opInterval: "1h" });
  const r = await run(process.execPath, [path.join(ROOT, "dist/examples/embed-client.js"), server.addr, tempDir()], 40_000);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/^iteration 3: \d+ operations, root [0-9a-f]{64}, 100 live keys$/m);
  expect(r.stdout).toMatch(/^100 live keys at op count \d+$/m);
  expect(r.stdout).toMatch(/^get\([0-9a-f]{16}…\) = [0-9a-f]{64}$/m);
  await server.stop();
});

test("a TypeScript consumer type-checks both entries under node16, bundler and legacy node10 module resolution", async () => {
  // A consumer project whose node_modules holds this package, as `npm install <tarball>` would.
  const consumer = tempDir();
  mkdirSync(path.join(consumer, "node_modules"));
  symlinkSync(ROOT, path.join(consumer, "node_modules", "commonware-sync-ts"), "dir");
  writeFileSync(
    path.join(consumer, "use.ts"),
    `import { SyncClient, AnyDb } from "commonware-sync-ts";
     import { SyncServiceClient, GetSyncTargetRequest } from "commonware-sync-ts/grpc";
     const request: GetSyncTargetRequest = GetSyncTargetRequest.fromPartial({});
     export const used = [SyncClient, AnyDb, SyncServiceClient, request] as const;\n`,
  );
  const tsc = path.join(ROOT, "node_modules/typescript/bin/tsc");
  const common = [
    "--ignoreConfig",
    "--noEmit",
    "--strict",
    "--types",
    "node",
    "--typeRoots",
    path.join(ROOT, "node_modules/@types"),
    path.join(consumer, "use.ts"),
  ];
  for (const resolution of [
    ["--module", "node16", "--moduleResolution", "node16"],
    ["--module", "esnext", "--moduleResolution", "bundler"],
    ["--module", "commonjs", "--moduleResolution", "node10", "--ignoreDeprecations", "6.0"],
  ]) {
    const r = await run(process.execPath, [tsc, ...resolution, ...common], 60_000);
    expect({ resolution: resolution.join(" "), out: r.stdout + r.stderr, code: r.code }).toEqual({ resolution: resolution.join(" "), out: "", code: 0 });
  }
});
