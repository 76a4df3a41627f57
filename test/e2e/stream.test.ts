/**
 * End-to-end: sync targets and streamed proof batches from a real server process that keeps
 * appending (a batch every 20 ms). Every streamed message must verify on its own against the
 * target root, across the whole range [lower_bound, upper_bound), for both database kinds.
 */
import { DatabaseKind, type GetSyncTargetResponse } from "../../gen/commonware/sync/v1/sync";
import { verifyRangeInclusion } from "../../src/mmr";
import { encodeProtoOperation } from "../../src/wire";
import {
  KINDS,
  type Kind,
  type ServerProcess,
  cleanup,
  collectStream,
  getTarget,
  hex,
  startServer,
  syncClient,
  verifyStream,
  waitForTargetAbove,
} from "./harness";

jest.setTimeout(30_000);

const servers = new Map<Kind, ServerProcess>();

beforeAll(async () => {
  const started = await Promise.all(KINDS.map((db) => startServer({ db, initialOps: 200, opInterval: "20ms" })));
  KINDS.forEach((k, i) => servers.set(k, started[i]!));
});
afterAll(cleanup);

const BATCH = 7;

describe.each(KINDS)("--db %s", (kind) => {
  const server = (): ServerProcess => servers.get(kind)!;

  test("GetSyncTarget reports the database kind, a 32-byte root and lower < upper, matching a committed state the server logged", async () => {
    const { database, target } = await getTarget(syncClient(server().addr));
    expect(database).toBe(kind === "any" ? DatabaseKind.DATABASE_KIND_ANY : DatabaseKind.DATABASE_KIND_IMMUTABLE);
    expect(target).toBeDefined();
    expect(target!.root.length).toBe(32);
    expect(target!.lowerBound).toBeLessThan(target!.upperBound);
    // The served target is a state the server announced ("database ready" or "added operations").
    const logged = await server().waitForLog(
      (l) => (l.msg === "database ready" || l.msg === "added operations") && l.op_count === target!.upperBound.toString(),
      `a log line with op_count ${target!.upperBound}`,
    );
    expect(logged.root).toBe(hex(target!.root));
  });

  test(`GetOperations streams [lower, upper) in batches of ${BATCH}; every message verifies while the server appends, and again for a newer target`, async () => {
    const client = syncClient(server().addr);
    const first: GetSyncTargetResponse = await getTarget(client);
    const t1 = first.target!;
    // After the first message, stop reading until the server has committed a batch beyond t1:
    // the rest of the stream is served while the database is larger than the target.
    let grewTo = 0n;
    const pass1 = await collectStream(
      client,
      { opCount: t1.upperBound, startLoc: t1.lowerBound, maxOps: t1.upperBound - t1.lowerBound, batchSize: BATCH },
      {
        readDelayMs: 1,
        onMessage: (_m, i) =>
          i === 0
            ? server()
                .waitForLog((l) => l.msg === "added operations" && BigInt(l.op_count as string) > t1.upperBound, `a batch beyond ${t1.upperBound}`)
                .then((l) => (grewTo = BigInt(l.op_count as string)))
            : undefined,
      },
    );
    expect(grewTo).toBeGreaterThan(t1.upperBound); // the database did grow while we streamed
    const v1 = verifyStream(kind, t1.root, t1.upperBound, t1.lowerBound, t1.upperBound, pass1);
    expect(v1.messages).toBeGreaterThanOrEqual(Math.ceil(v1.operations / BATCH));
    expect(v1.messages).toBeGreaterThan(3);
    expect(v1.largestBatch).toBeLessThanOrEqual(BATCH);

    // The verification is not vacuous: a changed operation or another root fails.
    const m = pass1[0]!;
    const elements = m.operations.map((op) => encodeProtoOperation(kind, op));
    expect(verifyRangeInclusion(m.proof!, elements, m.startLoc, t1.root)).toBe(true);
    const tampered = elements.map((e) => e.slice());
    tampered[0]![tampered[0]!.length - 1]! ^= 1;
    expect(verifyRangeInclusion(m.proof!, tampered, m.startLoc, t1.root)).toBe(false);

    // Second full pass against a newer target.
    const t2 = (await waitForTargetAbove(client, t1.upperBound)).target!;
    expect(hex(t2.root)).not.toBe(hex(t1.root));
    expect(t2.lowerBound).toBeGreaterThanOrEqual(t1.lowerBound);
    const pass2 = await collectStream(client, { opCount: t2.upperBound, startLoc: t2.lowerBound, maxOps: t2.upperBound - t2.lowerBound, batchSize: BATCH });
    verifyStream(kind, t2.root, t2.upperBound, t2.lowerBound, t2.upperBound, pass2);
    expect(
      verifyRangeInclusion(
        pass2[0]!.proof!,
        pass2[0]!.operations.map((op) => encodeProtoOperation(kind, op)),
        pass2[0]!.startLoc,
        t1.root,
      ),
    ).toBe(false);

    // The old target is still servable (historical proofs) after the database moved on.
    const again = await collectStream(client, { opCount: t1.upperBound, startLoc: 0n, maxOps: t1.upperBound, batchSize: 0 });
    verifyStream(kind, t1.root, t1.upperBound, 0n, t1.upperBound, again);
  });

  test("max_ops clamps the stream and batch_size 0 selects the server default", async () => {
    const client = syncClient(server().addr);
    const t = (await getTarget(client)).target!;
    const msgs = await collectStream(client, { opCount: t.upperBound, startLoc: 1n, maxOps: 10n, batchSize: 3 });
    verifyStream(kind, t.root, t.upperBound, 1n, 11n, msgs);
    expect(msgs.map((x) => x.operations.length)).toEqual([3, 3, 3, 1]);
    // max_ops past the end is clamped to op_count.
    const tail = await collectStream(client, { opCount: t.upperBound, startLoc: t.upperBound - 2n, maxOps: 1000n, batchSize: 0 });
    verifyStream(kind, t.root, t.upperBound, t.upperBound - 2n, t.upperBound, tail);
  });
});
