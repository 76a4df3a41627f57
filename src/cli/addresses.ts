/**
 * Address lists on the command line (`-s A,B,C`, `--upstream A,B`): `host:port` entries separated
 * by commas, each checked, duplicates refused.
 */
import { UsageError } from "./args";

/** `host:port[,host:port…]` as a list of addresses. */
export function addressList(value: string, flag: string): string[] {
  const list = value.split(",").map((a) => a.trim());
  for (const a of list) {
    const m = /^(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+):(\d{1,5})$/.exec(a);
    if (m === null || Number(m[2]) < 1 || Number(m[2]) > 65535) {
      throw new UsageError(`${flag}: '${a}' is not an address host:port${list.length > 1 ? " (list entries are separated by commas)" : ""}`);
    }
  }
  const dup = list.find((a, i) => list.indexOf(a) !== i);
  if (dup !== undefined) throw new UsageError(`${flag}: ${dup} is listed twice`);
  return list;
}
