/** `serverAddress` (one `--server` entry) and `addressList` (comma-separated entries). */
import { addressList } from "./addresses";
import { UsageError, serverAddress } from "./args";

test.each([
  ["127.0.0.1:50051", "127.0.0.1:50051"],
  ["localhost:1", "localhost:1"],
  ["sync_server.internal:443", "sync_server.internal:443"],
  ["example.com", "example.com:8080"],
  ["10.0.0.7", "10.0.0.7:8080"],
  ["[::1]:9000", "[::1]:9000"],
  ["[fe80::1]", "[fe80::1]:8080"],
  ["dns:///sync.example.com:443", "dns:///sync.example.com:443"],
  ["dns:///sync.example.com", "dns:///sync.example.com:8080"],
])("%p is accepted as %p", (given, target) => {
  expect(serverAddress(given, "--server")).toBe(target);
});

test.each([
  "",
  ":80",
  "host:",
  "host:0",
  "host:65536",
  "host:x",
  "::1",
  "::1:80",
  "[::g]:80",
  "[::1",
  "a:b:c",
  "256.1.1.1",
  "http://host:80",
  "dns://8.8.8.8/host:80",
  "unix:/tmp/s",
  "ho st:80",
  "-host:80",
])("%p is refused with a message naming the flag", (given) => {
  expect(() => serverAddress(given, "--server")).toThrow(UsageError);
  expect(() => serverAddress(given, "--server")).toThrow(/^--server: /);
});

test("a list applies the same check to each entry and refuses duplicates", () => {
  expect(addressList("a:1, b ,[::1]:3", "--server")).toEqual(["a:1", "b:8080", "[::1]:3"]);
  expect(() => addressList("a:1,b:x", "--server")).toThrow(/'b:x' has an invalid port.*separated by commas/);
  expect(() => addressList("b,b:8080", "--server")).toThrow(/listed twice/);
});
