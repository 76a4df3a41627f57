import fc from "fast-check";
import { CodecError } from "../codec";
import { MemMmr } from "./mem";
import { decodeProof, encodeProof, nodesRequiredForRangeProof, type Proof } from "./proof";
import { extractPinnedNodes, reconstructRoot, verifyRangeAndCollect, verifyRangeInclusion } from "./verification";
import { leafDigest, nodeDigest, rootDigest } from "./hasher";
import { locationToPosition, MAX_LOCATION, mmrSize, nodesToPin, pathToLeaf, peaks } from "./position";
import { element, hex, MMR_ROOTS, unhex } from "../../test/helpers/vectors";

const memo = new Map<number, MemMmr>();
function mmrOf(n: number): MemMmr {
  let m = memo.get(n);
  if (m === undefined) {
    m = new MemMmr();
    for (let i = 0; i < n; i++) m.add(element(i));
    memo.set(n, m);
  }
  return m;
}
const elements = (start: number, end: number): Uint8Array[] => Array.from({ length: end - start }, (_, i) => element(start + i));
const flip = (d: Uint8Array, byte = 0): Uint8Array => {
  const c = Uint8Array.from(d);
  c[byte]! ^= 1;
  return c;
};

/** Asserts the proof verifies and that each single mutation of it (or of its inputs) fails. */
function checkProofAndMutations(mmr: MemMmr, proof: Proof, start: number, end: number): void {
  const root = mmr.root();
  const els = elements(start, end);
  expect(verifyRangeInclusion(proof, els, BigInt(start), root)).toBe(true);
  for (let i = 0; i < proof.digests.length; i++) {
    const digests = proof.digests.slice();
    digests[i] = flip(digests[i]!, i % 32);
    expect(verifyRangeInclusion({ size: proof.size, digests }, els, BigInt(start), root)).toBe(false);
    expect(verifyRangeInclusion({ size: proof.size, digests: proof.digests.filter((_, j) => j !== i) }, els, BigInt(start), root)).toBe(false);
  }
  for (let i = 0; i <= proof.digests.length; i++) {
    const digests = [...proof.digests.slice(0, i), element(9999), ...proof.digests.slice(i)];
    expect(verifyRangeInclusion({ size: proof.size, digests }, els, BigInt(start), root)).toBe(false);
  }
  for (let i = 0; i < els.length; i++) {
    const changed = els.slice();
    changed[i] = flip(changed[i]!, 31);
    expect(verifyRangeInclusion(proof, changed, BigInt(start), root)).toBe(false);
  }
  expect(verifyRangeInclusion(proof, els.slice(1), BigInt(start), root)).toBe(false);
  expect(verifyRangeInclusion(proof, els, BigInt(start + 1), root)).toBe(false);
  if (start > 0) expect(verifyRangeInclusion(proof, els, BigInt(start - 1), root)).toBe(false);
  expect(verifyRangeInclusion({ size: proof.size + 1n, digests: proof.digests }, els, BigInt(start), root)).toBe(false);
  expect(verifyRangeInclusion({ size: mmrSize(BigInt(mmr.leaves + 1)), digests: proof.digests }, els, BigInt(start), root)).toBe(false);
  expect(verifyRangeInclusion(proof, els, BigInt(start), flip(root))).toBe(false);
}

