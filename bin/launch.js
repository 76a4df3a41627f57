"use strict";
// Shared launcher of the binaries: the code lives in dist/ (built by `npm ci` / `npm run build`).
const { setInterval, clearInterval } = require("node:timers");

// Under `npx sync-server` (or `npm run server`) this process runs below npm and a shell. npm
// forwards SIGINT/SIGTERM to the shell, which dies without passing them on, so the binary would be
// orphaned and keep its port. When started by npm, losing the parent process is therefore taken as
// SIGTERM (a graceful shutdown). Started directly (`node bin/sync-server.js`), nothing changes.
function stopWhenOrphaned() {
  if (process.env.npm_command === undefined) return;
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    process.kill(process.pid, "SIGTERM");
  }, 100);
  timer.unref();
}

module.exports = function launch(name, modulePath) {
  let cli;
  try {
    cli = require(modulePath);
  } catch (err) {
    if (err && err.code === "MODULE_NOT_FOUND" && String(err.message).includes(modulePath)) {
      process.stderr.write(`${name}: not built yet; run \`npm run build\` in the project directory\n`);
      process.exit(1);
    }
    throw err;
  }
  stopWhenOrphaned();
  cli.main(process.argv.slice(2)).catch((err) => {
    process.stderr.write(`${name}: ${err && err.stack ? err.stack : err}\n`);
    process.exit(1);
  });
};
