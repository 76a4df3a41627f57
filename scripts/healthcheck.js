#!/usr/bin/env node
// Container HEALTHCHECK: exits 0 iff grpc.health.v1.Health/Check for service "" answers SERVING.
//
//   node scripts/healthcheck.js            # checks 127.0.0.1:<port>
//
// The port is, in order: $HEALTH_PORT; the -p/--port flag of the server running as PID 1 (so
// `docker run sync-server --port 9000` stays healthy without extra settings); 8080. $HEALTH_HOST
// overrides 127.0.0.1 and $HEALTH_TIMEOUT_MS the 3000 ms deadline. Prints one line and exits 1 on
// any other status, error or timeout. Plain Node (no build step), using grpc-health-check's
// exported service definition and @grpc/grpc-js.
"use strict";
const { readFileSync } = require("node:fs");
const grpc = require("@grpc/grpc-js");
const { service: healthService } = require("grpc-health-check");

function serverPort() {
  if (process.env.HEALTH_PORT) return process.env.HEALTH_PORT;
  try {
    const argv = readFileSync("/proc/1/cmdline", "utf8").split("\0");
    let port;
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i];
      if (a === "-p" || a === "--port") port = argv[i + 1];
      else if (a.startsWith("--port=")) port = a.slice("--port=".length);
      else if (/^-p\d+$/.test(a)) port = a.slice(2);
    }
    if (port !== undefined && /^\d+$/.test(port) && Number(port) > 0) return port;
  } catch {
    // not in a container, or /proc unavailable: use the default
  }
  return "8080";
}

const target = `${process.env.HEALTH_HOST || "127.0.0.1"}:${serverPort()}`;
const timeoutMs = Number(process.env.HEALTH_TIMEOUT_MS || 3000);
const HealthClient = grpc.makeGenericClientConstructor(healthService, "Health");
const client = new HealthClient(target, grpc.credentials.createInsecure());

client.Check({ service: "" }, { deadline: Date.now() + timeoutMs }, (err, res) => {
  client.close();
  if (err) {
    console.error(`unhealthy: ${target}: ${err.message}`);
    process.exit(1);
  }
  if (res.status !== "SERVING") {
    console.error(`unhealthy: ${target}: status ${res.status}`);
    process.exit(1);
  }
  console.log(`healthy: ${target}: SERVING`);
  process.exit(0);
});
