import type { MultiSourceResolver, ServerTarget } from "../client";
import { createLogger } from "../telemetry";
import { UpstreamTargets } from "./upstream-targets";

const target = (upper: number, kind: "any" | "immutable" = "any"): ServerTarget => ({
  kind,
  target: { root: new Uint8Array(32), lowerBound: 0n, upperBound: BigInt(upper) },
  signature: new Uint8Array(0),
  signer: new Uint8Array(0),
});

/** An upstream that pushes `targets` once, then has nothing more to say. */
function upstream(targets: ServerTarget[]): MultiSourceResolver {
  return {
    addresses: ["127.0.0.1:1"],
    async *watchSyncTarget() {
      yield* targets;
    },
    getSyncTarget: () => new Promise<ServerTarget>(() => {}),
  } as unknown as MultiSourceResolver;
}

test("keeps the newest target of the upstream's kind, wakes waiters, and bounds what it remembers of unserved targets", async () => {
  const offers = [target(5, "immutable"), ...Array.from({ length: 10_000 }, (_, i) => target(10 + i)), target(3)];
  const newest: bigint[] = [];
  const targets = new UpstreamTargets(upstream(offers), "any", 60_000, createLogger("test", { level: "silent", pretty: false }), (t) =>
    newest.push(t.target.upperBound),
  );
  const stop = new AbortController();
  const waiting = targets.newerThan(9_000n, stop.signal);
  void targets.run(stop.signal);
  expect((await waiting)!.target.upperBound).toBeGreaterThan(9_000n);
  await targets.newerThan(10_008n, stop.signal);
  expect(targets.latest!.target.upperBound).toBe(10_009n); // the immutable one and the older 3 are ignored
  expect(newest.length).toBe(10_000);
  expect(targets.unservedCount).toBeGreaterThan(0);
  expect(targets.unservedCount).toBeLessThanOrEqual(4096);

  expect(targets.secondsBehind(Date.now() + 2000)).toBeGreaterThanOrEqual(2);
  targets.served(5_000n);
  expect(targets.secondsBehind(Date.now() + 2000)).toBeGreaterThanOrEqual(2);
  targets.served(10_009n);
  expect(targets.secondsBehind()).toBe(0);
  stop.abort();
});
