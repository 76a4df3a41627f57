/**
 * Issue 11 fuzz suite: every decoder a peer or a disk can feed, on random bytes and on mutations
 * of valid encodings (bit flips, truncation, insertion, splices). Each must return a value or
 * throw its layer's typed error (the class is asserted): never another exception, a crash or a
 * hang. Runs are kept small so the whole file takes seconds.
 */
import fc from "fast-check";
import { GetOperationsRequest, GetSyncTargetRequest, GetSyncTargetResponse } from "../../gen/commonware/sync/v1/sync";
import { CodecError } from "../../src/codec";
import { type Blob, FixedJournal, JournalError, Metadata, type Storage, VariableJournal } from "../../src/journal";
import { memBlobKey, memScan } from "../helpers/journal";
import { MemMmr, MmrError, type Proof, decodeProof, encodeProof, verifyRangeAndCollect } from "../../src/mmr";
import {
  type DbKindName,
  createTestOperations,
  decodeAnyOperation,
  decodeImmutableOperation,
  encodeAnyOperation,
  encodeImmutableOperation,
} from "../../src/qmdb";
import { ServiceError } from "../../src/server/errors";
import { syncServiceDefinition } from "../../src/server/grpc";
import { ServerMetrics } from "../../src/server/metrics";
import { SyncService } from "../../src/server/service";
import type { TargetSource } from "../../src/server/target-source";
import { InvalidResponseError, TargetAuthError, TargetSigner, TargetVerifier } from "../../src/sync";
import { toServerTarget } from "../../src/client/resolver";
import { WireError, decodeOperationsResponse, encodeOperationsResponse, toProtoTarget } from "../../src/wire";

const RUNS = { numRuns: 300 };

/** Random bytes, or a mutation of one of `seeds`. */
function bytesFrom(seeds: readonly Uint8Array[], maxLength = 2048): fc.Arbitrary<Uint8Array> {
  const seed = fc.constantFrom(...seeds);
  const mutated = fc
    .tuple(seed, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 4 }), fc.nat(255)), { minLength: 1, maxLength: 6 }))
    .map(([s, edits]) => {
      let b = Uint8Array.from(s);
      for (const [at, how, byte] of edits) {
        const i = b.length === 0 ? 0 : at % b.length;
        if (how === 0 && b.length > 0)
          b[i] ^= 1 << (byte % 8); // flip a bit
        else if (how === 1)
          b = b.subarray(0, i); // truncate
        else if (how === 2)
          b = Uint8Array.from([...b.subarray(0, i), byte, ...b.subarray(i)]); // insert
        else if (how === 3 && b.length > 0)
          b = Uint8Array.from([...b.subarray(0, i), ...b.subarray(i + 1)]); // delete
        else if (b.length > 0) b[i] = byte; // overwrite
      }
      return b;
    });
  return fc.oneof(fc.uint8Array({ maxLength }), mutated);
}

/** Runs `f`; returns normally or throws one of `types` (anything else fails the property). */
function only(types: ReadonlyArray<abstract new (...args: never[]) => Error>, f: () => unknown): void {
  try {
    f();
  } catch (err) {
    if (!types.some((t) => err instanceof t)) throw new Error(`unexpected ${(err as Error)?.constructor?.name}: ${(err as Error)?.message}`, { cause: err });
  }
}

async function onlyAsync(types: ReadonlyArray<abstract new (...args: never[]) => Error>, f: () => Promise<unknown>): Promise<void> {
  try {
    await f();
  } catch (err) {
    if (!types.some((t) => err instanceof t)) throw new Error(`unexpected ${(err as Error)?.constructor?.name}: ${(err as Error)?.message}`, { cause: err });
  }
}

// ---------------------------------------------------------------------------------------------
// Valid encodings to mutate

