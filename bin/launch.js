"use strict";
// Shared launcher of the binaries: the code lives in dist/ (built by `npm ci` / `npm run build`).
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
  cli.main(process.argv.slice(2)).catch((err) => {
    process.stderr.write(`${name}: ${err && err.stack ? err.stack : err}\n`);
    process.exit(1);
  });
};
