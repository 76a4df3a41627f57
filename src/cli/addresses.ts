/**
 * Address lists on the command line (`-s A,B,C`, `--upstream A,B`): entries separated by commas,
 * each checked by `serverAddress` (host:port, [v6]:port, dns:///name:port, a bare host meaning
 * port 8080), duplicates refused.
 */
import { UsageError, serverAddress } from "./args";

/** `addr[,addr…]` as a list of gRPC targets. */
export function addressList(value: string, flag: string): string[] {
  const entries = value.split(",").map((a) => a.trim());
  const list = entries.map((a) => {
    try {
      return serverAddress(a, flag);
    } catch (err) {
      if (!(err instanceof UsageError) || entries.length === 1) throw err;
      throw new UsageError(`${err.message} (list entries are separated by commas)`);
    }
  });
  const dup = list.find((a, i) => list.indexOf(a) !== i);
  if (dup !== undefined) throw new UsageError(`${flag}: ${dup} is listed twice`);
  return list;
}
