import { AnyDb, ANY_KIND } from "./any";
import { ImmutableDb, IMMUTABLE_KIND } from "./immutable";
import { SyncLog } from "./sync-log";
import { createAnyTestOperations, createImmutableTestOperations } from "./generator";
import { extractPinnedNodes, verifyRangeAndCollect } from "../mmr";
import type { DbKind } from "./kind";
import { hex } from "../../test/helpers/vectors";
import { tempDir } from "../../test/helpers/tmp";

const OPTIONS = { logItemsPerBlob: 16, mmrItemsPerBlob: 16 };

interface Server {
  historicalProof(opCount: bigint, start: bigint, max: bigint): { proof: import("../mmr").Proof; operations: unknown[] };
  root(): Uint8Array;
  opCount: bigint;
}

/** Fetches, verifies and appends `[from, until)` in batches of `batch`, as a sync engine would. */
async function fill<Op, D>(kind: DbKind<Op, D>, log: SyncLog<Op, D>, server: Server, root: Uint8Array, until: bigint, batch = 7n): Promise<void> {
  while (log.size < until) {
    const start = log.needsPins ? log.start : log.size;
    const { proof, operations } = server.historicalProof(log.upper, start, batch);
    const encoded = (operations as Op[]).map((op) => kind.codec.encode(op));
    const verified = verifyRangeAndCollect(proof, encoded, start, root);
    const pins = log.needsPins ? extractPinnedNodes(proof, start, start + BigInt(encoded.length)) : undefined;
    await log.appendVerified(start, encoded, verified.nodes, pins);
  }
}

async function anyServer(dir: string, batches: number): Promise<AnyDb> {
  const db = await AnyDb.open(dir, OPTIONS);
  for (let b = 0; b < batches; b++) for (const op of createAnyTestOperations(23, BigInt(b))) await db.apply(op);
  // Overwrite some keys so the floor rises well above 0.
  for (let b = 0; b < batches; b++) for (const op of createAnyTestOperations(23, BigInt(b))) await db.apply(op);
  return db;
}

describe("SyncLog: the client side of state sync", () => {
  test("any: a fresh sync from a lower bound > 0 reaches the server's root, and the result reopens as a database", async () => {
    const server = await anyServer(tempDir(), 4);
    const lower = server.inactivityFloorLoc;
    const upper = server.opCount;
    expect(lower).toBeGreaterThan(0n);
    const dir = tempDir();
    const log = await SyncLog.open(ANY_KIND, dir, lower, upper, OPTIONS);
    expect(log.origin).toBe("empty");
    expect(log.needsPins).toBe(true);
    await fill(ANY_KIND, log, server, server.root(), upper);
    const db = await log.finish();
    expect(hex(db.root())).toBe(hex(server.root()));
    expect(db.opCount).toBe(upper);
    expect(db.inactivityFloorLoc).toBe(server.inactivityFloorLoc);
    for (const op of createAnyTestOperations(23, 3n)) {
      if (op.type === "update") expect(hex(db.get(op.key)!)).toBe(hex(server.get(op.key)!));
    }
    // The synced database keeps working like any other.
    db.update(new Uint8Array(32).fill(7), new Uint8Array(32).fill(8));
    await db.commit();
    server.update(new Uint8Array(32).fill(7), new Uint8Array(32).fill(8));
    await server.commit();
    expect(hex(db.root())).toBe(hex(server.root()));
    await db.close();
    await server.close();
  });

  test("any: an interrupted sync resumes from what it holds, and follows a moved target", async () => {
    const server = await anyServer(tempDir(), 3);
    const first = { lower: server.inactivityFloorLoc, upper: server.opCount, root: server.root() };
    const dir = tempDir();
    let log = await SyncLog.open(ANY_KIND, dir, first.lower, first.upper, OPTIONS);
    await fill(ANY_KIND, log, server, first.root, first.lower + 20n);
    await log.commit();
    const held = log.size;
    await log.close();

    for (const op of createAnyTestOperations(15, 99n)) await server.apply(op);
    const second = { lower: server.inactivityFloorLoc, upper: server.opCount, root: server.root() };
    log = await SyncLog.open(ANY_KIND, dir, first.lower, first.upper, OPTIONS);
    expect(log.origin).toBe("reused");
    expect(log.size).toBe(held);
    await log.retarget(second.lower, second.upper);
    await fill(ANY_KIND, log, server, second.root, second.upper);
    const db = await log.finish();
    expect(hex(db.root())).toBe(hex(second.root));
    await db.close();
    await server.close();
  });

  test("any: a local log longer than the target, or a stale one, is replaced", async () => {
    const server = await anyServer(tempDir(), 2);
    const target = { lower: server.inactivityFloorLoc, upper: server.opCount, root: server.root() };
    const dir = tempDir();
    let log = await SyncLog.open(ANY_KIND, dir, target.lower, target.upper, OPTIONS);
    await fill(ANY_KIND, log, server, target.root, target.upper);
    await (await log.finish()).close();

    // An older, smaller target: the local log is longer than it, so it is replaced.
    log = await SyncLog.open(ANY_KIND, dir, target.lower, target.upper - 10n, OPTIONS);
    expect(log.origin).toBe("replaced");
    expect(log.reason).toMatch(/more than the target/);
    expect(log.size).toBe(target.lower);
    await log.close();

    // A target whose lower bound is beyond everything held: start over at the new lower bound.
    log = await SyncLog.open(ANY_KIND, dir, target.upper + 5n, target.upper + 50n, OPTIONS);
    expect(log.origin).toBe("replaced");
    expect(log.size).toBe(target.upper + 5n);
    expect(log.needsPins).toBe(true);
    await log.destroy();
    await server.close();
  });

  test("immutable: sync from a pruned server (section-aligned lower bound)", async () => {
    const server = await ImmutableDb.open(tempDir(), OPTIONS);
    for (let b = 0; b < 5; b++) for (const op of createImmutableTestOperations(17, BigInt(b))) await server.apply(op);
    await server.prune(40n);
    const lower = server.oldestRetainedLoc;
    expect(lower).toBe(32n);
    const log = await SyncLog.open(IMMUTABLE_KIND, tempDir(), lower, server.opCount, OPTIONS);
    await fill(IMMUTABLE_KIND, log, server, server.root(), server.opCount, 5n);
    const db = await log.finish();
    expect(hex(db.root())).toBe(hex(server.root()));
    expect(db.oldestRetainedLoc).toBe(32n);
    await db.close();
    await server.close();
  });

  test("appends out of order or beyond the upper bound are refused", async () => {
    const server = await anyServer(tempDir(), 1);
    const log = await SyncLog.open(ANY_KIND, tempDir(), 0n, server.opCount, OPTIONS);
    expect(log.needsPins).toBe(false);
    const { operations } = server.historicalProof(server.opCount, 5n, 3n);
    await expect(log.appendVerified(5n, operations.map(ANY_KIND.codec.encode))).rejects.toThrow(/gap/);
    await log.destroy();
    await server.close();
  });
});
