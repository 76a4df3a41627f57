/**
 * The client's progress bar on a real pseudo-terminal (`script` from util-linux/bsdutils): log
 * lines never share a line with the bar, the bar ends at 100 %, and it counts only the operations
 * fetched in that sync (a resumed sync's bar covers what it fetched, not the whole log).
 */
import { execFileSync } from "node:child_process";
import path from "node:path";
import { ROOT, cleanup, requireBuilt, startServer, tempDir } from "./harness";

const CLIENT_BIN = path.join(ROOT, "bin/sync-client.js");

jest.setTimeout(60_000);
afterAll(cleanup);

/** The lines a terminal shows for `output`: carriage returns, erase-line and colours applied. */
function renderTerminal(output: string): string[] {
  const lines: string[] = [];
  let line: string[] = [];
  let col = 0;
  for (let i = 0; i < output.length; i++) {
    const c = output[i]!;
    if (c === "\x1b" && output[i + 1] === "[") {
      let j = i + 2;
      while (j < output.length && !/[@-~]/.test(output[j]!)) j++;
      const params = output.slice(i + 2, j);
      const op = output[j];
      if (op === "K" && params === "2") line = [];
      else if (op === "K") line = line.slice(0, col);
      i = j;
    } else if (c === "\r") {
      col = 0;
    } else if (c === "\n") {
      lines.push(line.join(""));
      line = [];
      col = 0;
    } else {
      while (line.length < col) line.push(" ");
      line[col++] = c;
    }
  }
  if (line.length > 0) lines.push(line.join(""));
  return lines;
}

const BAR = /\[[#.]{30}\]/;
const BAR_LINE = /^\[[#.]{30}\]\s+\d+% \d+\/\d+ ops [\d.]+k? ops\/s ETA (?:[\d.]+s|\?)$/;

/** Runs `sync-client --once` on a pseudo-terminal; returns the rendered screen lines. */
function clientOnTty(addr: string, dir: string): string[] {
  requireBuilt();
  const cmd = [process.execPath, CLIENT_BIN, "-s", addr, "-m", "0", "-d", dir, "--once", "-b", "20", "--log-level", "debug", "--log-format", "pretty"]
    .map((a) => `'${a.replace(/'/g, "'\\''")}'`)
    .join(" ");
  const out = execFileSync("script", ["-qfec", cmd, "/dev/null"], { cwd: ROOT, encoding: "utf8", timeout: 40_000 });
  return renderTerminal(out);
}

function checkScreen(lines: string[]): { fetched: number; finalBar: string } {
  const bars = lines.filter((l) => BAR.test(l));
  // A line with the bar holds the bar only; no log line carries a piece of it.
  for (const l of bars) expect(l).toMatch(BAR_LINE);
  for (const l of lines.filter((x) => !BAR.test(x))) expect(l).not.toMatch(/ops\/s|ETA/);
  const done = lines.find((l) => l.includes("sync completed successfully"));
  expect(done).toBeDefined();
  const fetched = Number(/"operations_fetched":"(\d+)"/.exec(done!)![1]);
  expect(bars.length).toBeGreaterThan(0);
  return { fetched, finalBar: bars[bars.length - 1]! };
}

test("log lines and the bar never share a line; the bar ends at 100 % and counts only fetched operations", async () => {
  const server = await startServer({ db: "any", initialOps: 3000, opInterval: "30ms", opsPerInterval: 5 });
  const dir = tempDir();

  const first = clientOnTty(server.addr, dir);
  const a = checkScreen(first);
  // Debug lines ("requesting operations") were written while the bar was up: they got their own lines.
  expect(first.filter((l) => l.includes("requesting operations")).length).toBeGreaterThan(1);
  expect(a.finalBar).toMatch(new RegExp(` 100% ${a.fetched}/${a.fetched} ops `));

  // The server moved on; the second sync reuses the local log and fetches only the new operations.
  await new Promise((r) => setTimeout(r, 500));
  const second = clientOnTty(server.addr, dir);
  const b = checkScreen(second);
  expect(b.fetched).toBeGreaterThan(0);
  expect(b.fetched).toBeLessThan(a.fetched);
  expect(b.finalBar).toMatch(new RegExp(` 100% ${b.fetched}/${b.fetched} ops `));
  await server.stop();
});
