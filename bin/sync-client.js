#!/usr/bin/env node
"use strict";
// Entry point of `sync-client`; the code lives in dist/ (built by `npm ci` / `npm run build`).
let cli;
try {
  cli = require("../dist/src/cli/client.js");
} catch (err) {
  if (err && err.code === "MODULE_NOT_FOUND") {
    process.stderr.write("sync-client: not built yet; run `npm run build` in the project directory\n");
    process.exit(1);
  }
  throw err;
}
cli.main(process.argv.slice(2)).catch((err) => {
  process.stderr.write(`sync-client: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
