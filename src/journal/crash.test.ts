/**
 * Crash consistency at syscall granularity: every file mutation of a scenario (create, write — also
 * half-applied —, resize, remove) is a possible crash point. For each one the journal is reopened on
 * the files as they were, and must open cleanly with contents that some in-memory state of the
 * scenario had: a prefix of the log as it was at some moment, never a mix of timelines.
 */
import fc from "fast-check";
import { JournalError } from "./errors";
import { FixedJournal } from "./fixed";
import type { Contiguous } from "./contiguous";
import { type Blob, type Storage } from "./storage";
import { memBlobKey, memScan } from "../../test/helpers/journal";
import { VariableJournal } from "./variable";

type Files = Map<string, Uint8Array>;

/** In-memory {@link Storage} that can record a snapshot of all files after every mutation. */
class MemStorage implements Storage {
  readonly snapshots: Files[] = [];
  /** `tag()` at each snapshot (the checker stores the model's state index there). */
  readonly tags: number[] = [];
  tag: () => number = () => 0;
  recording = false;
  constructor(readonly files: Files = new Map()) {}

  locate(partition: string, name: Uint8Array): string {
    return memBlobKey(partition, name);
  }
  async scan(partition: string): Promise<Uint8Array[]> {
    return memScan(this.files.keys(), partition);
  }
  async open(partition: string, name: Uint8Array): Promise<{ blob: Blob; size: number }> {
    const key = this.locate(partition, name);
    if (!this.files.has(key)) this.mutate(() => this.files.set(key, new Uint8Array(0)));
    return { blob: this.blob(key), size: this.files.get(key)!.length };
  }
  async syncDirectory(): Promise<void> {} // crashes here are process kills: every entry survives them
  async remove(partition: string, name?: Uint8Array): Promise<void> {
    const keys = name === undefined ? [...this.files.keys()].filter((k) => k.startsWith(`${partition}/`)) : [this.locate(partition, name)];
    for (const key of keys) if (this.files.has(key)) this.mutate(() => this.files.delete(key));
  }

  private blob(key: string): Blob {
    const content = () => {
      const bytes = this.files.get(key);
      if (bytes === undefined) throw new JournalError("Io", `${key} was removed`);
      return bytes;
    };
    return {
      path: key,
      readAt: (out, offset) => {
        const bytes = content();
        if (offset + out.length > bytes.length) throw new JournalError("Io", `short read of ${key}`);
        out.set(bytes.subarray(offset, offset + out.length));
      },
      writeAt: (data, offset) => {
        const write = (part: Uint8Array) => {
          const old = content();
          const next = new Uint8Array(Math.max(old.length, offset + part.length));
          next.set(old);
          next.set(part, offset);
          this.files.set(key, next);
        };
        if (this.recording && data.length > 1) {
          const saved = content();
          write(data.subarray(0, data.length >> 1)); // a torn write
          this.snapshot();
          this.files.set(key, saved);
        }
        this.mutate(() => write(data));
      },
      resize: (size) => {
        const old = content();
        const next = new Uint8Array(size);
        next.set(old.subarray(0, Math.min(size, old.length)));
        this.mutate(() => this.files.set(key, next));
      },
      sync: async () => undefined,
      close: () => undefined,
    };
  }

  private mutate(apply: () => void): void {
    apply();
    if (this.recording) this.snapshot();
  }

  private snapshot(): void {
    this.snapshots.push(copy(this.files));
    this.tags.push(this.tag());
  }
}

function copy(files: Files): Files {
  return new Map([...files].map(([k, v]) => [k, v.slice()]));
}

interface Scenario {
  open(storage: Storage): Promise<Contiguous>;
  item(id: number): Uint8Array;
}

/** What a script may do besides calling the journal: append (tracked), note a rewind, declare a sync. */
interface Harness {
  add(ids: number[]): void;
  /** Call right after a rewind, so the model follows the journal's new size. */
  mark(): void;
  /** Register a `sync`/`commit` promise: once it resolves, the state at its call must survive a crash. */
  durable<T>(sync: Promise<T>): Promise<T>;
}
type Script = (j: Contiguous, h: Harness) => Promise<void>;

/**
 * Runs `script` while recording, then reopens the files of every crash point. Let k be the model
 * state when the last sync resolved before the crash was called, and m the state at the crash. The
 * recovered items must be a prefix of some state S_i, k ≤ i ≤ m, no shorter than every state from k to
 * m (only a rewind issued after that sync may take synced items away, and only down to its size).
 */
