/**
 * Child process of the fanout benchmark: an idle Node process that only measures its own
 * event-loop delay (`perf_hooks.monitorEventLoopDelay`, as `fanout-server.ts` does) until SIGTERM,
 * then prints `{ loopDelayP99Ms, loopDelayMaxMs }` as JSON. It shows how much of the server's loop
 * delay is the machine's scheduling (other processes holding the cores), not the server's work.
 */
import { monitorEventLoopDelay } from "node:perf_hooks";

const delay = monitorEventLoopDelay({ resolution: 5 });
delay.enable();
setInterval(() => {}, 1 << 30); // stay alive until told to stop
process.on("SIGTERM", () => {
  console.log(JSON.stringify({ loopDelayP99Ms: delay.percentile(99) / 1e6, loopDelayMaxMs: delay.max / 1e6 }));
  process.exit(0);
});
