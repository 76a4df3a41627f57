/**
 * Benchmark runner: `npm run bench [-- name... [--option value]]` runs every suite in `SUITES` but
 * the long `soak` (or the named ones)
 * and rewrites BENCHMARKS.md with each suite's markdown section and the command that produced it.
 * Suites report ratios measured within one run; absolute figures on shared machines are noisy.
 */
import { writeFileSync, readFileSync, existsSync } from "node:fs";
import { cpus } from "node:os";
import path from "node:path";
import fanout from "./fanout.bench";
import hash from "./hash.bench";
import initialLoad from "./initial-load.bench";
import storage from "./storage.bench";
import soak from "./soak.bench";
import sync from "./sync.bench";
import watch from "./watch.bench";

/** A benchmark suite: returns the body of its markdown section (tables, `###` subheadings; no `##` heading). */
export type BenchSuite = () => Promise<string>;

// `soak` (10 minutes) runs only when named.
const SUITES: Record<string, BenchSuite> = { hash, storage, sync, "initial-load": initialLoad, fanout, watch, soak };
const ON_REQUEST = new Set(["soak"]);

const OUT = path.join(__dirname, "..", "..", "BENCHMARKS.md");

function sections(markdown: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of markdown.split(/^(?=## )/m)) {
    const m = /^## (\S+)/.exec(part);
    if (m) out.set(m[1], part.trimEnd());
  }
  return out;
}

/** Suite names and `--option value` pairs (read by the suites that take them, e.g. `soak --duration 60s`). */
function commandLine(args: readonly string[]): { names: string[]; options: string } {
  const names: string[] = [];
  const options: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i]!.startsWith("--")) options.push(args[i]!, args[++i] ?? "");
    else names.push(args[i]!);
  }
  return { names, options: options.length > 0 ? ` ${options.join(" ")}` : "" };
}

async function main(): Promise<void> {
  const { names: wanted, options } = commandLine(process.argv.slice(2));
  const names = wanted.length > 0 ? wanted : Object.keys(SUITES).filter((n) => !ON_REQUEST.has(n));
  const unknown = names.filter((n) => !(n in SUITES));
  if (unknown.length > 0) throw new Error(`unknown suite(s): ${unknown.join(", ")}; known: ${Object.keys(SUITES).join(", ")}`);
  // Keep sections of suites not run this time; replace the ones that ran.
  const kept = existsSync(OUT) ? sections(readFileSync(OUT, "utf8")) : new Map<string, string>();
  const machine = `Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? "unknown CPU"}`;
  for (const name of names) {
    console.error(`running ${name}…`);
    const suite = SUITES[name]!;
    const body = await suite();
    const cmd = `npm run bench -- ${name}${options}`;
    kept.set(name, `## ${name}\n\nCommand: \`${cmd}\` (${new Date().toISOString().slice(0, 10)}, ${machine})\n\n${body.trim()}`);
    console.error(body);
  }
  const header =
    "# Benchmarks\n\nProduced by `npm run bench` (all suites) or `npm run bench -- <suite>`. " +
    "Compare ratios within one section; absolute numbers on shared 2-core machines are noisy.\n";
  writeFileSync(OUT, [header, ...kept.values()].join("\n\n") + "\n");
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
