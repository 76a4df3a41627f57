/**
 * The atomic state-file helper: records round-trip, a torn temporary file is ignored, the record is
 * fsynced before the rename and the directory after it, and unusable records are `Corruption`.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { tempDir } from "../../test/helpers/tmp";
import { JournalError } from "./errors";
import { bigintField, countField, hexField, readStateFile, stringField, writeStateFile } from "./state-file";

// The core module object `state-file.ts` calls into, so spies on it see its syscalls.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const nodeFs = require("node:fs") as typeof import("node:fs");

interface Rec {
  readonly name: string;
  readonly count: number;
  readonly big: bigint;
}
const parse = (r: unknown): Rec => ({ name: stringField(r, "name"), count: countField(r, "count"), big: bigintField(r, "big") });
const rec = (count: number) => ({ name: "n", count, big: String(2n ** 63n + BigInt(count)) });

afterEach(() => jest.restoreAllMocks());

test("a written record reads back; no temporary file is left", () => {
  const file = path.join(tempDir(), "state.json");
  expect(readStateFile(file, parse)).toBeUndefined();
  writeStateFile(file, rec(1));
  expect(readStateFile(file, parse)).toEqual({ name: "n", count: 1, big: 2n ** 63n + 1n });
  writeStateFile(file, rec(2));
  expect(readStateFile(file, parse)?.count).toBe(2);
  expect(existsSync(`${file}.tmp`)).toBe(false);
});

test("a torn temporary file (crash before the rename) is ignored, and the next write replaces it", () => {
  const file = path.join(tempDir(), "state.json");
  writeStateFile(file, rec(1));
  writeFileSync(`${file}.tmp`, JSON.stringify(rec(2)).slice(0, 9));
  expect(readStateFile(file, parse)?.count).toBe(1);
  writeStateFile(file, rec(3));
  expect(readStateFile(file, parse)?.count).toBe(3);
  expect(existsSync(`${file}.tmp`)).toBe(false);
});

test("the record is fsynced before the rename, and the directory after it", () => {
  const dir = tempDir();
  const file = path.join(dir, "state.json");
  const calls: string[] = [];
  const opened = new Map<number, string>();
  const open = nodeFs.openSync;
  jest.spyOn(nodeFs, "openSync").mockImplementation(((p: string, flags: string) => {
    const fd = open(p, flags);
    opened.set(fd, p);
    return fd;
  }) as typeof nodeFs.openSync);
  const fsync = nodeFs.fsyncSync;
  jest.spyOn(nodeFs, "fsyncSync").mockImplementation((fd: number) => {
    calls.push(`fsync ${opened.get(fd)}`);
    fsync(fd);
  });
  const rename = nodeFs.renameSync;
  jest.spyOn(nodeFs, "renameSync").mockImplementation((from, to) => {
    calls.push(`rename ${String(from)} ${String(to)}`);
    rename(from, to);
  });
  writeStateFile(file, rec(1));
  expect(calls).toEqual([`fsync ${file}.tmp`, `rename ${file}.tmp ${file}`, `fsync ${dir}`]);
});

test("a file that is not JSON, or not a valid record, is Corruption naming the file", () => {
  const file = path.join(tempDir(), "state.json");
  for (const [content, reason] of [
    ['{"name": "n", "cou', /JSON/],
    ["[1, 2]", /not a JSON object/],
    [JSON.stringify({ ...rec(1), count: -1 }), /count must be a non-negative integer/],
    [JSON.stringify({ ...rec(1), count: 1.5 }), /count must be a non-negative integer/],
    [JSON.stringify({ ...rec(1), big: "01" }), /big must be a decimal unsigned integer/],
    [JSON.stringify({ ...rec(1), big: 5 }), /big must be a string/],
    [JSON.stringify({ count: 1, big: "1" }), /name must be a string/],
  ] as const) {
    writeFileSync(file, content);
    let err: unknown;
    try {
      readStateFile(file, parse);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(JournalError);
    expect(err).toMatchObject({ kind: "Corruption", file });
    expect((err as Error).message).toMatch(reason);
    expect(readFileSync(file, "utf8")).toBe(content); // reading never changes the file
  }
});

test("hexField: lowercase hex of the given length, as bytes", () => {
  expect(hexField({ h: "00ff" }, "h")).toEqual(Uint8Array.of(0, 255));
  expect(hexField({ h: "" }, "h")).toEqual(new Uint8Array(0));
  expect(hexField({ h: "ab".repeat(32) }, "h", 32)).toHaveLength(32);
  expect(() => hexField({ h: "0F" }, "h")).toThrow(/h must be lowercase hex/);
  expect(() => hexField({ h: "abc" }, "h")).toThrow(/h must be lowercase hex/);
  expect(() => hexField({ h: "ab" }, "h", 32)).toThrow(/h must be 32 bytes, got 1/);
});
