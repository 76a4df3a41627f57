/**
 * Stop signals: the first stops, a repeat within a second (the terminal's SIGINT delivered again by
 * npm) is ignored, a later one forces.
 */
import { REPEAT_IGNORED_MS, onStopSignals } from "./signals";

test("a repeat within REPEAT_IGNORED_MS is ignored; one after it forces", () => {
  let now = 1_000_000;
  const clock = jest.spyOn(Date, "now").mockImplementation(() => now);
  const stops: string[] = [];
  const forces: string[] = [];
  const remove = onStopSignals(
    (s) => stops.push(s),
    (s) => forces.push(s),
  );
  try {
    process.emit("SIGINT", "SIGINT");
    now += 5;
    process.emit("SIGINT", "SIGINT"); // the same Ctrl-C, forwarded by npm
    now += REPEAT_IGNORED_MS - 10;
    process.emit("SIGTERM", "SIGTERM");
    expect(stops).toEqual(["SIGINT"]);
    expect(forces).toEqual([]);
    now += 10;
    process.emit("SIGTERM", "SIGTERM");
    expect(forces).toEqual(["SIGTERM"]);
    expect(stops).toEqual(["SIGINT"]);
  } finally {
    remove();
    clock.mockRestore();
  }
  expect(process.listenerCount("SIGINT")).toBe(0);
});
