/** Relay mode: serve a verified copy of an upstream sync server (see `relay-source.ts`). */
export { RelaySource, relaySource, type RelayOptions } from "./relay-source";
export { RelayMetrics } from "./metrics";
