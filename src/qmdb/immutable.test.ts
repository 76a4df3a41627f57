import { ImmutableDb } from "./immutable";
import { AnyDb } from "./any";
import { checkStoredKind } from "./kind";
import { createImmutableTestOperations } from "./generator";
import { encodeImmutableOperation } from "./operation";
import { verifyRangeInclusion } from "../mmr";
import { be64, hex, refSha256 } from "../../test/helpers/vectors";
import { tempDir } from "../../test/helpers/tmp";

const fill = (b: number): Uint8Array => new Uint8Array(32).fill(b);
const keyOf = (i: number): Uint8Array => refSha256(be64(i));

describe("ImmutableDb", () => {
  test("fresh database root and the op counts pinned by the Rust tests", async () => {
    const dir = tempDir();
    const db = await ImmutableDb.open(dir);
    expect(db.opCount).toBe(1n);
    expect(hex(db.root())).toBe("274963ee1b6f523beb13b54c68fedc36083e7cce73545a367ba17a6e4ddc7e07");
    db.set(fill(1), fill(2));
    await db.commit(fill(3));
    expect(db.opCount).toBe(3n);
    expect(hex(db.metadata!)).toBe(hex(fill(3)));
    db.set(fill(4), fill(5));
    expect(db.opCount).toBe(4n);
    await db.commit();
    expect(db.opCount).toBe(5n);
    expect(db.metadata).toBeUndefined();
    await db.close();

    const big = await ImmutableDb.open(tempDir());
    for (let i = 0; i < 2000; i++) big.set(keyOf(i), keyOf(i + 1));
    await big.commit();
    expect(big.opCount).toBe(2002n);
    await big.close();
  });

  test("cross-check roots derived by an independent model: create_test_operations(5, 12345)", async () => {
    const db = await ImmutableDb.open(tempDir());
    for (const op of createImmutableTestOperations(5, 12345n)) await db.apply(op);
    expect(db.opCount).toBe(7n);
    expect(hex(db.root())).toBe("712c44a6751e1170894337757a2fee4a97e3b009dc4fc405c9a7f506c418a751");
    await db.commit();
    expect(db.opCount).toBe(8n);
    expect(hex(db.root())).toBe("c47c9d96bb878160a35f957658052b3844b8399162f9069814654c3b5691d537");
    await db.close();
  });

  test("setting an existing key is rejected with KeyExists and appends nothing", async () => {
    const db = await ImmutableDb.open(tempDir());
    db.set(fill(1), fill(1));
    expect(() => db.set(fill(1), fill(2))).toThrow(/KeyExists/);
    expect(db.opCount).toBe(2n);
    expect(hex(db.get(fill(1))!)).toBe(hex(fill(1)));
    await db.close();
  });

  test("reopen keeps committed sets and discards uncommitted ones", async () => {
    const dir = tempDir();
    const db = await ImmutableDb.open(dir, { logItemsPerBlob: 8, mmrItemsPerBlob: 8 });
    for (let i = 0; i < 30; i++) db.set(keyOf(i), keyOf(i + 100));
    await db.commit();
    const root = hex(db.root());
    db.set(keyOf(500), keyOf(501));
    await db.close();
    const reopened = await ImmutableDb.open(dir, { logItemsPerBlob: 8, mmrItemsPerBlob: 8 });
    expect(hex(reopened.root())).toBe(root);
    expect(reopened.opCount).toBe(32n);
    expect(reopened.get(keyOf(500))).toBeUndefined();
    for (let i = 0; i < 30; i++) expect(hex(reopened.get(keyOf(i))!)).toBe(hex(keyOf(i + 100)));
    await reopened.close();
  });

  test("pruning: section-aligned boundary, proofs after it still verify, earlier starts are typed errors", async () => {
    const db = await ImmutableDb.open(tempDir(), { logItemsPerBlob: 8, mmrItemsPerBlob: 8 });
    for (let i = 0; i < 50; i++) {
      db.set(keyOf(i), keyOf(i));
      if (i % 5 === 4) await db.commit();
    }
    const root = db.root();
    await expect(db.prune(db.opCount)).rejects.toThrow(/PruneBeyondMinRequired/);
    await db.prune(21n);
    expect(db.oldestRetainedLoc).toBe(16n);
    expect(hex(db.root())).toBe(hex(root));
    expect(() => db.proof(15n, 3n)).toThrow(/OperationPruned/);
    const { proof, operations } = db.proof(16n, 100n);
    expect(operations).toHaveLength(Number(db.opCount) - 16);
    expect(verifyRangeInclusion(proof, operations.map(encodeImmutableOperation), 16n, root)).toBe(true);
    expect(db.get(keyOf(0))).toBeUndefined();
    expect(hex(db.get(keyOf(40))!)).toBe(hex(keyOf(40)));
    await db.close();
  });
});

describe("checkStoredKind", () => {
  test("refuses a directory holding the other kind of database, accepts its own and an empty one", async () => {
    const anyDir = tempDir();
    await (await AnyDb.open(anyDir)).close();
    await expect(checkStoredKind(anyDir, "immutable")).rejects.toThrow(/holds an any database, not an immutable one/);
    await expect(checkStoredKind(anyDir, "any")).resolves.toBeUndefined();
    const immDir = tempDir();
    await (await ImmutableDb.open(immDir)).close();
    await expect(checkStoredKind(immDir, "any")).rejects.toThrow(/holds an immutable database/);
    await expect(checkStoredKind(tempDir(), "any")).resolves.toBeUndefined();
  });
});
