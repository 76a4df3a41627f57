/**
 * What a person sees from a TLS client process: connecting by IP address with `--tls-ca` prints
 * no Node deprecation warning (no IP address as TLS server name) and still verifies the server's
 * certificate (which names 127.0.0.1); a plaintext client against a TLS server gets the TLS hint,
 * once, in a one-line failure.
 */
import { CLIENT_BIN, cleanup, makePki, run, startServer, tempDir } from "./helpers";

jest.setTimeout(40_000);
afterAll(cleanup);

test("--tls-ca with an IP address: no DeprecationWarning, certificate checked, one-line TLS hint for plaintext", async () => {
  const pki = makePki();
  const server = await startServer({ extra: ["--tls-cert", pki.serverCert, "--tls-key", pki.serverKey] });
  const addr = server.logs("server listening and continuously adding operations")[0]!.addr as string;
  expect(addr).toMatch(/^127\.0\.0\.1:\d+$/);

  const good = await run(CLIENT_BIN, ["-s", addr, "-m", "0", "-d", tempDir(), "--once", "--tls-ca", pki.ca, "--log-format", "json"]);
  expect(good.code).toBe(0);
  expect(good.stderr).not.toMatch(/DeprecationWarning|DEP0123|ServerName/);
  expect(good.stdout).toContain("sync completed successfully");

  const wrongCa = await run(CLIENT_BIN, ["-s", addr, "-m", "0", "-d", tempDir(), "--once", "--tls-ca", pki.otherCa, "--log-format", "json"]);
  expect(wrongCa.code).toBe(1);
  expect(wrongCa.stderr).not.toMatch(/DeprecationWarning/);

  const plain = await run(CLIENT_BIN, ["-s", addr, "-m", "0", "-d", tempDir(), "--once", "--log-format", "json"]);
  expect(plain.code).toBe(1);
  const failed = plain.stdout.split("\n").filter((l) => l.includes('"sync failed"'));
  expect(failed).toHaveLength(1);
  const err = (JSON.parse(failed[0]!) as { err: string }).err;
  expect(err.match(/--tls-ca/g)).toHaveLength(1);
  expect(err.match(/UNAVAILABLE/g)).toHaveLength(1);
  await server.stop();
});
