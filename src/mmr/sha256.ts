/**
 * The one SHA-256 entry point of the code base. The hot path (MMR leaves and nodes: 40–104-byte
 * inputs) runs hash-wasm's SHA-256 WebAssembly module through its C ABI, hashing in the module's
 * memory and copying the digest where the caller wants it: 1.5–3.5× faster than `crypto.hash` on
 * these shapes and no allocation per hash (BENCHMARKS.md, `hash`). The module is loaded from the
 * exact hash-wasm version in the lockfile and self-tested against `node:crypto` on load; if
 * anything is off, `crypto.hash` is used instead (`SHA256_IMPLEMENTATION` says which).
 */
import * as crypto from "node:crypto";
import { readFileSync } from "node:fs";

/** Size of a SHA-256 digest in bytes. */
export const DIGEST_BYTES = 32;

// `crypto.hash` (Node ≥ 20.12) is a one-shot that skips creating a Hash object.
const oneShot = (crypto as unknown as { hash?: (alg: string, data: Uint8Array, enc: "buffer") => Buffer }).hash;
const nodeSha256: (data: Uint8Array) => Uint8Array =
  oneShot !== undefined ? (data) => oneShot("sha256", data, "buffer") : (data) => crypto.createHash("sha256").update(data).digest();

/** The hash-wasm sha256 module's exports we use (its `src/sha256.c`, hash-wasm 4.13.0). */
interface Sha256Exports {
  readonly memory: { readonly buffer: ArrayBuffer };
  Hash_GetBuffer(): number;
  Hash_Calculate(length: number, bits: number): void;
}

/** Largest input the wasm path takes at once (its I/O buffer is 16 KiB); longer inputs use node. */
const WASM_MAX_INPUT = 16 * 1024;

interface WasmSha256 {
  /** The module's I/O buffer: write the input at 0, read the digest from 0. */
  readonly io: Uint8Array;
  readonly calculate: (length: number) => void;
}

function loadWasm(): WasmSha256 | undefined {
  try {
    const bundle = readFileSync(require.resolve("hash-wasm"), "utf8");
    const m = /var name(\$\w+) = "sha256";\s*var data\1 = "([A-Za-z0-9+/=]+)";/.exec(bundle);
    if (m === null) return undefined;
    const wasm = (
      globalThis as unknown as { WebAssembly: { Module: new (b: Uint8Array) => unknown; Instance: new (m: unknown, i: object) => { exports: unknown } } }
    ).WebAssembly;
    const exports = new wasm.Instance(new wasm.Module(Buffer.from(m[2]!, "base64")), {}).exports as Sha256Exports;
    const io = new Uint8Array(exports.memory.buffer, exports.Hash_GetBuffer(), WASM_MAX_INPUT);
    const candidate: WasmSha256 = { io, calculate: (length) => exports.Hash_Calculate(length, 256) };
    // Self-test on every block-boundary case before trusting it.
    const sample = new Uint8Array(300).map((_, i) => (i * 37 + 11) & 0xff);
    for (const n of [0, 1, 8, 40, 55, 56, 63, 64, 65, 72, 73, 104, 119, 120, 128, 300]) {
      const input = sample.subarray(0, n);
      candidate.io.set(input);
      candidate.calculate(n);
      const expected = nodeSha256(input);
      for (let i = 0; i < DIGEST_BYTES; i++) if (candidate.io[i] !== expected[i]) return undefined;
    }
    return candidate;
  } catch {
    return undefined;
  }
}

const wasm = loadWasm();

/** Which SHA-256 implementation the hot path uses. */
export const SHA256_IMPLEMENTATION: "hash-wasm" | "node:crypto" = wasm === undefined ? "node:crypto" : "hash-wasm";

const DIGEST_VIEW = wasm?.io.subarray(0, DIGEST_BYTES);
let scratch = new Uint8Array(256);

/**
 * A buffer of at least `length` bytes to write a hash input into (the wasm module's own memory
 * when possible, so the input is never copied), for `hashInputInto`. Valid until the next call.
 */
export function inputBuffer(length: number): Uint8Array {
  if (wasm !== undefined && length <= WASM_MAX_INPUT) return wasm.io;
  if (scratch.length < length) scratch = new Uint8Array(Math.max(length, 2 * scratch.length));
  return scratch;
}

/** Hashes the first `length` bytes of the last `inputBuffer` into `out[offset .. offset + 32)`. */
export function hashInputInto(length: number, out: Uint8Array, offset: number): void {
  if (wasm !== undefined && length <= WASM_MAX_INPUT) {
    wasm.calculate(length);
    out.set(DIGEST_VIEW!, offset);
    return;
  }
  out.set(nodeSha256(scratch.subarray(0, length)), offset);
}

/** Writes SHA-256 of `data` into `out[offset .. offset + 32)`. */
export function sha256Into(data: Uint8Array, out: Uint8Array, offset: number): void {
  inputBuffer(data.length).set(data);
  hashInputInto(data.length, out, offset);
}

/** SHA-256 of `data`, as a fresh 32-byte array. */
export function sha256(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(DIGEST_BYTES);
  sha256Into(data, out, 0);
  return out;
}
