// The PII vault's encryption: each original ip or device_id sealed with AES-256-GCM under a key
// derived from PII_VAULT_KEY, a key of its own (never PII_HASH_KEY: whoever holds the hash key
// can make masks, and must not also be able to undo them).
//
// The additional authenticated data binds the ciphertext to its field and mask: a sealed value
// copied into another row of the vault (another mask, or the ip of a device id) does not open
// there, so nobody with write access to the table can make a reveal of one mask print the value
// of another. Format: version byte, 12-byte nonce, 16-byte tag, ciphertext of the UTF-8 value.
//
// The nonce is derived from field and mask, not drawn at random. Every message is sealed again
// before the database keeps the first copy (ON CONFLICT DO NOTHING), so a busy queue would pass
// GCM's limit of 2^32 random nonces per key within years. A derived nonce repeats only for the
// same field and mask, hence the same value and the same additional data: the same ciphertext
// again, which reveals nothing the mask does not already show. The derivation is keyed by the
// vault key, not a function of the mask alone: masks are public and whoever holds PII_HASH_KEY
// can choose values whose masks share a prefix; a nonce they could predict would let them make
// two entries share one, and two GCM tags under one nonce give away the key that authenticates
// every entry.
//
// The keyed function is AES-CBC-MAC of the mask's 32 bytes under a key of each field's own:
// over inputs of one fixed length (two blocks) CBC-MAC is a pseudorandom function, so nonces of
// distinct masks collide only by chance (96 bits: after some 2^48 entries), as a truncated HMAC
// would. Unlike an HMAC it can be computed for a whole batch in two AES-ECB calls (sealAll):
// the per-value HMAC was a third of what sealing cost. Entries sealed with the HMAC-derived nonces
// of earlier versions still open (the nonce travels in the sealed value); a value sealed by both
// derivations has two valid ciphertexts under two nonces, which GCM allows.
import {
  createCipheriv,
  createDecipheriv,
  createSecretKey,
  hkdfSync,
  type KeyObject,
} from "node:crypto";
import { keyFingerprint } from "../pii-key.js";
import { MIN_KEY_BYTES } from "../transform/mask.js";

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
  /** seal() of each entry, in order; the nonces computed for all at once. */
  sealAll(entries: readonly VaultPlaintext[]): Buffer[];
  /** The value, or null when it was sealed under another key, for another field or mask. */
  open(field: VaultField, mask: string, sealed: Buffer): string | null;
}

export interface VaultPlaintext {
  field: VaultField;
  /** 64 lowercase hex digits, as the masker makes them. */
  mask: string;
  value: string;
}

const MASK_HEX = /^[0-9a-f]{64}$/;
const BLOCK = 16;

/** One AES-ECB pass over whole blocks: the block cipher itself, many blocks per call. */
function encryptBlocks(key: KeyObject, blocks: Uint8Array): Buffer {
  const ecb = createCipheriv("aes-256-ecb", key, null).setAutoPadding(false);
  return ecb.update(blocks);
}

/**
 * The nonce of each mask: the first 12 bytes of CBC-MAC(key, mask) = E(E(m1) XOR m2), with m1
 * and m2 the mask's two 16-byte halves. Laid out 16 bytes per mask.
 */
function cbcMacs(key: KeyObject, masks: readonly string[]): Buffer {
  const first = Buffer.allocUnsafe(BLOCK * masks.length);
  const second = Buffer.allocUnsafe(BLOCK * masks.length);
  masks.forEach((mask, i) => {
    // Buffer.write stops silently at the first character that is not hex: check first.
    if (!MASK_HEX.test(mask)) throw new Error("a vault mask must be 64 lowercase hex digits");
    first.write(mask.slice(0, 2 * BLOCK), BLOCK * i, "hex");
    second.write(mask.slice(2 * BLOCK), BLOCK * i, "hex");
  });
  const e1 = encryptBlocks(key, first);
  for (let i = 0; i < second.length; i++) second[i] = (second[i] ?? 0) ^ (e1[i] ?? 0);
  return encryptBlocks(key, second);
}

const boundTo = (field: VaultField, mask: string) =>
  Buffer.from(`login-etl/v1/vault:${field}:${mask}`, "utf8");

export function createVaultCipher(vaultKey: Buffer): VaultCipher {
  // The configuration refuses weaker keys already (pii-key.ts); a key that got here another way
  // must not seal under a key anyone could guess.
  if (vaultKey.length < MIN_KEY_BYTES) {
    throw new RangeError(`the vault key must be at least ${MIN_KEY_BYTES} bytes`);
  }
  const derive = (info: string) => Buffer.from(hkdfSync("sha256", vaultKey, "login-etl", info, 32));
  // A KeyObject, made once: a raw key would be imported again for every value sealed.
  const key = createSecretKey(derive("login-etl/v1/pii-vault"));
  const nonceKeys = Object.fromEntries(
    VAULT_FIELDS.map((f) => [
      f,
      createSecretKey(derive(`login-etl/v1/pii-vault/nonce-cbc-mac/${f}`)),
    ]),
  ) as Record<VaultField, KeyObject>;
  const sealWith = (nonce: Buffer, { field, mask, value }: VaultPlaintext): Buffer => {
    const aad = boundTo(field, mask);
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
  /** The nonces of these entries, 16 bytes apart (the first 12 of each are the nonce). */
  const nonces = (entries: readonly VaultPlaintext[]): Buffer => {
    const byField = new Map<string, number[]>(VAULT_FIELDS.map((f) => [f, []]));
    entries.forEach((e, i) => {
      // A field without its own key would seal under whatever bytes the buffer held.
      const mine = byField.get(e.field);
      if (!mine) throw new Error(`not a vault field: ${e.field}`);
      mine.push(i);
    });
    const all = Buffer.allocUnsafe(BLOCK * entries.length);
    for (const field of VAULT_FIELDS) {
      const mine = byField.get(field) ?? [];
      if (mine.length === 0) continue;
      const macs = cbcMacs(
        nonceKeys[field],
        mine.map((i) => entries[i]?.mask ?? ""),
      );
      mine.forEach((i, k) => {
        macs.copy(all, BLOCK * i, BLOCK * k, BLOCK * (k + 1));
      });
    }
    return all;
  };
  const sealAll = (entries: readonly VaultPlaintext[]): Buffer[] => {
    const all = nonces(entries);
    return entries.map((e, i) => sealWith(all.subarray(BLOCK * i, BLOCK * i + NONCE_BYTES), e));
  };
  return {
    fingerprint: keyFingerprint(vaultKey),
    seal: (field, mask, value) => sealAll([{ field, mask, value }])[0] as Buffer,
    sealAll,
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
