#!/usr/bin/env node
// Builds the batched SHA-256 addon (native/sha256_batch.c -> native/build/Release/sha256_batch.node)
// with the node-gyp that ships with npm, against the running node's own headers (offline: no header
// download). Run by `npm ci` / `npm install` of this package (its "install" script). It never fails
// the install: without the addon, src/mmr/sha256.ts uses the wasm path (SHA256_BATCH_IMPLEMENTATION says
// which). Set SHA256_NATIVE=off to skip the build.
"use strict";
const { spawnSync } = require("node:child_process");
const { existsSync } = require("node:fs");
const path = require("node:path");

const nativeDir = __dirname;

function nodeGypPath() {
  // npm passes its bundled node-gyp to lifecycle scripts; otherwise look next to this node's npm.
  const candidates = [
    process.env.npm_config_node_gyp,
    path.join(path.dirname(process.execPath), "..", "lib", "node_modules", "npm", "node_modules", "node-gyp", "bin", "node-gyp.js"),
  ];
  return candidates.find((p) => p !== undefined && p !== "" && existsSync(p));
}

function nodeDir() {
  // node-gyp downloads headers unless told where they are: prefer npm's nodedir, else this node's prefix.
  const configured = process.env.npm_config_nodedir;
  if (configured !== undefined && configured !== "") return configured;
  const prefix = path.join(path.dirname(process.execPath), "..");
  return existsSync(path.join(prefix, "include", "node", "node_api.h")) ? prefix : undefined;
}

function main() {
  if (process.env.SHA256_NATIVE === "off") {
    console.log("native/build.js: skipped (SHA256_NATIVE=off); SHA-256 uses the wasm path");
    return;
  }
  const gyp = nodeGypPath();
  const dir = nodeDir();
  if (gyp === undefined || dir === undefined) {
    console.warn(`native/build.js: ${gyp === undefined ? "node-gyp" : "node headers"} not found; SHA-256 uses the wasm path`);
    return;
  }
  const run = spawnSync(process.execPath, [gyp, "rebuild", `--nodedir=${dir}`], { cwd: nativeDir, stdio: ["ignore", "pipe", "pipe"], encoding: "utf8" });
  if (run.status !== 0) {
    process.stderr.write(run.stdout + run.stderr);
    console.warn(`native/build.js: node-gyp failed (exit ${run.status ?? run.signal}); SHA-256 uses the wasm path`);
    return;
  }
  console.log(`native/build.js: built ${path.relative(process.cwd(), path.join(nativeDir, "build", "Release", "sha256_batch.node"))}`);
}

main();
