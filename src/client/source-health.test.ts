import { SourceHealth } from "./source-health";

describe("SourceHealth", () => {
  const policy = { invalidBaseMs: 1000, failureBaseMs: 100, maxMs: 5000 };

  test("unmeasured sources are tried first, then work goes by throughput per request in flight", () => {
    const h = new SourceHealth(["a:1", "b:1"], policy);
    const [a, b] = h.sources;
    expect(h.pick(new Set(), 0)).toBe(a);
    a!.inFlight = 1;
    expect(h.pick(new Set(), 0)).toBe(b); // a is busy, b unmeasured
    a!.inFlight = 0;
    h.recordThroughput(a!, 1000, 1000); // 1000 ops/s
    h.recordThroughput(b!, 100, 1000); // 100 ops/s
    expect(h.pick(new Set(), 0)).toBe(a);
    a!.inFlight = 5; // 1000/6 = 167 per request still beats 100
    expect(h.pick(new Set(), 0)).toBe(a);
    a!.inFlight = 10; // 1000/11 = 91 < 100
    expect(h.pick(new Set(), 0)).toBe(b);
    expect(h.pick(new Set([b!]), 0)).toBe(a);
  });

  test("invalid data excludes a source for a cool-down that doubles per offence, up to the cap", () => {
    const h = new SourceHealth(["a:1", "b:1"], policy);
    const [a, b] = h.sources;
    expect(h.excludeInvalid(a!, 0)).toBe(1000);
    expect(h.pick(new Set(), 500)).toBe(b);
    expect(h.pick(new Set([b!]), 500)).toBeUndefined();
    expect(h.nextAvailableInMs(500)).toBe(0); // b is available
    expect(h.pick(new Set([b!]), 1000)).toBe(a); // served its time
    expect(h.excludeInvalid(a!, 1000)).toBe(2000);
    expect(h.excludeInvalid(a!, 1000)).toBe(4000);
    expect(h.excludeInvalid(a!, 1000)).toBe(5000);
    expect(a!.offences).toBe(4);
    h.recordThroughput(b!, 100, 1000);
    expect(h.pick(new Set(), 10_000)).toBe(b); // the liar's throughput credit is gone
    b!.inFlight = 1_000_000;
    expect(h.pick(new Set(), 10_000)).toBe(b); // even a busy honest source has a share above zero
    expect(h.pick(new Set([b!]), 10_000)).toBe(a);
  });

  test("failures rest a source briefly, doubling while they go on; a success resets them", () => {
    const h = new SourceHealth(["a:1"], policy);
    const [a] = h.sources;
    expect(h.restFailed(a!, 0, 0)).toBe(100);
    expect(h.restFailed(a!, 0, 0)).toBe(200);
    expect(h.restFailed(a!, 1500, 0)).toBe(1500); // the delay the source asked for
    expect(h.nextAvailableInMs(0)).toBe(1500);
    h.recordThroughput(a!, 10, 10);
    expect(a!.failures).toBe(0);
    expect(h.restFailed(a!, 0, 2000)).toBe(100);
  });
});
