/** File damage for storage tests: flips bits of one byte in place (any file size, no full rewrite). */
import { closeSync, openSync, readSync, writeSync } from "node:fs";

/** XORs the byte at `offset` of `file` with `mask` (non-zero, so the byte always changes). */
export function flipByte(file: string, offset: number, mask = 0xff): void {
  if ((mask & 0xff) === 0) throw new RangeError("flipByte: mask must change the byte");
  const fd = openSync(file, "r+");
  try {
    const b = Buffer.alloc(1);
    if (readSync(fd, b, 0, 1, offset) !== 1) throw new RangeError(`flipByte: ${file} has no byte at offset ${offset}`);
    b[0]! ^= mask;
    writeSync(fd, b, 0, 1, offset);
  } finally {
    closeSync(fd);
  }
}
