/**
 * The send budget with a fake transport whose write callbacks the test fires: a stream waits
 * while its own queue or the total is at its limit and goes on when bytes are sent; a message
 * larger than the stream budget still goes out alone; closing gives everything back; a queue
 * that stops moving is reported stalled once, and one that moves is not. Plus client keys by
 * address (`peerAddress`).
 */
import { peerAddress } from "./grpc";
import { SendBudget, type StreamSender } from "./send-budget";

/** A transport that records writes and sends them only when told to. */
class FakeSink {
  readonly pending: Array<{ bytes: number; sent: () => void }> = [];
  write(message: Buffer, callback: () => void): void {
    this.pending.push({ bytes: message.length, sent: callback });
  }
  /** The transport sends its oldest queued message. */
  sendOne(): void {
    this.pending.shift()!.sent();
  }
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Whether `p` has settled after the event loop turned a few times. */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  void p.then(() => (done = true));
  for (let i = 0; i < 5; i++) await tick();
  return done;
}

function sender(budget: SendBudget, sink: FakeSink, onStall = (): void => {}): { s: StreamSender<Buffer>; ac: AbortController } {
  const ac = new AbortController();
  return { s: budget.open<Buffer>(sink, ac.signal, onStall), ac };
}

describe("SendBudget", () => {
  test("a stream waits at its own byte limit (not a message count) and goes on when bytes are sent", async () => {
    const budget = new SendBudget({ streamBytes: 1000, totalBytes: 1 << 20, stallTimeoutMs: 60_000 });
    const sink = new FakeSink();
    const { s } = sender(budget, sink);
    for (let i = 0; i < 4; i++) {
      await s.ready();
      s.send(Buffer.alloc(250));
    }
    expect(s.queuedBytes).toBe(1000);
    expect(budget.queuedBytes).toBe(1000);
    const next = s.ready();
    expect(await settled(next)).toBe(false);
    sink.sendOne();
    expect(await settled(next)).toBe(true);
    s.send(Buffer.alloc(250));
    expect(budget.queuedBytes).toBe(1000);
    s.close();
  });

  test("a message larger than the stream limit goes out alone", async () => {
    const budget = new SendBudget({ streamBytes: 100, totalBytes: 1 << 20, stallTimeoutMs: 60_000 });
    const sink = new FakeSink();
    const { s } = sender(budget, sink);
    await s.ready();
    s.send(Buffer.alloc(5000));
    const next = s.ready();
    expect(await settled(next)).toBe(false);
    sink.sendOne();
    expect(await settled(next)).toBe(true);
    s.close();
  });

  test("the total bounds all streams together; room freed by one stream wakes the others", async () => {
    const budget = new SendBudget({ streamBytes: 10_000, totalBytes: 1000, stallTimeoutMs: 60_000 });
    budget.firstMessageEstimate = 500;
    const sinks = [new FakeSink(), new FakeSink(), new FakeSink()];
    const senders = sinks.map((sink) => sender(budget, sink).s);
    for (const s of senders.slice(0, 2)) {
      await s.ready();
      s.send(Buffer.alloc(500));
    }
    expect(budget.queuedBytes).toBe(1000);
    const third = senders[2]!.ready();
    expect(await settled(third)).toBe(false);
    sinks[0]!.sendOne();
    expect(await settled(third)).toBe(true);
    // The third stream reserved room for its first message (the estimate, 500 bytes) before producing it.
    expect(budget.queuedBytes).toBe(1000);
    senders[2]!.send(Buffer.alloc(400));
    expect(budget.queuedBytes).toBe(900);
    for (const s of senders) s.close();
    expect(budget.queuedBytes).toBe(0);
  });

  test("streams that start together each reserve the first-message estimate, so the total holds before any has produced", async () => {
    const budget = new SendBudget({ streamBytes: 1 << 20, totalBytes: 3 << 20, stallTimeoutMs: 60_000 });
    const sinks = Array.from({ length: 8 }, () => new FakeSink());
    const senders = sinks.map((sink) => sender(budget, sink).s);
    const ready = senders.map((s) => s.ready());
    const passed = await Promise.all(ready.map((r) => settled(r)));
    expect(passed.filter((p) => p)).toHaveLength(3); // 1 MiB each
    expect(budget.queuedBytes).toBe(3 << 20);
    // A smaller real message gives the difference back, and the next waiting stream may go.
    senders[passed.indexOf(true)]!.send(Buffer.alloc(1000));
    expect(budget.queuedBytes).toBe((2 << 20) + 1000);
    for (const s of senders) s.close();
    expect(budget.queuedBytes).toBe(0);
  });

  test("close gives back queued and reserved bytes, ends waits, and ignores later callbacks", async () => {
    const changes: number[] = [];
    const budget = new SendBudget({ streamBytes: 100, totalBytes: 1 << 20, stallTimeoutMs: 60_000 }, (n) => changes.push(n));
    const sink = new FakeSink();
    const { s } = sender(budget, sink);
    await s.ready();
    s.send(Buffer.alloc(300));
    const waiting = s.ready();
    const drained = s.drained();
    s.close();
    expect(await settled(waiting)).toBe(true);
    expect(await settled(drained)).toBe(true);
    expect(budget.queuedBytes).toBe(0);
    sink.sendOne(); // the transport's late callback changes nothing
    expect(budget.queuedBytes).toBe(0);
    expect(changes.at(-1)).toBe(0);
  });

  test("an aborted stream stops waiting", async () => {
    const budget = new SendBudget({ streamBytes: 100, totalBytes: 1 << 20, stallTimeoutMs: 60_000 });
    const { s, ac } = sender(budget, new FakeSink());
    await s.ready();
    s.send(Buffer.alloc(300));
    const waiting = s.ready();
    ac.abort();
    expect(await settled(waiting)).toBe(true);
    s.close();
  });

  test("a queue that does not move for the stall timeout is reported once; one that moves is not", async () => {
    const budget = new SendBudget({ streamBytes: 1 << 20, totalBytes: 16 << 20, stallTimeoutMs: 150 });
    const stuckSink = new FakeSink();
    const movingSink = new FakeSink();
    let stuck = 0;
    let moving = 0;
    const a = sender(budget, stuckSink, () => stuck++).s;
    const b = sender(budget, movingSink, () => moving++).s;
    for (const s of [a, b]) {
      await s.ready();
      s.send(Buffer.alloc(10));
      await s.ready();
      s.send(Buffer.alloc(10));
    }
    // b's transport sends one message every 100 ms (less than the timeout), then the last.
    await new Promise((r) => setTimeout(r, 100));
    movingSink.sendOne();
    await new Promise((r) => setTimeout(r, 100));
    movingSink.sendOne();
    await new Promise((r) => setTimeout(r, 300));
    expect(stuck).toBe(1);
    expect(moving).toBe(0);
    expect(b.queuedBytes).toBe(0);
    a.close();
    b.close();
  });
});

describe("peerAddress", () => {
  test.each([
    ["127.0.0.2:51234", "127.0.0.2"],
    ["::1:40000", "::1"],
    ["[2001:db8::7]:443", "2001:db8::7"],
    ["::ffff:10.1.2.3:5555", "10.1.2.3"],
    ["unknown", "unknown"],
  ])("%s -> %s", (peer, address) => {
    expect(peerAddress(peer)).toBe(address);
  });
});
