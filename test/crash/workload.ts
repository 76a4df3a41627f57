/**
 * The crash writer's workload, shared by `writer.ts` (which runs it against a real database until it
 * is killed) and `crash.test.ts` (which regenerates it in-process to replay it on a model). Step `i`
 * of seed `s` is a pure function of `(kind, s, i)`: it never depends on the database's state, so the
 * test can recompute exactly what the writer did without talking to it.
 */
import { createHash } from "node:crypto";

/** Which database the writer drives. */
export type Kind = "any" | "immutable";

/** Tiny blobs so that blob boundaries (rolls, tail repair, pruning) are crossed all the time. */
export const DB_OPTIONS = { logItemsPerBlob: 7, mmrItemsPerBlob: 11 } as const;

/** `any` keys come from a small space, so batches overwrite and delete existing keys. */
export const ANY_KEY_SPACE = 24;

/** One operation of a batch. */
export type WorkOp =
  | { readonly type: "update"; readonly key: Uint8Array; readonly value: Uint8Array }
  | { readonly type: "delete"; readonly key: Uint8Array }
  | { readonly type: "set"; readonly key: Uint8Array; readonly value: Uint8Array };

/** One writer step: apply `ops`, `commit(metadata)`, then maybe `sync()` and maybe `prune(...)`. */
export interface Step {
  readonly ops: readonly WorkOp[];
  readonly metadata: Uint8Array | undefined;
  readonly sync: boolean;
  /**
   * Prune after the commit: `any` prunes at its inactivity floor; `immutable` prunes at
   * `lastCommitLoc − pruneLag` (clamped at 0).
   */
  readonly prune: boolean;
  readonly pruneLag: number;
}

function sha256(...parts: (Uint8Array | string)[]): Uint8Array {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

function u32(x: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, x >>> 0);
  return b;
}

/** sfc32: a small, fast, well-mixed PRNG; seeded from a digest so each step has its own stream. */
export function prng(seedBytes: Uint8Array): () => number {
  const v = new DataView(seedBytes.buffer, seedBytes.byteOffset, 16);
  let a = v.getUint32(0);
  let b = v.getUint32(4);
  let c = v.getUint32(8);
  let d = v.getUint32(12);
  const next = (): number => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 2 ** 32;
  };
  for (let i = 0; i < 12; i++) next();
  return next;
}

/** Random integer in `[lo, hi]`. */
export function between(rand: () => number, lo: number, hi: number): number {
  return lo + Math.floor(rand() * (hi - lo + 1));
}

/** `any` key `i` of the shared key space. */
export function anyKey(i: number): Uint8Array {
  return sha256("crash-any-key", u32(i));
}

/** Step `index` of the workload `(kind, seed)`. */
export function step(kind: Kind, seed: number, index: number): Step {
  const rand = prng(sha256("crash-step", kind, u32(seed), u32(index)));
  const count = between(rand, 1, 12);
  const ops: WorkOp[] = [];
  for (let i = 0; i < count; i++) {
    const value = sha256("crash-value", u32(seed), u32(index), u32(i));
    if (kind === "immutable") {
      // Fresh keys: seeds differ between runs and (index, i) within one.
      ops.push({ type: "set", key: sha256("crash-imm-key", u32(seed), u32(index), u32(i)), value });
    } else if (rand() < 0.2) {
      ops.push({ type: "delete", key: anyKey(between(rand, 0, ANY_KEY_SPACE - 1)) });
    } else {
      ops.push({ type: "update", key: anyKey(between(rand, 0, ANY_KEY_SPACE - 1)), value });
    }
  }
  const metadata = rand() < 0.25 ? sha256("crash-meta", u32(seed), u32(index)) : undefined;
  const sync = rand() < 0.2;
  const prune = rand() < (kind === "any" ? 0.2 : 0.1);
  const pruneLag = between(rand, 0, 20);
  return { ops, metadata, sync, prune, pruneLag };
}
