/**
 * The one SHA-256 entry point of the code base. Every hash in the hot path (MMR leaves, nodes,
 * roots) goes through `sha256`, so the implementation can be swapped after measurement; see the
 * `hash` section of BENCHMARKS.md for the figures behind the current choice.
 */
import * as crypto from "node:crypto";

/** Size of a SHA-256 digest in bytes. */
export const DIGEST_BYTES = 32;

// `crypto.hash` (Node ≥ 20.12) is a one-shot that skips creating a Hash object: measured faster
// than `createHash` on 40–104-byte inputs (BENCHMARKS.md, `hash`).
const oneShot = (crypto as unknown as { hash?: (alg: string, data: Uint8Array, enc: "buffer") => Buffer }).hash;

/** SHA-256 of `data`, as a fresh 32-byte buffer. */
export const sha256: (data: Uint8Array) => Uint8Array =
  oneShot !== undefined
    ? (data) => oneShot("sha256", data, "buffer")
    : (data) => crypto.createHash("sha256").update(data).digest();