const KIND_OPS: Record<DbKindName, Uint8Array[]> = {
  any: createTestOperations("any", 12, 7n).map((op) => encodeAnyOperation(op as never)),
  immutable: createTestOperations("immutable", 12, 7n).map((op) => encodeImmutableOperation(op as never)),
};
function validBatch(kind: DbKindName): { bytes: Uint8Array; proof: Proof; root: Uint8Array; ops: Uint8Array[] } {
  const ops = KIND_OPS[kind];
  const mmr = new MemMmr();
  for (const op of ops) mmr.add(op);
  const proof = mmr.rangeProof(2n, 7n);
  return { bytes: encodeOperationsResponse(kind, 2n, proof, ops.slice(2, 7)), proof, root: mmr.root(), ops: ops.slice(2, 7) };
}
const BATCH = { any: validBatch("any"), immutable: validBatch("immutable") };
const LIMITS = { maxDigests: 256, maxOperations: 10_000 };

// ---------------------------------------------------------------------------------------------
// Peer-fed decoders

describe("peer input", () => {
  const definition = syncServiceDefinition(new ServerMetrics());
  const source: TargetSource = {
    kind: "any",
    target: { root: new Uint8Array(32), lowerBound: 10n, upperBound: 1000n },
    oldestRetainedLoc: 10n,
    historicalProof: () => {
      throw new Error("not used");
    },
    on: () => source,
    off: () => source,
  } as unknown as TargetSource;
  const service = new SyncService(source);

  test("requests: the server's request decoders never throw; decoded GetOperations requests are planned or refused with a ServiceError", () => {
    const seeds = [
      GetOperationsRequest.encode({ opCount: 1000n, startLoc: 10n, maxOps: 50n, batchSize: 5 }).finish(),
      GetOperationsRequest.encode({ opCount: (1n << 64n) - 1n, startLoc: 0n, maxOps: 1n, batchSize: 2 ** 32 - 1 }).finish(),
      GetSyncTargetRequest.encode({}).finish(),
    ];
    fc.assert(
      fc.property(bytesFrom(seeds, 64), (bytes) => {
        const buf = Buffer.from(bytes);
        for (const method of ["getSyncTarget", "watchSyncTarget"] as const) expect(() => definition[method].requestDeserialize(buf)).not.toThrow();
        const req = definition.getOperations.requestDeserialize(buf) as GetOperationsRequest | { undecodable: string };
        if ("undecodable" in req) {
          expect(typeof req.undecodable).toBe("string");
          return;
        }
        only([ServiceError], () => {
          const plan = service.plan(req);
          expect(plan.startLoc).toBeGreaterThanOrEqual(10n);
          expect(plan.endLoc).toBeLessThanOrEqual(1000n);
          expect(plan.batchSize).toBeGreaterThan(0);
        });
      }),
      RUNS,
    );
  });

  test.each(["any", "immutable"] as const)("batch responses (%s): decoded or a WireError; what decodes never verifies unless it is the original", (kind) => {
    const valid = BATCH[kind];
    fc.assert(
      fc.property(bytesFrom([valid.bytes]), (bytes) => {
        only([WireError], () => {
          const batch = decodeOperationsResponse(bytes, kind, LIMITS);
          expect(batch.operations.length).toBeLessThanOrEqual(LIMITS.maxOperations);
          expect(batch.proof.digests.length).toBeLessThanOrEqual(LIMITS.maxDigests);
          only([MmrError], () => {
            verifyRangeAndCollect(batch.proof, batch.operations, batch.startLoc, valid.root);
            // Verified against the real root: it must be the real content.
            expect(batch.startLoc).toBe(2n);
            expect(batch.operations.map((o) => Buffer.from(o).toString("hex"))).toEqual(valid.ops.map((o) => Buffer.from(o).toString("hex")));
          });
        });
      }),
      RUNS,
    );
  });

  test("targets: a GetSyncTargetResponse either fails protobuf decoding or is accepted or refused with InvalidResponseError", () => {
    const signer = TargetSigner.generate();
    const target = { root: new Uint8Array(32).fill(7), lowerBound: 3n, upperBound: 99n };
    const seeds = [
      GetSyncTargetResponse.encode({
        database: 1,
        target: toProtoTarget(target),
        signature: Buffer.from(signer.sign("any", target)),
        signer: Buffer.from(signer.publicKey),
      }).finish(),
      GetSyncTargetResponse.encode({ database: 2, target: toProtoTarget(target), signature: Buffer.alloc(0), signer: Buffer.alloc(0) }).finish(),
    ];
    fc.assert(
      fc.property(bytesFrom(seeds, 256), (bytes) => {
        let response: GetSyncTargetResponse;
        try {
          response = GetSyncTargetResponse.decode(bytes);
        } catch (err) {
          // grpc-js turns a deserializer failure into an INTERNAL status (a ResolverError).
          expect(err).toBeInstanceOf(Error);
          return;
        }
        only([InvalidResponseError], () => {
          const t = toServerTarget(response);
          expect(t.target.root).toHaveLength(32);
          expect(t.target.lowerBound).toBeLessThan(t.target.upperBound);
        });
      }),
      RUNS,
    );
  });

  test("signed targets: random and mutated signatures, signers and targets are accepted only when genuine, else TargetAuthError", () => {
    const signer = TargetSigner.generate();
    const verifier = new TargetVerifier([signer.publicKey]);
    const target = { root: new Uint8Array(32).fill(9), lowerBound: 1n, upperBound: 50n };
    const signature = signer.sign("immutable", target);
    fc.assert(
      fc.property(bytesFrom([signature], 100), bytesFrom([signer.publicKey], 40), fc.bigInt({ min: 0n, max: 100n }), (sig, key, upper) => {
        const t = { ...target, upperBound: upper > target.lowerBound ? upper : target.upperBound };
        let accepted = false;
        only([TargetAuthError], () => {
          verifier.verify("immutable", t, sig, key);
          accepted = true;
        });
        if (accepted) expect(Buffer.from(sig).equals(Buffer.from(signature)) && t.upperBound === target.upperBound).toBe(true);
      }),
      RUNS,
    );
  });

  test("proofs: decodeProof gives a proof or a CodecError; any decoded proof verifies only if it is the original", () => {
    const valid = BATCH.any;
    const encoded = encodeProof(valid.proof);
    fc.assert(
      fc.property(bytesFrom([encoded], 1024), fc.bigInt({ min: 0n, max: 20n }), (bytes, start) => {
        only([CodecError], () => {
          const proof = decodeProof(bytes, 256);
          expect(proof.digests.length).toBeLessThanOrEqual(256);
          only([MmrError], () => {
            verifyRangeAndCollect(proof, valid.ops, start, valid.root);
            expect(start).toBe(2n);
            expect(proof.size).toBe(valid.proof.size);
          });
        });
      }),
      RUNS,
    );
    // The unmutated seed does verify (so the property above is not vacuous).
    expect(verifyRangeAndCollect(decodeProof(encoded, 256), valid.ops, 2n, valid.root).nodes.length).toBeGreaterThan(0);
  });

  test("operations: decodeAnyOperation / decodeImmutableOperation give an operation or a CodecError, and re-encode to the same bytes", () => {
    fc.assert(
      fc.property(bytesFrom(KIND_OPS.any, 80), bytesFrom(KIND_OPS.immutable, 80), (a, i) => {
        only([CodecError], () => expect(encodeAnyOperation(decodeAnyOperation(a))).toEqual(a));
        only([CodecError], () => expect(encodeImmutableOperation(decodeImmutableOperation(i))).toEqual(i));
      }),
      { numRuns: 1000 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Disk-fed decoders: journals and metadata over an in-memory storage holding fuzzed files

class MemStorage implements Storage {
  constructor(readonly files = new Map<string, Uint8Array>()) {}
  locate(partition: string, name: Uint8Array): string {
    return memBlobKey(partition, name);
  }
  async scan(partition: string): Promise<Uint8Array[]> {
    return memScan(this.files.keys(), partition);
  }
  async open(partition: string, name: Uint8Array): Promise<{ blob: Blob; size: number }> {
    const key = this.locate(partition, name);
    if (!this.files.has(key)) this.files.set(key, new Uint8Array(0));
    const files = this.files;
    const blob: Blob = {
      path: key,
      readAt(out, offset) {
        const b = files.get(key)!;
        if (offset + out.length > b.length) throw new JournalError("Io", `short read of ${key}`);
        out.set(b.subarray(offset, offset + out.length));
      },
      writeAt(data, offset) {
        const old = files.get(key)!;
        const next = new Uint8Array(Math.max(old.length, offset + data.length));
        next.set(old);
        next.set(data, offset);
        files.set(key, next);
      },
      resize(size) {
        const next = new Uint8Array(size);
        next.set(files.get(key)!.subarray(0, size));
        files.set(key, next);
      },
      sync: async () => undefined,
      close: () => undefined,
    };
    return { blob, size: this.files.get(key)!.length };
  }
  async syncDirectory(): Promise<void> {}
  async remove(partition: string, name?: Uint8Array): Promise<void> {
    for (const k of [...this.files.keys()]) if (name === undefined ? k.startsWith(`${partition}/`) : k === this.locate(partition, name)) this.files.delete(k);
  }
}

/** Files of a small valid journal/metadata store, to mutate. */
async function validFiles(): Promise<Map<string, Uint8Array>> {
  const storage = new MemStorage();
  const fixed = await FixedJournal.open(storage, "fixed", { itemSize: 65, itemsPerBlob: 4 });
  for (const op of KIND_OPS.any) fixed.append(op);
  await fixed.close();
  const variable = await VariableJournal.open(storage, "var", { itemsPerSection: 4 });
  for (const op of KIND_OPS.immutable) variable.append(op);
  await variable.close();
  const metadata = await Metadata.open(storage, "meta");
  for (let i = 0; i < 5; i++) metadata.put(Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, i]), new Uint8Array(32).fill(i));
  await metadata.sync();
  await metadata.sync(); // both blobs written
  await metadata.close();
  return storage.files;
}

describe("disk input", () => {
  let files: Map<string, Uint8Array>;
  beforeAll(async () => {
    files = await validFiles();
  });

  /** A copy of the valid files with one file replaced by fuzzed bytes (or removed). */
  const fuzzedFiles = (prefix: string): fc.Arbitrary<Map<string, Uint8Array>> => {
    const names = [...files.keys()].filter((k) => k.startsWith(prefix));
    return fc.tuple(fc.constantFrom(...names), fc.boolean(), fc.nat()).chain(([name, drop]) =>
      bytesFrom([files.get(name)!], 600).map((bytes) => {
        const copy = new Map(files);
        if (drop && names.length > 1) copy.delete(name);
        else copy.set(name, bytes);
        return copy;
      }),
    );
  };

  test("fixed journal records: open, replay and read give items or a JournalError", async () => {
    await fc.assert(
      fc.asyncProperty(fuzzedFiles("fixed/"), async (fuzzed) => {
        await onlyAsync([JournalError], async () => {
          const j = await FixedJournal.open(new MemStorage(fuzzed), "fixed", { itemSize: 65, itemsPerBlob: 4 });
          expect(j.size).toBeLessThanOrEqual(KIND_OPS.any.length + 4);
          j.replay(j.pruningBoundary, (_, item) => expect(item).toHaveLength(65));
          for (let p = j.pruningBoundary; p < j.size; p++) only([JournalError], () => j.read(p));
        });
      }),
      { numRuns: 200 },
    );
  });

  test("variable journal records: open, replay and read give items or a JournalError", async () => {
    await fc.assert(
      fc.asyncProperty(fuzzedFiles("var_"), async (fuzzed) => {
        await onlyAsync([JournalError], async () => {
          const j = await VariableJournal.open(new MemStorage(fuzzed), "var", { itemsPerSection: 4 });
          j.replay(j.pruningBoundary, () => undefined);
          for (let p = j.pruningBoundary; p < j.size; p++) only([JournalError], () => j.read(p));
        });
      }),
      { numRuns: 200 },
    );
  });

  test("metadata: open gives a store or a JournalError", async () => {
    await fc.assert(
      fc.asyncProperty(fuzzedFiles("meta/"), async (fuzzed) => {
        await onlyAsync([JournalError], async () => {
          const m = await Metadata.open(new MemStorage(fuzzed), "meta");
          for (let i = 0; i < 6; i++) {
            const v = m.get(Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, i]));
            if (v !== undefined) expect(v.length).toBeLessThanOrEqual(600);
          }
        });
      }),
      { numRuns: 200 },
    );
  });
});
