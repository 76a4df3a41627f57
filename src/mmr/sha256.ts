/**
 * The one SHA-256 entry point of the code base, single-shot and batched.
 *
 * Single hashes (MMR leaves and nodes: 40–104-byte inputs) run hash-wasm's SHA-256 WebAssembly
 * module through its C ABI, hashing in the module's memory and copying the digest where the caller
 * wants it: 1.5–3.5× faster than `crypto.hash` on these shapes and no allocation per hash
 * (BENCHMARKS.md, `hash`). The module is loaded from the exact hash-wasm version in the lockfile
 * and self-tested against `node:crypto` on load; if anything is off, `crypto.hash` is used instead
 * (`SHA256_IMPLEMENTATION` says which).
 *
 * Batches (`sha256Many`, `sha256Nodes`: a verified batch's leaves, one MMR height's nodes) go to
 * the native addon `native/sha256_batch.c` when it was built (`npm ci` runs
 * native/build.js): one call hashes all messages with Node's own OpenSSL (SHA-NI where the
 * CPU has it), so the cost of crossing into the hash is paid once per batch. It is self-tested
 * against `node:crypto` on load; without it (not built, fails to load or to agree, or
 * `SHA256_NATIVE=off`), batches loop over the single-shot path (`SHA256_BATCH_IMPLEMENTATION` says
 * which; `NODE_DEBUG=sha256` logs why).
 */
import * as crypto from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { debuglog } from "node:util";

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

/** The native addon's exports (`native/sha256_batch.c`); both validate every argument and throw on bad ones. */
interface NativeSha256 {
  hashMany(input: Uint8Array, offsets: Uint32Array, out: Uint8Array): void;
  hashNodes(digests: Uint8Array, slots: Uint32Array, height: number, base: bigint): void;
}

const debug = debuglog("sha256");

/** The addon as node-gyp builds it, from this file in `src/mmr/` or its compiled copy in `dist/src/mmr/`. */
function nativePath(): string | undefined {
  for (const up of [
    ["..", ".."],
    ["..", "..", ".."],
  ]) {
    const p = path.join(__dirname, ...up, "native", "build", "Release", "sha256_batch.node");
    if (existsSync(p)) return p;
  }
  return undefined;
}

/** Loads the addon and checks it against `node:crypto` on every length 0..200 in one batch, and on two nodes. */
function loadNative(): NativeSha256 | undefined {
  if (process.env.SHA256_NATIVE === "off") {
    debug("native batched SHA-256 disabled (SHA256_NATIVE=off); batches use %s", SHA256_IMPLEMENTATION);
    return undefined;
  }
  const file = nativePath();
  if (file === undefined) {
    debug("native batched SHA-256 not built (run `npm ci` or native/build.js); batches use %s", SHA256_IMPLEMENTATION);
    return undefined;
  }
  try {
    const addon = { exports: {} };
    process.dlopen(addon, file);
    const candidate = addon.exports as NativeSha256;
    const sample = new Uint8Array(201 * 100).map((_, i) => (i * 53 + 5) & 0xff);
    const offsets = new Uint32Array(202);
    for (let n = 0; n <= 200; n++) offsets[n + 1] = offsets[n]! + n;
    const many = new Uint8Array(201 * DIGEST_BYTES);
    candidate.hashMany(sample, offsets, many);
    // Two nodes of height 1 at positions 2^40 + 2 and 2^40 + 5 over slots 0..5 of `many`.
    const nodes = many.slice(0, 6 * DIGEST_BYTES);
    candidate.hashNodes(nodes, Uint32Array.of(2, 5), 1, 1n << 40n);
    for (let n = 0; n <= 200; n++) {
      if (!sameDigest(many, n * DIGEST_BYTES, nodeSha256(sample.subarray(offsets[n]!, offsets[n + 1]!)))) throw new Error(`hashMany differs at ${n} B`);
    }
    for (const r of [2, 5]) {
      const input = new Uint8Array(72);
      new DataView(input.buffer).setBigUint64(0, (1n << 40n) + BigInt(r));
      input.set(many.subarray((r - 2) * DIGEST_BYTES, (r - 1) * DIGEST_BYTES), 8);
      input.set(many.subarray((r - 1) * DIGEST_BYTES, r * DIGEST_BYTES), 8 + DIGEST_BYTES);
      if (!sameDigest(nodes, r * DIGEST_BYTES, nodeSha256(input))) throw new Error(`hashNodes differs at slot ${r}`);
    }
    debug("native batched SHA-256 loaded from %s", file);
    return candidate;
  } catch (err) {
    debug("native batched SHA-256 unusable (%s); batches use %s", err instanceof Error ? err.message : String(err), SHA256_IMPLEMENTATION);
    return undefined;
  }
}

function sameDigest(a: Uint8Array, at: number, b: Uint8Array): boolean {
  for (let i = 0; i < DIGEST_BYTES; i++) if (a[at + i] !== b[i]) return false;
  return true;
}

