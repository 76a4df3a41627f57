/**
 * SHA-256 throughput (millions of hashes per second, one thread) on the input shapes the MMR hashes:
 * a 73-byte leaf (u64 pos ‖ 65-byte op), a 72-byte node (pos ‖ left ‖ right), a 104-byte root over 3 peaks
 * (size ‖ 3 × 32) and a 40-byte leaf over a 32-byte element. Every candidate hashes the same reused scratch
 * buffer whose first 8 bytes (big-endian position) change on every call, so nothing can be cached.
 * Rounds are interleaved and the median is reported, so ratios within one run are the meaningful figures.
 * The batched candidate (`sha256Many`, the native addon when built) copies each call's input into a batch buffer and hashes
 * the whole batch (1024 messages) in one call, so its rate is per hash, assembly included.
 * Before timing, all candidates must agree byte-for-byte on every length 0..200 and on SHA256("hello world").
 */
import * as crypto from "node:crypto";
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { sha256 as nobleSha256 } from "@noble/hashes/sha2";
import { createSHA256 } from "hash-wasm";
import { SHA256_BATCH_IMPLEMENTATION, sha256Many } from "../src/mmr/sha256";

/** One input shape: its byte length and what it is in the MMR. */
interface Shape {
  readonly bytes: number;
  readonly what: string;
}

const SHAPES: readonly Shape[] = [
  { bytes: 73, what: "leaf: pos ‖ 65 B op" },
  { bytes: 72, what: "node: pos ‖ left ‖ right" },
  { bytes: 104, what: "root: size ‖ 3 peaks" },
  { bytes: 40, what: "leaf: pos ‖ 32 B elem" },
];

/**
 * Time slice per (candidate, shape, round): 4 shapes × 6 candidates × 3 rounds × 0.4 s = 29 s, plus ~1 s of warm-up,
 * keeps a run under ~35 s. Slices of 1 s would take a minute; 0.4 s is already ~10^5–10^6 calls per slice.
 */
const SLICE_MS = 400;
const WARMUP_MS = 60;
const ROUNDS = 3;
/** Calls between clock reads; small enough that the overshoot past the slice is well under 1 %. */
const BATCH = 1024;

const HELLO_WORLD_SHA256 = "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9";

/**
 * A candidate. `digest` is used for the correctness checks and returns bytes valid until the next call.
 * `run` is the timed loop: each candidate has its own copy of the loop (not a shared loop calling
 * `digest` through a closure), so V8 sees one monomorphic call target per loop and the comparison
 * measures the hash call, not an indirect-call penalty that only the shared loop would pay.
 */
interface Candidate {
  readonly id: string;
  readonly label: string;
  readonly digest: (input: Uint8Array) => Uint8Array;
  /** Hashes `scratch` `n` times, writing position `pos0 + i` into its first 8 bytes; returns a sink value. */
  readonly run: (scratch: Uint8Array, view: DataView, pos0: number, n: number) => number;
}

/** `crypto.hash` is Node ≥ 20.12 (and 21.7); look it up at run time so an older Node fails with a clear message. */
function nodeOneShot(): (algorithm: string, data: Uint8Array, outputEncoding: "buffer") => Buffer {
  const fn = (crypto as Partial<typeof crypto>).hash;
  if (typeof fn !== "function") throw new Error(`crypto.hash is missing (needs Node >= 20.12; this is ${process.version})`);
  return fn;
}

/** WebAssembly exports of hash-wasm's sha256 module (src/sha256.c in hash-wasm 4.13.0). Not a public API. */
interface Sha256WasmExports {
  readonly memory: { readonly buffer: ArrayBuffer };
  Hash_GetBuffer(): number;
  Hash_Calculate(length: number, bits: number): void;
}

/** The `WebAssembly` global, which neither lib ES2022 nor @types/node 20 declares; typed as far as we use it. */
function wasmApi(): { instantiate(bytes: Uint8Array): Promise<{ instance: { exports: unknown } }> } {
  const api = (globalThis as { WebAssembly?: ReturnType<typeof wasmApi> }).WebAssembly;
  if (api === undefined) throw new Error("WebAssembly is not available in this runtime");
  return api;
}

/**
 * hash-wasm's public hasher has no `digestInto`: `digest('binary')` always returns `memory.slice(0, 32)`,
 * and `update` wraps its input in a new Uint8Array view. The only allocation-free route is the module's own
 * C ABI: copy the input into `main_buffer`, call `Hash_Calculate(len, 256)`, read the digest from the start
 * of `main_buffer`. The binary is embedded base64 in hash-wasm's UMD bundle; we instantiate it ourselves.
 */
