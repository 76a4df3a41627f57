/**
 * Small state files (one JSON record, e.g. `server-progress.json`, `client-target.json`), replaced
 * atomically: the record is written to `<file>.tmp`, fsynced, renamed over `<file>`, and the
 * directory is fsynced, so after a crash `<file>` holds the old record or the new one, whole. A torn
 * temporary file is never read (the next write replaces it). Reads parse and validate the record;
 * a record that fails is `Corruption` naming the file, never silently ignored.
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { JournalError } from "./errors";

/** Turns a parsed JSON value into a record, throwing (with a reason) if it is not one. */
export type StateValidator<T> = (value: unknown) => T;

/** Durably replaces `file` with `JSON.stringify(record)`. */
export function writeStateFile(file: string, record: unknown): void {
  const tmp = `${file}.tmp`;
  const fd = openSync(tmp, "w");
  try {
    writeFileSync(fd, JSON.stringify(record));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  fsyncDirectory(path.dirname(file));
}

/** Removes `file` (a missing one is fine); durable once the directory is synced. */
export function removeStateFile(file: string): void {
  rmSync(file, { force: true });
}

/** Whether `file` exists (a torn one included). */
export function stateFileExists(file: string): boolean {
  return existsSync(file);
}

/**
 * The record in `file`, or `undefined` if there is none. Throws `JournalError` (`Corruption`) if the
 * file is not JSON or `validate` refuses it.
 */
export function readStateFile<T>(file: string, validate: StateValidator<T>): T | undefined {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  try {
    return validate(JSON.parse(text));
  } catch (err) {
    throw new JournalError("Corruption", `state file ${file} is unusable: ${(err as Error).message}`, { file, cause: err });
  }
}

function fsyncDirectory(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

// Validation helpers for records: each returns the field or throws naming it.

/** `record[name]` of a JSON object, which must be a string. */
export function stringField(record: unknown, name: string): string {
  const v = fieldOf(record, name);
  if (typeof v !== "string") throw new Error(`${name} must be a string`);
  return v;
}

/** `record[name]`, a decimal string of an unsigned integer, as a bigint. */
export function bigintField(record: unknown, name: string): bigint {
  const v = stringField(record, name);
  if (!/^(0|[1-9][0-9]*)$/.test(v)) throw new Error(`${name} must be a decimal unsigned integer, got ${JSON.stringify(v)}`);
  return BigInt(v);
}

/** `record[name]`, lowercase hex (of exactly `bytes` bytes when given), as bytes. */
export function hexField(record: unknown, name: string, bytes?: number): Uint8Array {
  const v = stringField(record, name);
  if (!/^([0-9a-f]{2})*$/.test(v)) throw new Error(`${name} must be lowercase hex`);
  if (bytes !== undefined && v.length !== 2 * bytes) throw new Error(`${name} must be ${bytes} bytes, got ${v.length / 2}`);
  return Uint8Array.from(Buffer.from(v, "hex"));
}

/** `record[name]`, a non-negative safe integer. */
export function countField(record: unknown, name: string): number {
  const v = fieldOf(record, name);
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) throw new Error(`${name} must be a non-negative integer`);
  return v;
}

function fieldOf(record: unknown, name: string): unknown {
  if (typeof record !== "object" || record === null || Array.isArray(record)) throw new Error("not a JSON object");
  return (record as Record<string, unknown>)[name];
}