async function checkCrashPoints(scenario: Scenario, script: Script): Promise<number> {
  const storage = new MemStorage();
  const j = await scenario.open(storage);
  const states: number[][] = [[]];
  let current: number[] = [];
  /** (first snapshot index, state index) pairs, in order. */
  const durableFrom: { snapshot: number; state: number }[] = [];
  const harness: Harness = {
    add(ids) {
      for (const id of ids) {
        // The model moves first: bytes written during `append` belong to the new state.
        current = [...current, id];
        states.push(current);
        j.append(scenario.item(id));
      }
    },
    mark() {
      current = current.slice(0, j.size);
      states.push(current);
    },
    durable(sync) {
      const state = states.length - 1;
      return sync.then((value) => {
        durableFrom.push({ snapshot: storage.snapshots.length, state });
        return value;
      });
    },
  };
  storage.tag = () => states.length - 1;
  storage.recording = true;
  await script(j, harness);
  await j.close();
  storage.recording = false;

  for (const [index, files] of storage.snapshots.entries()) {
    const recovered = await scenario.open(new MemStorage(copy(files)));
    const from = recovered.pruningBoundary;
    const items: Uint8Array[] = [];
    recovered.replay(from, (_pos, bytes) => void items.push(bytes.slice()));
    let floor = 0;
    for (const d of durableFrom) if (d.snapshot <= index) floor = Math.max(floor, d.state);
    const last = storage.tags[index];
    let minSize = Infinity;
    for (let i = floor; i <= last; i++) minSize = Math.min(minSize, states[i].length);
    const matches = states
      .slice(floor, last + 1)
      .some(
        (state) =>
          recovered.size >= minSize && state.length >= recovered.size && items.every((bytes, k) => Buffer.compare(bytes, scenario.item(state[from + k])) === 0),
      );
    if (!matches) {
      const got = items.map((_, k) => `${from + k}`).length;
      throw new Error(
        `crash point ${index}: recovered [${from}, ${recovered.size}) (${got} items) matches no state in [${floor}, ${last}] (min size ${minSize})`,
      );
    }
    await recovered.close();
  }
  return storage.snapshots.length;
}

const ids = (from: number, to: number) => Array.from({ length: to - from }, (_, k) => from + k);

/** Appends, un-awaited rewinds and prunes interleaved, with tiny write buffers. */
async function script(j: Contiguous, { add, mark, durable }: Harness): Promise<void> {
  add(ids(0, 25));
  await durable(j.sync());
  const pending: Promise<unknown>[] = [j.rewind(13)];
  mark();
  add(ids(100, 109));
  pending.push(j.prune(10), durable(j.commit()));
  add(ids(200, 215));
  pending.push(j.rewind(27));
  mark();
  add(ids(300, 302));
  pending.push(durable(j.sync()));
  await Promise.all(pending);
  const rewound = j.rewind(12);
  mark(); // the model follows at the call: the rewind's file operations come later
  await rewound;
  add(ids(400, 404));
  await durable(j.commit());
}

type Op =
  | { kind: "append"; n: number }
  | { kind: "sync" }
  | { kind: "commit" }
  | { kind: "settle" }
  | { kind: "rewind"; back: number }
  | { kind: "prune"; ahead: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 1, max: 14 }).map((n) => ({ kind: "append" as const, n })) },
  { weight: 1, arbitrary: fc.constantFrom<Op>({ kind: "sync" }, { kind: "commit" }, { kind: "settle" }) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 25 }).map((back) => ({ kind: "rewind" as const, back })) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 30 }).map((ahead) => ({ kind: "prune" as const, ahead })) },
);

/** A random script; rewinds, prunes and syncs are only awaited at `settle` and at the end. */
function randomScript(ops: Op[]): Script {
  return async (j, { add, mark, durable }) => {
    let next = 0;
    let pending: Promise<unknown>[] = [];
    for (const op of ops) {
      if (op.kind === "append") {
        add(ids(next, next + op.n));
        next += op.n;
      } else if (op.kind === "sync") {
        pending.push(durable(j.sync()));
      } else if (op.kind === "commit") {
        pending.push(durable(j.commit()));
      } else if (op.kind === "settle") {
        await Promise.all(pending);
        pending = [];
      } else if (op.kind === "rewind") {
        pending.push(j.rewind(Math.max(j.pruningBoundary, j.size - op.back)));
        mark();
      } else {
        pending.push(j.prune(j.pruningBoundary + op.ahead));
      }
    }
    await Promise.all(pending);
  };
}

function u64be(id: number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(id));
  return out;
}

const fixedScenario: Scenario = {
  open: (storage) => FixedJournal.open(storage, "p", { itemSize: 8, itemsPerBlob: 10, writeBufferBytes: 30 }),
  item: u64be,
};
const variableScenario: Scenario = {
  open: (storage) => VariableJournal.open(storage, "log", { itemsPerSection: 10, writeBufferBytes: 40 }),
  item: (id) => Uint8Array.from({ length: id % 37 }, (_, k) => (id * 7 + k) & 0xff),
};

for (const [name, scenario] of [
  ["fixed", fixedScenario],
  ["variable", variableScenario],
] as const) {
  test(`${name} journal: every crash point reopens to a state the journal really had`, async () => {
    expect(await checkCrashPoints(scenario, script)).toBeGreaterThan(20);
  });

  test(`${name} journal: the same holds for random scripts of un-awaited mutations`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 5, maxLength: 25 }), async (ops) => {
        await checkCrashPoints(scenario, randomScript(ops));
      }),
      { numRuns: 40 },
    );
  });
}
