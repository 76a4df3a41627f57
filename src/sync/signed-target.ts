/**
 * Signed sync targets: a server with an Ed25519 signing key signs
 *   "commonware-sync/v1/target" ‖ kind (1 byte: 1 any, 2 immutable) ‖ root (32) ‖ lower (u64 BE) ‖ upper (u64 BE)
 * and a client accepts a target only if one of the keys it trusts signed exactly that. The
 * domain-separation prefix keeps these signatures from being valid for anything else.
 */
import { ed25519 } from "@noble/curves/ed25519";
import { equalBytes, toHex } from "../codec";
import type { DbKindName } from "../qmdb";
import type { SyncTarget } from "./engine";

const DOMAIN = new TextEncoder().encode("commonware-sync/v1/target");
/** Ed25519 key and public-key size. */
export const ED25519_KEY_BYTES = 32;
/** Ed25519 signature size. */
export const ED25519_SIGNATURE_BYTES = 64;

/** Why a target was not accepted. */
export class TargetAuthError extends Error {
  override name = "TargetAuthError";
}

/** The exact bytes a target signature covers. */
export function targetSigningMessage(kind: DbKindName, target: SyncTarget): Uint8Array {
  const out = new Uint8Array(DOMAIN.length + 1 + 32 + 16);
  out.set(DOMAIN);
  let at = DOMAIN.length;
  out[at++] = kind === "any" ? 1 : 2;
  out.set(target.root, at);
  at += 32;
  const view = new DataView(out.buffer);
  view.setBigUint64(at, target.lowerBound);
  view.setBigUint64(at + 8, target.upperBound);
  return out;
}

/** A server's signing key. */
export class TargetSigner {
  /** The 32-byte public key clients must trust. */
  readonly publicKey: Uint8Array;

  constructor(private readonly secretKey: Uint8Array) {
    if (secretKey.length !== ED25519_KEY_BYTES) throw new TargetAuthError(`signing key must be ${ED25519_KEY_BYTES} bytes, got ${secretKey.length}`);
    this.publicKey = ed25519.getPublicKey(secretKey);
  }

  /** A fresh random key. */
  static generate(): TargetSigner {
    return new TargetSigner(ed25519.utils.randomPrivateKey());
  }

  /** The secret key bytes (to store it). */
  exportSecretKey(): Uint8Array {
    return Uint8Array.from(this.secretKey);
  }

  /** Signs a target. */
  sign(kind: DbKindName, target: SyncTarget): Uint8Array {
    return ed25519.sign(targetSigningMessage(kind, target), this.secretKey);
  }
}

/** Checks targets against a set of trusted public keys. */
export class TargetVerifier {
  private readonly trusted: Uint8Array[];

  constructor(trustedKeys: readonly Uint8Array[]) {
    if (trustedKeys.length === 0) throw new TargetAuthError("at least one trusted key is needed");
    for (const k of trustedKeys) {
      if (k.length !== ED25519_KEY_BYTES) throw new TargetAuthError(`trusted key must be ${ED25519_KEY_BYTES} bytes, got ${k.length}`);
    }
    this.trusted = trustedKeys.map((k) => Uint8Array.from(k));
  }

  /**
   * Throws `TargetAuthError` unless `signature` is a valid signature of `(kind, target)` by
   * `signer` and `signer` is trusted.
   */
  verify(kind: DbKindName, target: SyncTarget, signature: Uint8Array, signer: Uint8Array): void {
    if (signature.length === 0) throw new TargetAuthError("target is not signed, but trusted keys are configured");
    if (signature.length !== ED25519_SIGNATURE_BYTES)
      throw new TargetAuthError(`target signature must be ${ED25519_SIGNATURE_BYTES} bytes, got ${signature.length}`);
    const key = this.trusted.find((k) => equalBytes(k, signer));
    if (key === undefined) throw new TargetAuthError(`target is signed by ${toHex(signer)}, which is not a trusted key`);
    let ok = false;
    try {
      ok = ed25519.verify(signature, targetSigningMessage(kind, target), key);
    } catch {
      ok = false;
    }
    if (!ok) throw new TargetAuthError(`target signature does not verify for root ${toHex(target.root)} [${target.lowerBound}, ${target.upperBound})`);
  }
}
