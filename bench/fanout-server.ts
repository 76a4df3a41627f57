/**
 * Child process of the fanout benchmark: the `sync-server` CLI (same code as the binary) plus an
 * event-loop delay monitor (`perf_hooks.monitorEventLoopDelay`). SIGUSR2 resets the monitor (the
 * benchmark sends it when the clients start); at exit one JSON line `{"msg":"bench stats",...}`
 * reports the delay percentiles, the peak RSS, the process's CPU time and the main thread's
 * utilization (`performance.eventLoopUtilization`) during the round.
 */
import { writeSync } from "node:fs";
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import { main } from "../src/cli/server";
import { peakRssBytes } from "./peak-rss";

const delay = monitorEventLoopDelay({ resolution: 5 });
delay.enable();
let cpuFrom = process.cpuUsage();
let eluFrom = performance.eventLoopUtilization();
process.on("SIGUSR2", () => {
  delay.reset();
  cpuFrom = process.cpuUsage();
  eluFrom = performance.eventLoopUtilization();
});
process.on("exit", () => {
  const ms = (ns: number): number => ns / 1e6;
  const stats = {
    msg: "bench stats",
    loopDelayP50Ms: ms(delay.percentile(50)),
    loopDelayP99Ms: ms(delay.percentile(99)),
    loopDelayMaxMs: ms(delay.max),
    maxRssBytes: peakRssBytes(),
    // CPU of the whole process (all threads) and the main thread's busy share, since SIGUSR2.
    cpuMs: ((c) => (c.user + c.system) / 1000)(process.cpuUsage(cpuFrom)),
    mainThreadUtilization: performance.eventLoopUtilization(eluFrom).utilization,
  };
  writeSync(1, `${JSON.stringify(stats)}\n`);
});
main(process.argv.slice(2)).catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
