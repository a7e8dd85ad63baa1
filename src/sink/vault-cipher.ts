// The PII vault's encryption: each original ip or device_id sealed with AES-256-GCM under a key
// derived from PII_VAULT_KEY, a key of its own (never PII_HASH_KEY: whoever holds the hash key
// can make masks, and must not also be able to undo them).
//
// The additional authenticated data binds the ciphertext to its field and mask: a sealed value
// copied into another row of the vault (another mask, or the ip of a device id) does not open
// there, so nobody with write access to the table can make a reveal of one mask print the value
// of another. Format: version byte, 12-byte nonce, 16-byte tag, ciphertext of the UTF-8 value.
//
// The nonce is derived from field and mask (a keyed HMAC), not drawn at random. Every message is
// sealed again before the database keeps the first copy (ON CONFLICT DO NOTHING), so a busy queue
// would pass GCM's limit of 2^32 random nonces per key within years. A derived nonce repeats
// only for the same field and mask, hence the same value and the same additional data: the same
// ciphertext again, which reveals nothing the mask does not already show. The HMAC is keyed by
// the vault key, not a function of the mask alone: masks are public and whoever holds
// PII_HASH_KEY can choose values whose masks share a prefix; a nonce they could predict would let
// them make two entries share one, and two GCM tags under one nonce give away the key that
// authenticates every entry. (Measured: the HMAC is ~2 µs of the ~6 µs a value's sealing costs.)
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createSecretKey,
  hkdfSync,
} from "node:crypto";
import { keyFingerprint } from "../pii-key.js";

/** The fields the vault keeps, named as in the message (and in `etl reveal --field`). */
export const VAULT_FIELDS = ["ip", "device_id"] as const;
export type VaultField = (typeof VAULT_FIELDS)[number];

const V1 = 1;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const HEADER_BYTES = 1 + NONCE_BYTES + TAG_BYTES;

export interface VaultCipher {
  /** The vault key's fingerprint, stored beside every value it sealed. */
  readonly fingerprint: string;
  seal(field: VaultField, mask: string, value: string): Buffer;
  /** The value, or null when it was sealed under another key, for another field or mask. */
  open(field: VaultField, mask: string, sealed: Buffer): string | null;
}

const boundTo = (field: VaultField, mask: string) =>
  Buffer.from(`login-etl/v1/vault:${field}:${mask}`, "utf8");

export function createVaultCipher(vaultKey: Buffer): VaultCipher {
  const derive = (info: string) => Buffer.from(hkdfSync("sha256", vaultKey, "login-etl", info, 32));
  // A KeyObject, made once: a raw key would be imported again for every value sealed.
  const key = createSecretKey(derive("login-etl/v1/pii-vault"));
  const nonceKey = derive("login-etl/v1/pii-vault/nonce");
  const sealOnce = (field: VaultField, mask: string, value: string): Buffer => {
    const aad = boundTo(field, mask);
    const nonce = createHmac("sha256", nonceKey).update(aad).digest().subarray(0, NONCE_BYTES);
    const cipher = createCipheriv("aes-256-gcm", key, nonce);
    cipher.setAAD(aad);
    const body = cipher.update(value, "utf8"); // GCM is a stream mode: final() adds nothing
    cipher.final();
    const sealed = Buffer.allocUnsafe(HEADER_BYTES + body.length);
    sealed[0] = V1;
    nonce.copy(sealed, 1);
    cipher.getAuthTag().copy(sealed, 1 + NONCE_BYTES);
    body.copy(sealed, HEADER_BYTES);
    return sealed;
  };
  return {
    fingerprint: keyFingerprint(vaultKey),
    seal: sealOnce,
    open(field, mask, sealed) {
      if (sealed.length < 1 + NONCE_BYTES + TAG_BYTES || sealed[0] !== V1) return null;
      const nonce = sealed.subarray(1, 1 + NONCE_BYTES);
      const tag = sealed.subarray(1 + NONCE_BYTES, 1 + NONCE_BYTES + TAG_BYTES);
      try {
        const decipher = createDecipheriv("aes-256-gcm", key, nonce);
        decipher.setAAD(boundTo(field, mask));
        decipher.setAuthTag(tag);
        const plain = [
          decipher.update(sealed.subarray(1 + NONCE_BYTES + TAG_BYTES)),
          decipher.final(),
        ];
        return Buffer.concat(plain).toString("utf8");
      } catch {
        return null;
      }
    },
  };
}
