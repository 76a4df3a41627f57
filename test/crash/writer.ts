/**
 * Crash writer: a child process that drives a database until it is SIGKILLed.
 * Usage: `node dist/test/crash/writer.js <any|immutable> <dir> <seed>`.
 * Prints `opened <opCount> <rootHex>` once recovery is done, then for each step of the workload
 * (workload.ts) applies the batch, commits, and — only after the commit resolved — prints
 * `committed <step> <opCount> <rootHex>`, then maybe syncs and prunes. Lines are written with
 * `writeSync` on fd 1, so a printed line is in the pipe before the next step starts; a commit whose
 * line is missing may or may not have reached the disk.
 */
import { writeSync } from "node:fs";
import { AnyDb } from "../../src/qmdb/any";
import { ImmutableDb } from "../../src/qmdb/immutable";
import { DB_OPTIONS, type Kind, step } from "./workload";
import { toHex as hex } from "../../src/codec";

function emit(line: string): void {
  const bytes = Buffer.from(`${line}\n`);
  let off = 0;
  while (off < bytes.length) {
    try {
      off += writeSync(1, bytes, off);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EAGAIN") throw err;
    }
  }
}

async function main(): Promise<void> {
  const [kind, dir, seedArg] = process.argv.slice(2);
  if ((kind !== "any" && kind !== "immutable") || dir === undefined || seedArg === undefined || !/^\d+$/.test(seedArg)) {
    throw new Error("usage: writer.js <any|immutable> <dir> <seed>");
  }
  const seed = Number(seedArg);
  const db = kind === "any" ? await AnyDb.open(dir, DB_OPTIONS) : await ImmutableDb.open(dir, DB_OPTIONS);
  emit(`opened ${db.opCount} ${hex(db.root())}`);
  for (let i = 0; ; i++) {
    const s = step(kind as Kind, seed, i);
    for (const op of s.ops) {
      if (op.type === "set") (db as ImmutableDb).set(op.key, op.value);
      else if (op.type === "update") (db as AnyDb).update(op.key, op.value);
      else (db as AnyDb).delete(op.key);
    }
    await db.commit(s.metadata);
    emit(`committed ${i} ${db.opCount} ${hex(db.root())}`);
    if (s.sync) await db.sync();
    if (s.prune) {
      if (db instanceof AnyDb) {
        await db.prune(db.inactivityFloorLoc);
      } else {
        const at = db.opCount - 1n - BigInt(s.pruneLag);
        await db.prune(at > 0n ? at : 0n);
      }
    }
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`writer failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
