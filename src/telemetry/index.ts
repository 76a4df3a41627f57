/** Logging and metrics plumbing shared by the server and the client. */
export { createLogger, hex, type LogSink, type Logger, type LoggerOptions } from "./logger";
export { serveMetrics, type MetricsServer } from "./metrics-http";
