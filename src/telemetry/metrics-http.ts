/**
 * A minimal HTTP endpoint that serves a Prometheus registry at `/metrics` (anything else is 404).
 * Used by both binaries; binds where it is told (127.0.0.1 by default in the CLIs).
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";

/** A running metrics endpoint. */
export interface MetricsServer {
  /** The port actually bound (useful when asked for port 0). */
  readonly port: number;
  close(): Promise<void>;
}

/** Serves `registry` on `host:port`. */
export async function serveMetrics(registry: Registry, host: string, port: number): Promise<MetricsServer> {
  const server = http.createServer((req, res) => {
    if (req.method !== "GET" || (req.url ?? "").split("?")[0] !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found: metrics are at /metrics\n");
      return;
    }
    registry.metrics().then(
      (body) => res.writeHead(200, { "content-type": registry.contentType }).end(body),
      (err: unknown) => res.writeHead(500, { "content-type": "text/plain" }).end(`failed to collect metrics: ${String(err)}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
