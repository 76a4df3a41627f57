/**
 * `sync-server --upstream …`: the relay's flags (the client's trust and TLS flags, for the
 * upstream side), the check that generator-only flags are not combined with it (a relay never
 * generates operations), and the relay source they describe.
 */
import { parseArgs } from "node:util";
import { clientTlsCredentials } from "../client";
import { relaySource } from "../relay";
import type { SourceFactory } from "../server";
import { addressList } from "./addresses";
import { fileContents, key32 } from "./args";

/** Flags of relay mode. */
export const RELAY_FLAGS = {
  upstream: { help: "relay mode: serve a verified copy of these servers (host:port, comma-separated) instead of generating operations", parse: addressList },
  "trusted-key": {
    help: "relay: accept only upstream targets signed by this Ed25519 public key (64 hex digits, inline or in a file); repeatable",
    multiple: true,
    parse: key32,
  },
  "upstream-tls-ca": { help: "relay: PEM CA that must have issued the upstream's certificate (TLS to the upstream)", parse: fileContents },
  "upstream-tls-cert": { help: "relay: PEM client certificate for an upstream that requires mutual TLS (needs --upstream-tls-key)", parse: fileContents },
  "upstream-tls-key": { help: "relay: PEM private key of --upstream-tls-cert", parse: fileContents },
} as const;

/** Flags only a writer (generating) server takes, by long name with their short forms. */
const GENERATOR_ONLY: Record<string, string | undefined> = {
  "initial-ops": "i",
  "ops-per-interval": "o",
  "op-interval": "t",
  seed: undefined,
  "signing-key": undefined,
};

/** Flags only a relay takes. */
const RELAY_ONLY = ["trusted-key", "upstream-tls-ca", "upstream-tls-cert", "upstream-tls-key"];

/** The long names of the flags given on the command line (however spelled: `-i 5`, `--seed=1`). */
function givenFlags(argv: readonly string[], shorts: Record<string, string>): Set<string> {
  const { tokens } = parseArgs({ args: [...argv], strict: false, tokens: true, allowPositionals: true });
  const given = new Set<string>();
  for (const t of tokens ?? []) if (t.kind === "option") given.add(shorts[t.name] ?? t.name);
  return given;
}

/** What is wrong with combining these flags (one line naming the flag), or undefined. */
export function relayFlagProblem(argv: readonly string[], upstream: readonly string[] | undefined): string | undefined {
  const shorts: Record<string, string> = {};
  for (const [long, short] of Object.entries(GENERATOR_ONLY)) if (short !== undefined) shorts[short] = long;
  const given = givenFlags(argv, shorts);
  if (upstream !== undefined) {
    const refused = Object.keys(GENERATOR_ONLY).find((f) => given.has(f));
    if (refused === undefined) return undefined;
    const spelled = GENERATOR_ONLY[refused] === undefined ? `--${refused}` : `-${GENERATOR_ONLY[refused]}/--${refused}`;
    return `${spelled} cannot be used with --upstream: a relay never generates operations${refused === "signing-key" ? " (it passes on the origin's signatures)" : ""}`;
  }
  const orphan = RELAY_ONLY.find((f) => given.has(f));
  return orphan === undefined ? undefined : `--${orphan} needs --upstream (it configures relay mode)`;
}

/** Parsed relay flags. */
export interface RelayFlags {
  readonly upstream: readonly string[];
  readonly "trusted-key": readonly Uint8Array[];
  readonly "upstream-tls-ca"?: Buffer;
  readonly "upstream-tls-cert"?: Buffer;
  readonly "upstream-tls-key"?: Buffer;
}

/** The relay source the flags describe, or a one-line problem with them. */
export function relayFromFlags(flags: RelayFlags): SourceFactory | string {
  const ca = flags["upstream-tls-ca"];
  const cert = flags["upstream-tls-cert"];
  const key = flags["upstream-tls-key"];
  if ((cert === undefined) !== (key === undefined)) return "--upstream-tls-cert and --upstream-tls-key go together";
  if (cert !== undefined && ca === undefined) return "--upstream-tls-cert needs --upstream-tls-ca (client certificates are only sent over TLS)";
  return relaySource({
    upstreams: flags.upstream,
    trustedKeys: flags["trusted-key"],
    connect: ca === undefined ? {} : { credentials: clientTlsCredentials(ca, key, cert) },
  });
}
