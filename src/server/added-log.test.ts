/** The workload's batch logging: every batch at debug, one info summary per interval. */
import { AddedOperationsLog } from "./added-log";
import type { Logger } from "../telemetry";

function recorder(): { logger: Logger; lines: Array<{ level: string; msg: string; obj: Record<string, unknown> }> } {
  const lines: Array<{ level: string; msg: string; obj: Record<string, unknown> }> = [];
  const at = (level: string) => (obj: Record<string, unknown>, msg: string) => lines.push({ level, msg, obj });
  return { logger: { debug: at("debug"), info: at("info") } as unknown as Logger, lines };
}

test("each batch is logged at debug; an info summary covers the batches of each interval", () => {
  const { logger, lines } = recorder();
  let now = 1_000;
  const log = new AddedOperationsLog(logger, 10_000, () => now);
  for (let i = 1; i <= 5; i++) {
    now += 1_000;
    log.batch(6, BigInt(100 + 6 * i), new Uint8Array(32).fill(i));
  }
  expect(lines.map((l) => l.level)).toEqual(["debug", "debug", "debug", "debug", "debug"]);
  expect(lines[4]!.obj).toMatchObject({ operations_added: 6, op_count: "130" });
  now += 6_000; // 11 s after the start: this batch closes the first interval
  log.batch(6, 136n, new Uint8Array(32).fill(9));
  const summary = lines.filter((l) => l.level === "info");
  expect(summary).toHaveLength(1);
  expect(summary[0]!.msg).toBe("added operations summary");
  expect(summary[0]!.obj).toMatchObject({ batches: 6, operations_added: 36, seconds: 11, op_count: "136", root: "09".repeat(32) });
  now += 2_000;
  log.batch(6, 142n, new Uint8Array(32));
  expect(lines.filter((l) => l.level === "info")).toHaveLength(1); // the next summary waits for its interval
});