async function rawHashWasm(): Promise<{ exports: Sha256WasmExports; input: Uint8Array; output: Uint8Array }> {
  const bundle = readFileSync(require.resolve("hash-wasm"), "utf8");
  const m = /var name(\$\w+) = "sha256";\s*var data\1 = "([A-Za-z0-9+/=]+)";/.exec(bundle);
  if (!m) throw new Error("could not find the embedded sha256 wasm in hash-wasm's bundle");
  const { instance } = await wasmApi().instantiate(Buffer.from(m[2]!, "base64"));
  const exports = instance.exports as unknown as Sha256WasmExports;
  const offset = exports.Hash_GetBuffer();
  // sha256 never grows its memory, so these views stay attached. MAX_HEAP in hash-wasm is 16 KiB.
  const input = new Uint8Array(exports.memory.buffer, offset, 16 * 1024);
  const output = new Uint8Array(exports.memory.buffer, offset, 32);
  return { exports, input, output };
}

async function candidates(): Promise<Candidate[]> {
  const hash = nodeOneShot();
  const wasm = await createSHA256(); // async to create, sync to use
  const raw = await rawHashWasm();
  const rawOut = new Uint8Array(32); // the caller-owned buffer a `digestInto(out)` would fill
  const { exports: rx, input: rIn, output: rDigest } = raw;
  // The batched candidate's buffers: up to BATCH messages of up to 200 B (the checks' longest), back to back.
  const batchIn = new Uint8Array(BATCH * 200);
  const batchOffsets = new Uint32Array(BATCH + 1);
  const batchOut = new Uint8Array(BATCH * 32);

  return [
    {
      id: "createHash",
      label: "`crypto.createHash('sha256').update(b).digest()`",
      digest: (b) => crypto.createHash("sha256").update(b).digest(),
      run: (s, v, pos0, n) => {
        let sink = 0;
        for (let i = 0; i < n; i++) {
          const pos = pos0 + i;
          v.setUint32(0, Math.floor(pos / 0x1_0000_0000));
          v.setUint32(4, pos >>> 0);
          sink ^= crypto.createHash("sha256").update(s).digest()[0]!;
        }
        return sink;
      },
    },
    {
      id: "hash",
      label: "`crypto.hash('sha256', b, 'buffer')`",
      digest: (b) => hash("sha256", b, "buffer"),
      run: (s, v, pos0, n) => {
        let sink = 0;
        for (let i = 0; i < n; i++) {
          const pos = pos0 + i;
          v.setUint32(0, Math.floor(pos / 0x1_0000_0000));
          v.setUint32(4, pos >>> 0);
          sink ^= hash("sha256", s, "buffer")[0]!;
        }
        return sink;
      },
    },
    {
      id: "noble",
      label: "@noble/hashes 1.8.0 `sha256(b)`",
      digest: (b) => nobleSha256(b),
      run: (s, v, pos0, n) => {
        let sink = 0;
        for (let i = 0; i < n; i++) {
          const pos = pos0 + i;
          v.setUint32(0, Math.floor(pos / 0x1_0000_0000));
          v.setUint32(4, pos >>> 0);
          sink ^= nobleSha256(s)[0]!;
        }
        return sink;
      },
    },
    {
      id: "wasm",
      label: "hash-wasm 4.13.0 reused `createSHA256()`: `init(); update(b); digest('binary')`",
      digest: (b) => wasm.init().update(b).digest("binary"),
      run: (s, v, pos0, n) => {
        let sink = 0;
        for (let i = 0; i < n; i++) {
          const pos = pos0 + i;
          v.setUint32(0, Math.floor(pos / 0x1_0000_0000));
          v.setUint32(4, pos >>> 0);
          wasm.init();
          wasm.update(s);
          sink ^= wasm.digest("binary")[0]!;
        }
        return sink;
      },
    },
    {
      id: "wasmRaw",
      label: "hash-wasm's sha256 wasm via its C ABI (not public): copy in, `Hash_Calculate`, copy 32 B to caller's `out`",
      digest: (b) => {
        rIn.set(b);
        rx.Hash_Calculate(b.length, 256);
        rawOut.set(rDigest);
        return rawOut;
      },
      run: (s, v, pos0, n) => {
        let sink = 0;
        for (let i = 0; i < n; i++) {
          const pos = pos0 + i;
          v.setUint32(0, Math.floor(pos / 0x1_0000_0000));
          v.setUint32(4, pos >>> 0);
          rIn.set(s);
          rx.Hash_Calculate(s.length, 256);
          rawOut.set(rDigest);
          sink ^= rawOut[0]!;
        }
        return sink;
      },
    },
    {
      id: "batched",
      label: `\`sha256Many\` (src/mmr/sha256.ts; here: ${SHA256_BATCH_IMPLEMENTATION}), ${BATCH} messages a call: copy each into a batch buffer, then one call`,
      digest: (b) => {
        batchIn.set(b);
        sha256Many(batchIn.subarray(0, b.length), Uint32Array.of(0, b.length), batchOut.subarray(0, 32));
        return batchOut.subarray(0, 32);
      },
      run: (s, v, pos0, n) => {
        const len = s.length;
        for (let i = 0; i < n; i++) {
          const pos = pos0 + i;
          v.setUint32(0, Math.floor(pos / 0x1_0000_0000));
          v.setUint32(4, pos >>> 0);
          batchIn.set(s, i * len);
          batchOffsets[i + 1] = (i + 1) * len;
        }
        sha256Many(batchIn.subarray(0, n * len), batchOffsets.subarray(0, n + 1), batchOut.subarray(0, n * 32));
        let sink = 0;
        for (let i = 0; i < n; i++) sink ^= batchOut[i * 32]!;
        return sink;
      },
    },
  ];
}

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");
}

