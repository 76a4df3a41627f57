/**
 * This process's own peak resident set size. `process.resourceUsage().maxRSS` is not it on Linux:
 * a process started by a large parent reports the parent's peak (the kernel carries it across
 * fork and exec), so a benchmark that built a big database would inflate every child's figure.
 * `VmHWM` in /proc/self/status is the peak of this process's own memory.
 */
import { readFileSync } from "node:fs";

/** Peak RSS in bytes: `VmHWM` where /proc exists, else `maxRSS`. */
export function peakRssBytes(): number {
  try {
    const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync("/proc/self/status", "utf8"));
    if (m !== null) return Number(m[1]) * 1024;
  } catch {
    // no /proc: fall back below
  }
  return process.resourceUsage().maxRSS * 1024;
}
