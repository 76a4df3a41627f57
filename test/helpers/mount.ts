/**
 * Whether this process can mount a tmpfs (root, and not in a container that forbids it): the
 * disk-full and read-only file system tests need one. Probed once by mounting a tiny one.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmdirSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

let probed: boolean | undefined;

/** True when `mount -t tmpfs` works here. */
export function canMountTmpfs(): boolean {
  if (probed !== undefined) return probed;
  probed = false;
  if (process.getuid?.() !== 0) return probed;
  const dir = mkdtempSync(path.join(tmpdir(), "cw-mount-probe-"));
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", dir], { stdio: "ignore" });
    execFileSync("umount", [dir], { stdio: "ignore" });
    probed = true;
  } catch {
    probed = false;
  } finally {
    rmdirSync(dir);
  }
  return probed;
}
