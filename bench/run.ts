/**
 * Benchmark runner: `npm run bench [-- name...]` runs every suite in `SUITES` (or the named ones)
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
import sync from "./sync.bench";
import watch from "./watch.bench";

/** A benchmark suite: returns the body of its markdown section (tables, `###` subheadings; no `##` heading). */
export type BenchSuite = () => Promise<string>;

const SUITES: Record<string, BenchSuite> = { hash, storage, sync, "initial-load": initialLoad, fanout, watch };

const OUT = path.join(__dirname, "..", "..", "BENCHMARKS.md");

function sections(markdown: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of markdown.split(/^(?=## )/m)) {
    const m = /^## (\S+)/.exec(part);
    if (m) out.set(m[1], part.trimEnd());
  }
  return out;
}

async function main(): Promise<void> {
  const wanted = process.argv.slice(2);
  const names = wanted.length > 0 ? wanted : Object.keys(SUITES);
  const unknown = names.filter((n) => !(n in SUITES));
  if (unknown.length > 0) throw new Error(`unknown suite(s): ${unknown.join(", ")}; known: ${Object.keys(SUITES).join(", ")}`);
  // Keep sections of suites not run this time; replace the ones that ran.
  const kept = existsSync(OUT) ? sections(readFileSync(OUT, "utf8")) : new Map<string, string>();
  const machine = `Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? "unknown CPU"}`;
  for (const name of names) {
    console.error(`running ${name}…`);
    const suite = SUITES[name]!;
    const body = await suite();
    const cmd = `npm run bench -- ${name}`;
    kept.set(name, `## ${name}\n\nCommand: \`${cmd}\` (${new Date().toISOString().slice(0, 10)}, ${machine})\n\n${body.trim()}`);
    console.error(body);
  }
  const header = "# Benchmarks\n\nProduced by `npm run bench` (all suites) or `npm run bench -- <suite>`. " +
    "Compare ratios within one section; absolute numbers on shared 2-core machines are noisy.\n";
  writeFileSync(OUT, [header, ...kept.values()].join("\n\n") + "\n");
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
