import { MemMmr } from "./mem";
import { MmrError } from "./errors";
import { leafDigest, nodeDigest, rootDigest } from "./hasher";
import { locationToPosition } from "./position";
import { be64, element, hex, MMR_ROOTS, refSha256 } from "../../test/helpers/vectors";

function build(n: number): MemMmr {
  const mmr = new MemMmr();
  for (let i = 0; i < n; i++) mmr.add(element(i));
  return mmr;
}

describe("MemMmr against commonware's stability vectors", () => {
  test("reproduces all 200 roots (mmr-roots.txt)", () => {
    expect(MMR_ROOTS).toHaveLength(200);
    const mmr = new MemMmr();
    for (let i = 0; i < 200; i++) {
      expect(hex(mmr.root())).toBe(MMR_ROOTS[i]);
      if (i < 199) mmr.add(element(i));
    }
  });

  test("leaf, parent and root digests follow docs/formats.md, recomputed with an independent SHA-256", () => {
    const l0 = refSha256(be64(0), element(0));
    const l1 = refSha256(be64(1), element(1));
    const n2 = refSha256(be64(2), l0, l1);
    expect(hex(leafDigest(0, element(0)))).toBe("765b3f4a9dc9544f1a1b154738146871f74da58fa11f7e8a87bdd39f9a5962bf");
    expect(hex(l0)).toBe("765b3f4a9dc9544f1a1b154738146871f74da58fa11f7e8a87bdd39f9a5962bf");
    expect(hex(nodeDigest(2, l0, l1))).toBe("ac8e11d059ac3159ed060d00d06bf9577af687f45eceb7564d25be35f58d364c");
    expect(hex(nodeDigest(2n, l0, l1))).toBe(hex(n2));
    expect(hex(rootDigest(3, [n2]))).toBe(MMR_ROOTS[2]);
    expect(hex(rootDigest(0, []))).toBe("af5570f5a1810b7af78caf4bc70a660f0df51e42baf91d4de5b2328de0e83dfc");
    expect(hex(new MemMmr().root())).toBe(hex(refSha256(be64(0))));
  });

  test("11 adds land at the pinned leaf positions", () => {
    const mmr = new MemMmr();
    const positions = Array.from({ length: 11 }, (_, i) => mmr.add(element(i)));
    expect(positions).toEqual([0, 1, 3, 4, 7, 8, 10, 11, 15, 16, 18]);
    expect(mmr.size).toBe(19);
    expect(mmr.leaves).toBe(11);
  });

  test("popping 199 → 0 walks back through every root", () => {
    const mmr = build(199);
    for (let i = 199; i > 0; i--) {
      expect(hex(mmr.root())).toBe(MMR_ROOTS[i]);
      mmr.pop();
    }
    expect(hex(mmr.root())).toBe(MMR_ROOTS[0]);
    expect(() => mmr.pop()).toThrow(MmrError);
  });

  test("pruning everything after each add keeps every root", () => {
    const mmr = new MemMmr();
    for (let i = 0; i < 199; i++) {
      mmr.add(element(i));
      mmr.pruneAll();
      expect(hex(mmr.root())).toBe(MMR_ROOTS[i + 1]);
    }
    expect(() => mmr.pop()).toThrow(/ElementPruned/);
  });

  test("batch leaf update vector (mem.rs do_batch_update) and its inverse", () => {
    const mmr = build(199);
    const replacement = new TextEncoder().encode("01234567012345670123456701234567");
    const locs = [0, 1, 10, 50, 100, 150, 197, 198];
    for (const loc of locs) mmr.updateLeaf(BigInt(loc), replacement);
    expect(hex(mmr.root())).toBe("af3acad6aad59c1a880de643b1200a0962a95d06c087ebf677f29eb93fc359a4");
    for (const loc of locs) mmr.updateLeaf(BigInt(loc), element(loc));
    expect(hex(mmr.root())).toBe(MMR_ROOTS[199]);
    expect(() => mmr.updateLeaf(199n, replacement)).toThrow(/LeafOutOfBounds/);
  });

  test("pruning keeps the root, appends continue, and retained leaves stay provable", () => {
    for (const boundary of [0, 1, 7, 14, 19, 100, 391]) {
      const mmr = build(199);
      const root = hex(mmr.root());
      mmr.pruneToPos(Math.min(boundary, mmr.size));
      expect(hex(mmr.root())).toBe(root);
      for (let i = 199; i < 230; i++) mmr.add(element(i));
      const reference = build(230);
      expect(hex(mmr.root())).toBe(hex(reference.root()));
      for (let loc = 0; loc < 230; loc++) {
        const pos = Number(locationToPosition(BigInt(loc)));
        const expected = reference.rangeProof(BigInt(loc), BigInt(loc + 1));
        if (pos >= mmr.prunedToPos) {
          expect(mmr.rangeProof(BigInt(loc), BigInt(loc + 1))).toEqual(expected);
        } else {
          // A pruned leaf is provable only while every node its proof needs is still held.
          let proof;
          try {
            proof = mmr.rangeProof(BigInt(loc), BigInt(loc + 1));
          } catch (err) {
            expect((err as MmrError).kind).toBe("ElementPruned");
          }
          if (proof !== undefined) expect(proof).toEqual(expected);
        }
      }
    }
  });

  test("a proof that needs a pruned, unpinned node fails with ElementPruned", () => {
    const mmr = build(199);
    mmr.pruneToPos(300);
    expect(() => mmr.rangeProof(0n, 1n)).toThrow(/ElementPruned/);
  });

  test("fromComponents rebuilds a pruned MMR with the same root and validates its input", () => {
    const full = build(11);
    const nodes = Array.from({ length: full.size - 14 }, (_, i) => full.getNode(14 + i)!);
    const pins = [6, 9, 10].map((p) => full.getNode(p)!);
    const rebuilt = MemMmr.fromComponents({ nodes, prunedToPos: 14, pinnedNodes: pins });
    expect(hex(rebuilt.root())).toBe(hex(full.root()));
    rebuilt.add(element(11));
    full.add(element(11));
    expect(hex(rebuilt.root())).toBe(hex(full.root()));
    expect(() => MemMmr.fromComponents({ nodes: nodes.slice(2), prunedToPos: 14, pinnedNodes: pins })).toThrow(/InvalidSize/);
    expect(() => MemMmr.fromComponents({ nodes, prunedToPos: 14, pinnedNodes: pins.slice(1) })).toThrow(/InvalidPinnedNodes/);
  });

  test("an MMR fully pruned at size S resumes from the peaks of S alone", () => {
    const full = build(100);
    const resumed = MemMmr.fromComponents({ prunedToPos: full.size, pinnedNodes: full.peakDigests() });
    expect(hex(resumed.root())).toBe(hex(full.root()));
    for (let i = 100; i < 150; i++) {
      full.add(element(i));
      resumed.add(element(i));
    }
    expect(hex(resumed.root())).toBe(hex(full.root()));
  });
});
