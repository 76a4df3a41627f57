/** Shared test helpers: reference vectors and the stability-test element sequence. */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";

/** The 200 commonware stability roots (roots[i] = root of the MMR holding elements 0..i-1). */
export const MMR_ROOTS: readonly string[] = JSON.parse(readFileSync(path.join(__dirname, "..", "vectors", "mmr-roots.json"), "utf8")).roots;

/** SHA-256 via createHash: an implementation independent of the code under test's one-shot. */
export function refSha256(...parts: Uint8Array[]): Uint8Array {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest();
}

/** 8-byte big-endian encoding of a u64. */
export function be64(x: bigint | number): Uint8Array {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(x));
  return b;
}

/** The stability-test element i: SHA-256(be64(i)). */
export function element(i: number): Uint8Array {
  return refSha256(be64(i));
}

export { toHex as hex } from "../../src/codec";
export const unhex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, "hex"));
