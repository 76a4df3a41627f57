/**
 * DigestList against a plain array of digests: any sequence of pushes, bulk pushes, truncations
 * and front drops leaves the same digests at the same indices, including across its first
 * chunk's growth and after it is emptied and refilled (what a journaled MMR does at every flush).
 */
import fc from "fast-check";
import { DigestList } from "./digest-list";

const digest = (n: number): Uint8Array => {
  const d = new Uint8Array(32);
  new DataView(d.buffer).setUint32(0, n);
  d[31] = n & 0xff;
  return d;
};

type Step = { op: "push"; n: number } | { op: "pushAll"; n: number } | { op: "truncate"; keep: number } | { op: "dropFront"; n: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ op: fc.constant("push" as const), n: fc.integer({ min: 1, max: 40 }) }),
  fc.record({ op: fc.constant("pushAll" as const), n: fc.integer({ min: 1, max: 4500 }) }),
  fc.record({ op: fc.constant("truncate" as const), keep: fc.integer({ min: 0, max: 100 }) }),
  fc.record({ op: fc.constant("dropFront" as const), n: fc.integer({ min: 0, max: 5000 }) }),
);

test("DigestList holds exactly what an array model holds, through growth, truncation and front drops", () => {
  fc.assert(
    fc.property(fc.array(step, { maxLength: 25 }), (steps) => {
      const list = new DigestList();
      let model: Uint8Array[] = [];
      let next = 0;
      const views: Array<[Uint8Array, Uint8Array]> = [];
      for (const s of steps) {
        if (s.op === "push") {
          for (let i = 0; i < s.n; i++) {
            const d = digest(next++);
            list.push(d);
            model.push(d);
          }
        } else if (s.op === "pushAll") {
          const flat = new Uint8Array(32 * s.n);
          for (let i = 0; i < s.n; i++) {
            const d = digest(next++);
            flat.set(d, 32 * i);
            model.push(d);
          }
          list.pushAll(flat);
        } else if (s.op === "truncate") {
          const keep = Math.min(s.keep, model.length);
          list.truncate(keep);
          model = model.slice(0, keep);
          views.length = 0; // views past a truncation may be overwritten (documented)
        } else {
          list.dropFront(s.n);
          model = model.slice(Math.min(s.n, model.length));
        }
        if (model.length > 0) views.push([list.get(model.length - 1), Uint8Array.from(model[model.length - 1]!)]);
        expect(list.length).toBe(model.length);
        const wrong = model.findIndex((d, i) => !Buffer.from(list.get(i)).equals(d));
        expect(wrong).toBe(-1);
      }
      // A view handed out earlier still shows its digest, even after the list grew or was emptied.
      expect(views.filter(([view, want]) => !Buffer.from(view).equals(want))).toEqual([]);
    }),
    { numRuns: 100 },
  );
});