const native = loadNative();

/** Which implementation batched SHA-256 (`sha256Many`, `sha256Nodes`) uses. */
export const SHA256_BATCH_IMPLEMENTATION: "native" | typeof SHA256_IMPLEMENTATION = native === undefined ? SHA256_IMPLEMENTATION : "native";

/**
 * SHA-256 of n messages in one call: message i is `input[offsets[i] .. offsets[i + 1])`, its digest
 * goes to `out[32 i .. 32 i + 32)`. Throws `RangeError` unless `offsets` (n + 1 entries) is
 * non-decreasing and ends within `input`, and `out.length` is 32 n; nothing is written then.
 */
export function sha256Many(input: Uint8Array, offsets: Uint32Array, out: Uint8Array): void {
  if (native !== undefined) {
    native.hashMany(input, offsets, out);
    return;
  }
  const n = offsets.length - 1;
  if (n < 0) throw new RangeError("sha256Many: offsets must hold n + 1 boundaries (at least 1)");
  if (out.length !== n * DIGEST_BYTES) throw new RangeError("sha256Many: out.length must be 32 × (offsets.length − 1)");
  for (let i = 0; i < n; i++) if (offsets[i]! > offsets[i + 1]!) throw new RangeError("sha256Many: offsets must be non-decreasing");
  if (offsets[n]! > input.length) throw new RangeError("sha256Many: offsets run past the end of input");
  for (let i = 0; i < n; i++) sha256Into(input.subarray(offsets[i]!, offsets[i + 1]!), out, i * DIGEST_BYTES);
}

const TWO_32 = 0x1_0000_0000;
const TWO_64 = 1n << 64n;

/**
 * Splits a position into [high 32 bits, low 32 bits]. A `number` must be a safe integer (checked by
 * callers at the storage boundary); positions beyond 2^53 travel as `bigint`.
 */
export function splitPosition(pos: number | bigint): [number, number] {
  return typeof pos === "number" ? [Math.floor(pos / TWO_32), pos >>> 0] : [Number(pos >> 32n), Number(pos & 0xffff_ffffn)];
}

/** Writes hi·2^32 + lo as 8 big-endian bytes at `at`; `lo` may carry one bit past 32 (lo < 2^33). */
export function writePositionAt(buf: Uint8Array, at: number, hi: number, lo: number): void {
  if (lo >= TWO_32) {
    hi += 1;
    lo -= TWO_32;
  }
  buf[at] = hi >>> 24;
  buf[at + 1] = (hi >>> 16) & 0xff;
  buf[at + 2] = (hi >>> 8) & 0xff;
  buf[at + 3] = hi & 0xff;
  buf[at + 4] = lo >>> 24;
  buf[at + 5] = (lo >>> 16) & 0xff;
  buf[at + 6] = (lo >>> 8) & 0xff;
  buf[at + 7] = lo & 0xff;
}

/**
 * MMR internal nodes of one height h, batched, over a flat digest buffer whose slot r (bytes
 * `[32 r, 32 r + 32)`) holds the node at position `base + r`: for each r in `slots`, in order,
 * writes SHA256(be64(base + r) ‖ slot r − 2^h ‖ slot r − 1), i.e. the node from its left and right
 * children, into slot r. Throws `RangeError` (writing nothing) unless h is an integer in [1, 62]
 * and every r has 2^h ≤ r, 32 (r + 1) ≤ `digests.length` and base + r < 2^64.
 */
export function sha256Nodes(digests: Uint8Array, slots: Uint32Array, height: number, base: bigint): void {
  if (native !== undefined) {
    native.hashNodes(digests, slots, height, base);
    return;
  }
  if (!Number.isInteger(height) || height < 1 || height > 62) throw new RangeError("sha256Nodes: height must be an integer in [1, 62]");
  if (base < 0n || base >= TWO_64) throw new RangeError("sha256Nodes: base must be in [0, 2^64)");
  const leftBack = 2 ** height;
  const slotCount = Math.floor(digests.length / DIGEST_BYTES);
  for (const r of slots) {
    if (r < leftBack || r >= slotCount) throw new RangeError("sha256Nodes: a slot or one of its children lies outside digests");
    if (base + BigInt(r) >= TWO_64) throw new RangeError("sha256Nodes: base + slot exceeds 2^64 − 1");
  }
  const [hi, lo] = splitPosition(base);
  const length = 8 + 2 * DIGEST_BYTES;
  for (const r of slots) {
    const buf = inputBuffer(length);
    writePositionAt(buf, 0, hi, lo + r);
    buf.set(digests.subarray((r - leftBack) * DIGEST_BYTES, (r - leftBack + 1) * DIGEST_BYTES), 8);
    buf.set(digests.subarray((r - 1) * DIGEST_BYTES, r * DIGEST_BYTES), 8 + DIGEST_BYTES);
    hashInputInto(length, digests, r * DIGEST_BYTES);
  }
}