/** Deterministic filler bytes (xorshift32), so inputs are not all zero and runs are reproducible. */
function fill(out: Uint8Array, seed: number): Uint8Array {
  let x = seed >>> 0 || 1;
  for (let i = 0; i < out.length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** Throws unless every candidate gives the known "hello world" digest and all agree on every length 0..200. */
function checkAgreement(cs: readonly Candidate[]): void {
  const hello = new TextEncoder().encode("hello world");
  for (const c of cs) {
    const got = hex(c.digest(hello));
    if (got !== HELLO_WORLD_SHA256) throw new Error(`${c.id}: SHA256("hello world") = ${got}, expected ${HELLO_WORLD_SHA256}`);
  }
  // Every length up to 200 covers the padding edges (55/56/64, 119/120/128) and all four MMR shapes.
  for (let len = 0; len <= 200; len++) {
    const input = fill(new Uint8Array(len), 0x9e3779b9 ^ len);
    const want = hex(crypto.createHash("sha256").update(input).digest());
    for (const c of cs) {
      const got = hex(c.digest(input));
      if (got !== want) throw new Error(`${c.id}: digest of ${len} B input = ${got}, node:crypto gives ${want}`);
    }
  }
  // The timed loops write the position themselves; check they hash exactly what `digest` hashes.
  for (const shape of SHAPES) {
    const scratch = fill(new Uint8Array(shape.bytes), shape.bytes);
    const view = new DataView(scratch.buffer);
    const pos = 2 ** 40 + 0xffff_fffe; // the low half wraps within the 3 calls, exercising both halves
    // Three calls at pos, pos+1, pos+2: the loop's sink is the XOR of the first digest bytes.
    let want = 0;
    for (let i = 0; i < 3; i++) {
      view.setUint32(0, Math.floor((pos + i) / 0x1_0000_0000));
      view.setUint32(4, (pos + i) >>> 0);
      want ^= crypto.createHash("sha256").update(scratch).digest()[0]!;
    }
    for (const c of cs) {
      const s = fill(new Uint8Array(shape.bytes), shape.bytes);
      const sink = c.run(s, new DataView(s.buffer), pos, 3);
      if (sink !== want) throw new Error(`${c.id}: timed loop on ${shape.bytes} B hashed different bytes (sink ${sink} ≠ ${want})`);
    }
  }
}

/** Global position counter: every call in the whole run hashes a distinct position. */
let nextPos = 0;
/** Keeps the digests observable so no call can be dropped. */
let sinkAll = 0;

/** Runs `c` on `shape` for `ms` milliseconds; returns millions of hashes per second. */
function measure(c: Candidate, scratch: Uint8Array, view: DataView, ms: number): number {
  let calls = 0;
  const t0 = performance.now();
  let t = t0;
  do {
    sinkAll ^= c.run(scratch, view, nextPos, BATCH);
    nextPos += BATCH;
    calls += BATCH;
    t = performance.now();
  } while (t - t0 < ms);
  return calls / (t - t0) / 1000;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

const f2 = (x: number): string => x.toFixed(2);

export default async function (): Promise<string> {
  const cs = await candidates();
  checkAgreement(cs);

  const scratches = SHAPES.map((sh) => fill(new Uint8Array(sh.bytes), 0xc0ffee ^ sh.bytes));
  const views = scratches.map((s) => new DataView(s.buffer));
  // rates[c][shape] = one figure per round
  const rates: number[][][] = cs.map(() => SHAPES.map(() => []));

  for (let si = 0; si < SHAPES.length; si++) for (const c of cs) measure(c, scratches[si]!, views[si]!, WARMUP_MS);

  const started = performance.now();
  for (let r = 0; r < ROUNDS; r++) {
    for (let si = 0; si < SHAPES.length; si++) {
      // Rotate the order each round so no candidate always runs first (or right after a GC-heavy one).
      for (let k = 0; k < cs.length; k++) {
        const ci = (k + r + si) % cs.length;
        rates[ci]![si]!.push(measure(cs[ci]!, scratches[si]!, views[si]!, SLICE_MS));
      }
    }
  }
  const seconds = (performance.now() - started) / 1000;

  const med = rates.map((perShape) => perShape.map(median));
  const base = cs.findIndex((c) => c.id === "hash");
  const fastest = SHAPES.map((_, si) => med.reduce((best, m, ci) => (m[si]! > med[best]![si]! ? ci : best), 0));

  const head = `| candidate | ${SHAPES.map((s) => `${s.bytes} B (${s.what})`).join(" | ")} |`;
  const rule = `|---|${SHAPES.map(() => "---:").join("|")}|`;
  const rows = cs.map((c, ci) => {
    const cells = SHAPES.map((_, si) => {
      const m = med[ci]![si]!;
      const cell = `${f2(m)} (×${f2(m / med[base]![si]!)})`;
      return fastest[si] === ci ? `**${cell}**` : cell;
    });
    return `| ${c.label} | ${cells.join(" | ")} |`;
  });
  const best = `| fastest | ${SHAPES.map((_, si) => cs[fastest[si]!]!.id).join(" | ")} |`;

  const spreadRows = cs.map(
    (c, ci) =>
      `| ${c.id} | ${SHAPES.map((_, si) => {
        const xs = rates[ci]![si]!;
        return `${f2(Math.min(...xs))}–${f2(Math.max(...xs))}`;
      }).join(" | ")} |`,
  );

  return [
    `Millions of SHA-256 hashes per second, one thread: the median of ${ROUNDS} interleaved rounds of ${SLICE_MS} ms each ` +
      `per candidate and shape (after a ${WARMUP_MS} ms warm-up), ${f2(seconds)} s of timed runs in all. ` +
      "In brackets: the ratio to `crypto.hash` measured in the same run. Each call hashes one reused scratch buffer whose first " +
      "8 bytes (u64 BE position) change every call. Bold marks the fastest per shape.",
    "",
    head,
    rule,
    ...rows,
    best,
    "",
    "Per-round range (min–max, M hashes/s), to judge the noise:",
    "",
    `| candidate | ${SHAPES.map((s) => `${s.bytes} B`).join(" | ")} |`,
    `|---|${SHAPES.map(() => "---:").join("|")}|`,
    ...spreadRows,
    "",
    'Checked before timing (the suite throws otherwise): every candidate gives SHA256("hello world") = ' +
      `\`${HELLO_WORLD_SHA256.slice(0, 16)}…\`, agrees with \`crypto.createHash\` on every input length 0–200 B, ` +
      "and its timed loop hashes the same bytes as its checked form. " +
      `The \`wasmRaw\` row calls hash-wasm's embedded wasm through its internal C ABI (\`Hash_Calculate\`); ` +
      "hash-wasm has no public `digestInto`, so this is the only allocation-free route; it is what the hot path " +
      "(`src/mmr/sha256.ts`) uses for single hashes, pinned to hash-wasm 4.13.0 and self-tested against `node:crypto` when loaded " +
      "(falling back to `crypto.hash`). The `batched` row is what batch verification uses: `sha256Many` goes to the native addon " +
      "(`native/sha256_batch.c`: Node's own OpenSSL, one N-API call per batch) when `npm ci` built it, else it loops over the wasm path. " +
      `(sink ${sinkAll & 0xff})`,
  ].join("\n");
}
