import fc from "fast-check";
import { AnyDb } from "./any";
import { createAnyTestOperations } from "./generator";
import { verifyRangeInclusion, mmrSize } from "../mmr";
import { encodeAnyOperation } from "./operation";
import { be64, hex, refSha256 } from "../../test/helpers/vectors";
import { tempDir } from "../../test/helpers/tmp";

const fill = (b: number): Uint8Array => new Uint8Array(32).fill(b);
const keyOf = (i: number): Uint8Array => refSha256(be64(i));

describe("AnyDb", () => {
  test("fresh database: one commit at location 0 with the pinned root", async () => {
    const db = await AnyDb.open(tempDir());
    expect(db.opCount).toBe(1n);
    expect(db.inactivityFloorLoc).toBe(0n);
    expect(hex(db.root())).toBe("ea6e0567a525372add5e4ef4d0600c18ed47fa5dd041a0ab0d25b60ea8c35978");
    await db.commit();
    expect(db.opCount).toBe(2n);
    await db.close();
  });

  test("worked example: op counts and floors pinned by the Rust tests", async () => {
    const dir = tempDir();
    const db = await AnyDb.open(dir);
    const d1 = fill(1);
    const d2 = fill(2);
    db.update(d1, d1); // create
    db.update(d2, d2); // create
    expect(db.delete(d1)).toBe(true);
    db.update(d1, d1);
    db.update(d2, d2);
    expect(db.opCount).toBe(6n);
    expect(db.inactivityFloorLoc).toBe(0n);
    await db.commit();
    expect(db.inactivityFloorLoc).toBe(7n);
    expect(db.opCount).toBe(10n);
    db.delete(d1);
    db.delete(d2);
    expect(db.opCount).toBe(12n);
    await db.commit();
    expect(db.inactivityFloorLoc).toBe(12n);
    expect(db.opCount).toBe(13n);
    expect(db.delete(d1)).toBe(false);
    expect(db.opCount).toBe(13n);
    await db.commit();
    expect(db.opCount).toBe(14n);
    db.update(d1, d1);
    db.update(d2, d2);
    db.delete(d1);
    db.update(d2, d2);
    db.update(d1, d1);
    await db.commit();
    expect(db.opCount).toBe(23n);
    const root = hex(db.root());
    await db.close();
    const reopened = await AnyDb.open(dir);
    expect(hex(reopened.root())).toBe(root);
    expect(reopened.opCount).toBe(23n);
    expect(hex(reopened.get(d1)!)).toBe(hex(d1));
    await reopened.close();
  });

  test("1000 keys, 334 overwrites, 143 deletes: 1478 ops, then one commit → 1957 ops, floor 838", async () => {
    const db = await AnyDb.open(tempDir());
    for (let i = 0; i < 1000; i++) db.update(keyOf(i), keyOf(i + 10_000));
    for (let i = 0; i < 1000; i += 3) db.update(keyOf(i), keyOf(i + 20_000));
    for (let i = 0; i < 1000; i++) if (i % 7 === 1) db.delete(keyOf(i));
    expect(db.opCount).toBe(1478n);
    expect(db.inactivityFloorLoc).toBe(0n);
    await db.commit();
    expect(db.opCount).toBe(1957n);
    expect(db.inactivityFloorLoc).toBe(838n);
    expect(db.activeKeys).toBe(1000 - 143);
    await db.close();
  });

  test("1000 new keys, 334 overwrites, 143 deletes, each committed: 1961 ops, floor 756, 857 active keys", async () => {
    const db = await AnyDb.open(tempDir());
    for (let i = 0; i < 1000; i++) db.update(keyOf(i), keyOf(i + 10_000));
    await db.commit();
    for (let i = 0; i < 1000; i += 3) db.update(keyOf(i), keyOf(i + 20_000));
    await db.commit();
    for (let i = 0; i < 1000; i++) if (i % 7 === 1) db.delete(keyOf(i));
    await db.commit();
    expect(db.opCount).toBe(1961n);
    expect(db.inactivityFloorLoc).toBe(756n);
    expect(db.activeKeys).toBe(857);
    await db.close();
  });

  test("empty-database behaviour: op_count − floor stays ≤ 3 for one key; deleting the last key puts the floor at the commit", async () => {
    const db = await AnyDb.open(tempDir());
    for (let i = 0; i < 20; i++) {
      db.update(fill(9), fill(i));
      await db.commit();
      expect(db.opCount - db.inactivityFloorLoc).toBeLessThanOrEqual(3n);
    }
    db.delete(fill(9));
    await db.commit();
    expect(db.inactivityFloorLoc).toBe(db.opCount - 1n);
    await db.close();
  });

  test("cross-check roots derived by an independent model: create_test_operations(5, 12345)", async () => {
    const db = await AnyDb.open(tempDir());
    for (const op of createAnyTestOperations(5, 12345n)) await db.apply(op);
    expect(db.opCount).toBe(8n);
    expect(db.inactivityFloorLoc).toBe(2n);
    expect(hex(db.root())).toBe("76ef2a36495f94d1a6a793d500f6fbb5663896b5e30994f2888f2f562517e933");
    await db.commit();
    expect(db.opCount).toBe(10n);
    expect(db.inactivityFloorLoc).toBe(3n);
    expect(hex(db.root())).toBe("9e57c79373cb73085330a36ce726decc8678d452e049f7ce3bf4792b6217cdcf");
    await db.close();
  });

  test("reopen discards uncommitted operations", async () => {
    const dir = tempDir();
    const db = await AnyDb.open(dir);
    db.update(fill(1), fill(1));
    await db.commit();
    const root = hex(db.root());
    db.update(fill(2), fill(2));
    db.delete(fill(1));
    await db.close();
    const reopened = await AnyDb.open(dir);
    expect(hex(reopened.root())).toBe(root);
    expect(reopened.get(fill(2))).toBeUndefined();
    expect(hex(reopened.get(fill(1))!)).toBe(hex(fill(1)));
    await reopened.close();
  });

  test("historical proofs verify for random (opCount, start, max), and pruned starts fail with a typed error", async () => {
    const db = await AnyDb.open(tempDir(), { logItemsPerBlob: 16, mmrItemsPerBlob: 16 });
    const roots: Uint8Array[] = [db.root()];
    for (let round = 0; round < 40; round++) {
      for (let i = 0; i < 5; i++) db.update(keyOf((round * 7 + i) % 60), keyOf(round * 100 + i));
      if (round % 3 === 0) db.delete(keyOf(round % 60));
      await db.commit();
      roots[Number(db.opCount) - 1] = db.root();
    }
    const committed = roots.map((r, i) => (r === undefined ? -1 : i + 1)).filter((n) => n > 0);
    const check = (opCount: number, start: number, max: number): void => {
      const { proof, operations } = db.historicalProof(BigInt(opCount), BigInt(start), BigInt(max));
      expect(proof.size).toBe(mmrSize(BigInt(opCount)));
      expect(operations.length).toBe(Math.min(max, opCount - start));
      expect(verifyRangeInclusion(proof, operations.map(encodeAnyOperation), BigInt(start), roots[opCount - 1]!)).toBe(true);
    };
    fc.assert(
      fc.property(fc.constantFrom(...committed), fc.nat(), fc.integer({ min: 1, max: 50 }), (opCount, s, max) => check(opCount, s % opCount, max)),
      { numRuns: 150 },
    );
    expect(() => db.historicalProof(db.opCount + 1n, 0n, 1n)).toThrow(/RangeOutOfBounds/);
    expect(() => db.historicalProof(10n, 10n, 1n)).toThrow(/RangeOutOfBounds/);
    await expect(db.prune(db.inactivityFloorLoc + 1n)).rejects.toThrow(/PruneBeyondMinRequired/);
    const rootBefore = hex(db.root());
    await db.prune(db.inactivityFloorLoc);
    expect(hex(db.root())).toBe(rootBefore);
    const boundary = Number(db.oldestRetainedLoc);
    expect(boundary).toBeGreaterThan(0);
    expect(() => db.historicalProof(db.opCount, BigInt(boundary - 1), 5n)).toThrow(/OperationPruned/);
    fc.assert(
      fc.property(fc.constantFrom(...committed.filter((c) => c > boundary)), fc.nat(), fc.integer({ min: 1, max: 50 }), (opCount, s, max) =>
        check(opCount, boundary + (s % (opCount - boundary)), max),
      ),
      { numRuns: 100 },
    );
    await db.close();
  });
});