describe("range proofs", () => {
  test("digest positions of the pinned size-19 examples", () => {
    expect(nodesRequiredForRangeProof(19n, 10n, 11n)).toEqual([14n, 17n]);
    expect(nodesRequiredForRangeProof(19n, 0n, 1n)).toEqual([17n, 18n, 13n, 5n, 1n]);
    expect(nodesRequiredForRangeProof(19n, 2n, 9n)).toEqual([18n, 16n, 2n]);
    expect(() => nodesRequiredForRangeProof(18n + 2n, 0n, 1n)).toThrow(/InvalidSize/);
    expect(() => nodesRequiredForRangeProof(19n, 3n, 3n)).toThrow(/Empty/);
    expect(() => nodesRequiredForRangeProof(19n, 0n, 12n)).toThrow(/RangeOutOfBounds/);
    expect(() => nodesRequiredForRangeProof(19n, MAX_LOCATION + 1n, MAX_LOCATION + 2n)).toThrow(/LocationOverflow/);
  });

  test("proof bytes (docs/formats.md, proof codec) match an independently derived example", () => {
    const mmr = new MemMmr();
    const e = new TextEncoder().encode("01234567012345670123456701234567");
    for (let i = 0; i < 11; i++) mmr.add(e);
    expect(hex(mmr.root())).toBe("5c188a633a37e37c06aef868165a2c65670e682734bd466e4c27e6483e982e48");
    const bytes = encodeProof(mmr.rangeProof(10n, 11n));
    expect(hex(bytes)).toBe(
      "1302f92d1beca06c19c97f8d494740128c9a4afcc51a3608f8bc5dc97c0bd87ed1a96571f2392447756b2491bf81b622b202fcd994832dea8a539cbb0223188bd6dc",
    );
    expect(decodeProof(bytes, 10_000)).toEqual({ size: 19n, digests: [mmr.getNode(14), mmr.getNode(17)].map((d) => Uint8Array.from(d!)) });
    expect(hex(encodeProof({ size: 0n, digests: [] }))).toBe("0000");
    expect(hex(encodeProof({ size: 397n, digests: [] }))).toBe("8d0300");
  });

  test("proof decoding rejects truncation, trailing bytes, non-canonical varints and too many digests", () => {
    const bytes = encodeProof(mmrOf(49).rangeProof(3n, 17n));
    for (let cut = 0; cut < bytes.length; cut++) {
      expect(() => decodeProof(bytes.subarray(0, cut), 10_000)).toThrow(CodecError);
    }
    expect(() => decodeProof(Uint8Array.from([...bytes, 0]), 10_000)).toThrow(/ExtraData/);
    const count = bytes[1]!;
    expect(() => decodeProof(bytes, count - 1)).toThrow(/InvalidLength/);
    expect(decodeProof(bytes, count).digests).toHaveLength(count);
    // size 95 written with a redundant continuation byte: 0xdf 0x00
    expect(() => decodeProof(Uint8Array.from([0xdf, 0x00, ...bytes.subarray(1)]), 10_000)).toThrow(/InvalidVarint/);
    // a digest count that claims more digests than bytes remain
    expect(() => decodeProof(Uint8Array.from([bytes[0]!, 0xff, 0x01]), 10_000)).toThrow(CodecError);
  });

  test("every range of a 49-leaf MMR verifies, and every single mutation is rejected", () => {
    const mmr = mmrOf(49);
    for (let start = 0; start < 49; start++) {
      for (let end = start + 1; end <= 49; end++) {
        const proof = mmr.rangeProof(BigInt(start), BigInt(end));
        expect(proof.digests.length).toBe(nodesRequiredForRangeProof(proof.size, BigInt(start), BigInt(end)).length);
        if ((start * 49 + end) % 7 === 0) checkProofAndMutations(mmr, proof, start, end);
        else expect(verifyRangeInclusion(proof, elements(start, end), BigInt(start), mmr.root())).toBe(true);
      }
    }
  });

  test("historical proofs verify against that size's root only", () => {
    const mmr = mmrOf(199);
    for (const k of [1, 2, 7, 50, 100, 150, 198]) {
      const size = mmrSize(BigInt(k));
      const proof = mmr.historicalRangeProof(size, BigInt(k - 1), BigInt(k));
      expect(verifyRangeInclusion(proof, [element(k - 1)], BigInt(k - 1), unhex(MMR_ROOTS[k]!))).toBe(true);
      expect(verifyRangeInclusion(proof, [element(k - 1)], BigInt(k - 1), unhex(MMR_ROOTS[k + 1]!))).toBe(false);
      expect(verifyRangeInclusion(proof, [element(k - 1)], BigInt(k - 1), mmr.root())).toBe(false);
    }
  });

  test("property: random ranges of random MMRs up to 10 000 leaves verify; any mutation fails", () => {
    const big = mmrOf(10_000);
    fc.assert(
      fc.property(
        fc
          .integer({ min: 1, max: 10_000 })
          .chain((leaves) =>
            fc
              .tuple(fc.constant(leaves), fc.integer({ min: 0, max: leaves - 1 }))
              .chain(([l, start]) =>
                fc.tuple(fc.constant(l), fc.constant(start), fc.integer({ min: start + 1, max: Math.min(l, start + 300) }), fc.nat(), fc.nat()),
              ),
          ),
        ([leaves, start, end, pick, byte]) => {
          const size = mmrSize(BigInt(leaves));
          const root = rootDigest(
            size,
            peaks(size).map((p) => big.getNode(Number(p.pos))!),
          );
          const proof = big.historicalRangeProof(size, BigInt(start), BigInt(end));
          const els = elements(start, end);
          expect(verifyRangeInclusion(proof, els, BigInt(start), root)).toBe(true);
          if (proof.digests.length > 0) {
            const digests = proof.digests.slice();
            const i = pick % digests.length;
            digests[i] = flip(digests[i]!, byte % 32);
            expect(verifyRangeInclusion({ size, digests }, els, BigInt(start), root)).toBe(false);
          }
          const changed = els.slice();
          changed[pick % els.length] = flip(changed[pick % els.length]!, byte % 32);
          expect(verifyRangeInclusion(proof, changed, BigInt(start), root)).toBe(false);
          expect(verifyRangeInclusion(proof, els, BigInt(start + 1), root)).toBe(false);
          if (leaves < 10_000) {
            const larger = mmrSize(BigInt(leaves + 1));
            expect(verifyRangeInclusion({ size: larger, digests: proof.digests }, els, BigInt(start), root)).toBe(false);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  test("verifyRangeAndCollect returns exactly the nodes appending the range would create", () => {
    const mmr = mmrOf(300);
    const root = mmr.root();
    for (const [start, end] of [
      [0, 1],
      [0, 300],
      [5, 6],
      [7, 8],
      [8, 64],
      [63, 130],
      [128, 256],
      [255, 300],
      [299, 300],
    ] as const) {
      const proof = mmr.rangeProof(BigInt(start), BigInt(end));
      const { startPos, nodes } = verifyRangeAndCollect(proof, elements(start, end), BigInt(start), root);
      expect(startPos).toBe(locationToPosition(BigInt(start)));
      const count = Number(mmrSize(BigInt(end)) - startPos);
      expect(nodes.length).toBe(count * 32);
      for (let i = 0; i < count; i++) expect(hex(nodes.subarray(32 * i, 32 * i + 32))).toBe(hex(mmr.getNode(Number(startPos) + i)!));
      // An MMR holding only the pins for `start` can adopt them and reach the same root.
      const pins = extractPinnedNodes(proof, BigInt(start), BigInt(end));
      const partial = MemMmr.fromComponents({ prunedToPos: Number(startPos), pinnedNodes: pins });
      partial.appendNodes(nodes);
      const reference = mmrOf(end);
      expect(hex(partial.root())).toBe(hex(reference.root()));
    }
    const proof = mmr.rangeProof(10n, 20n);
    expect(() => verifyRangeAndCollect(proof, elements(10, 20), 10n, flip(root))).toThrow(/RootMismatch/);
    expect(() => verifyRangeAndCollect(proof, elements(10, 19), 10n, root)).toThrow(/InvalidProof|RootMismatch/);
  });

  test("property: batched verification yields the per-node path's nodes and root (odd sizes, batches up to 1100, pruned at the start)", () => {
    const big = mmrOf(5000);
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 4999 }).chain((start) => fc.tuple(fc.constant(start), fc.integer({ min: start + 1, max: Math.min(5000, start + 1100) }))),
        ([start, end]) => {
          // The simple path: an MMR pruned at `start` (pins only) appends the elements one by one.
          const startPos = Number(locationToPosition(BigInt(start)));
          const pins = nodesToPin(BigInt(startPos)).map((p) => big.getNode(Number(p))!);
          const simple = MemMmr.fromComponents({ prunedToPos: startPos, pinnedNodes: pins });
          for (const e of elements(start, end)) simple.add(e);
          const proof = simple.rangeProof(BigInt(start), BigInt(end));
          const verified = verifyRangeAndCollect(proof, elements(start, end), BigInt(start), simple.root());
          const want = Array.from({ length: simple.size - startPos }, (_, i) => hex(simple.getNode(startPos + i)!)).join("");
          expect(hex(verified.nodes)).toBe(want);
          // Adopting them across the pruning boundary reaches the same root as the full MMR of `end` leaves.
          const adopted = MemMmr.fromComponents({ prunedToPos: startPos, pinnedNodes: pins });
          adopted.appendNodes(verified.nodes);
          expect(hex(adopted.root())).toBe(hex(mmrOf(end).root()));
        },
      ),
      { numRuns: 150 },
    );
  });

  test("batched verification at deep locations (low 32 bits wrapping, 33 trailing ones) equals the per-node path", () => {
    for (const [start, n] of [
      [2 ** 32 - 3, 7],
      [2 ** 33 - 6, 20],
      [2 ** 33 - 1, 1],
      [2 ** 40 + 1_234_567, 1001],
      [2 ** 51 - 500, 1000],
    ] as const) {
      const startPos = Number(locationToPosition(BigInt(start)));
      const pins = nodesToPin(BigInt(startPos)).map((_, i) => element(50_000 + i));
      const simple = MemMmr.fromComponents({ prunedToPos: startPos, pinnedNodes: pins });
      const els = Array.from({ length: n }, (_, i) => element(start + i));
      for (const e of els) simple.add(e);
      const proof = simple.rangeProof(BigInt(start), BigInt(start + n));
      const { nodes } = verifyRangeAndCollect(proof, els, BigInt(start), simple.root());
      const want = Array.from({ length: simple.size - startPos }, (_, i) => hex(simple.getNode(startPos + i)!)).join("");
      expect(`${start}: ${hex(nodes)}`).toBe(`${start}: ${want}`);
    }
  });

  test("extractPinnedNodes returns the peaks left of the start for every range of 1..64 leaves", () => {
    for (let leaves = 1; leaves <= 64; leaves++) {
      const mmr = mmrOf(leaves);
      for (let start = 0; start < leaves; start++) {
        for (const end of new Set([start + 1, leaves, Math.min(leaves, start + 5)])) {
          const proof = mmr.rangeProof(BigInt(start), BigInt(end));
          const pins = extractPinnedNodes(proof, BigInt(start), BigInt(end));
          const expected = nodesToPin(locationToPosition(BigInt(start))).map((p) => hex(mmr.getNode(Number(p))!));
          expect(pins.map(hex)).toEqual(expected);
        }
      }
    }
  });

  test("empty element lists verify only at location 0 against the root of the proof size", () => {
    expect(verifyRangeInclusion({ size: 0n, digests: [] }, [], 0n, unhex(MMR_ROOTS[0]!))).toBe(true);
    expect(verifyRangeInclusion({ size: 0n, digests: [] }, [], 1n, unhex(MMR_ROOTS[0]!))).toBe(false);
    expect(verifyRangeInclusion({ size: 19n, digests: [] }, [], 0n, unhex(MMR_ROOTS[0]!))).toBe(false);
  });

  test("positions above 2^53 are exact: a single-leaf proof deep in a 2^61-leaf MMR", () => {
    // Build the proof's siblings from arbitrary digests and compute the expected root bottom-up
    // with an independent walk of the leaf's path.
    const leaves = (1n << 61n) + 5n;
    const size = mmrSize(leaves);
    const loc = (1n << 60n) + 12345n;
    const leafPos = locationToPosition(loc);
    const positions = nodesRequiredForRangeProof(size, loc, loc + 1n);
    const digestAt = new Map(positions.map((p, i) => [p, element(1000 + i)] as const));
    const el = element(42);
    const ps = peaks(size);
    const peak = ps.find((p) => p.pos >= leafPos)!;
    let d = leafDigest(leafPos, el);
    for (const [parent, sibling] of pathToLeaf(leafPos, peak.pos, peak.height).reverse()) {
      const sib = digestAt.get(sibling)!;
      d = parent === sibling + 1n ? nodeDigest(parent, d, sib) : nodeDigest(parent, sib, d);
    }
    const root = rootDigest(
      size,
      ps.map((p) => (p.pos === peak.pos ? d : digestAt.get(p.pos)!)),
    );
    const proof = { size, digests: positions.map((p) => digestAt.get(p)!) };
    expect(positions.every((p) => p > 2n ** 53n)).toBe(true); // every digest sits beyond 2^53
    expect(hex(reconstructRoot(proof, [el], loc))).toBe(hex(root));
    expect(verifyRangeInclusion(proof, [el], loc, root)).toBe(true);
    // Neighbouring locations differ only below 2^53 precision; they must not verify.
    expect(verifyRangeInclusion(proof, [el], loc + 1n, root)).toBe(false);
    expect(verifyRangeInclusion(proof, [el], loc - 2n, root)).toBe(false);
  });
});
