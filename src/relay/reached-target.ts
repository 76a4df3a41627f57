/**
 * The last target a relay fully reached, with the signature it came with, recorded in its
 * storage directory (`relay-target.json`, written atomically after the log is committed), so a
 * relay restarted on its directory serves it again at once and resumes from there.
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { toHex } from "../codec";
import type { DbKindName } from "../qmdb";
import type { SyncTarget } from "../sync";

const FILE = "relay-target.json";

/** A reached target as served: the upstream's target and its signature (empty when unsigned). */
export interface ReachedTarget {
  readonly target: SyncTarget;
  readonly signature: Uint8Array;
  readonly signer: Uint8Array;
}

interface Stored {
  readonly kind: DbKindName;
  readonly root: string;
  readonly lowerBound: string;
  readonly upperBound: string;
  readonly signature: string;
  readonly signer: string;
}

/** The recorded target of a relay of `kind` in `dir`, if any (a record of another kind is ignored). */
export function readReachedTarget(dir: string, kind: DbKindName): ReachedTarget | undefined {
  const file = path.join(dir, FILE);
  if (!existsSync(file)) return undefined;
  const s = JSON.parse(readFileSync(file, "utf8")) as Stored;
  if (s.kind !== kind) return undefined;
  return {
    target: { root: Uint8Array.from(Buffer.from(s.root, "hex")), lowerBound: BigInt(s.lowerBound), upperBound: BigInt(s.upperBound) },
    signature: Uint8Array.from(Buffer.from(s.signature, "hex")),
    signer: Uint8Array.from(Buffer.from(s.signer, "hex")),
  };
}

/** Records `reached` durably (temporary file, fsync, rename, fsync of the directory). */
export function writeReachedTarget(dir: string, kind: DbKindName, reached: ReachedTarget): void {
  const file = path.join(dir, FILE);
  const tmp = `${file}.tmp`;
  const t = reached.target;
  const stored: Stored = {
    kind,
    root: toHex(t.root),
    lowerBound: t.lowerBound.toString(),
    upperBound: t.upperBound.toString(),
    signature: toHex(reached.signature),
    signer: toHex(reached.signer),
  };
  writeFileSync(tmp, JSON.stringify(stored));
  const fd = openSync(tmp, "r+");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  const dirFd = openSync(dir, "r");
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}

/** Forgets the recorded target (its data is gone). */
export function clearReachedTarget(dir: string): void {
  rmSync(path.join(dir, FILE), { force: true });
}
