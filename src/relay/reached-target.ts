/**
 * The last target a relay fully reached, with the signature it came with, recorded in its
 * storage directory (`relay-target.json`, written atomically after the log is committed), so a
 * relay restarted on its directory serves it again at once and resumes from there.
 */
import { rmSync } from "node:fs";
import path from "node:path";
import { toHex } from "../codec";
import { bigintField, hexField, readStateFile, stringField, writeStateFile } from "../journal";
import type { DbKindName } from "../qmdb";
import { type SyncTarget, checkTarget } from "../sync";

const FILE = "relay-target.json";

/** A reached target as served: the upstream's target and its signature (empty when unsigned). */
export interface ReachedTarget {
  readonly target: SyncTarget;
  readonly signature: Uint8Array;
  readonly signer: Uint8Array;
}

/** The recorded target of a relay of `kind` in `dir`, if any (a record of another kind is ignored). */
export function readReachedTarget(dir: string, kind: DbKindName): ReachedTarget | undefined {
  const saved = readStateFile(path.join(dir, FILE), parseStored);
  return saved === undefined || saved.kind !== kind ? undefined : saved.reached;
}

/** Records `reached` durably (temporary file, fsync, rename, fsync of the directory). */
export function writeReachedTarget(dir: string, kind: DbKindName, reached: ReachedTarget): void {
  const t = reached.target;
  writeStateFile(path.join(dir, FILE), {
    kind,
    root: toHex(t.root),
    lowerBound: t.lowerBound.toString(),
    upperBound: t.upperBound.toString(),
    signature: toHex(reached.signature),
    signer: toHex(reached.signer),
  });
}

/** Forgets the recorded target (its data is gone). */
export function clearReachedTarget(dir: string): void {
  rmSync(path.join(dir, FILE), { force: true });
}

function parseStored(record: unknown): { kind: string; reached: ReachedTarget } {
  const target = { root: hexField(record, "root", 32), lowerBound: bigintField(record, "lowerBound"), upperBound: bigintField(record, "upperBound") };
  checkTarget(target);
  return { kind: stringField(record, "kind"), reached: { target, signature: hexField(record, "signature"), signer: hexField(record, "signer") } };
}
