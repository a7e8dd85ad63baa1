// The original body of a rejected message, sealed with AES-256-GCM so `etl replay` can run it
// through a fixed transform later, while the database (and any dump of it) holds no raw PII.
// The encryption key is derived from PII_HASH_KEY with HKDF, so there is still one secret to
// manage; a different PII_HASH_KEY cannot open old bodies (replay reports them, nothing breaks).
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";

const VERSION = 1;
// UTF-16 code units, not UTF-8: a body with a lone surrogate (itself a reason to reject) must
// come back exactly as it was, not "repaired" into U+FFFD and then accepted on replay.
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

export interface BodyCipher {
  seal(body: string): Buffer;
  /** The body, or null when it was sealed with another key (or is damaged). */
  open(sealed: Buffer): string | null;
}

export function createBodyCipher(piiHashKey: Buffer): BodyCipher {
  const key = Buffer.from(
    // The info string keeps its original wording: changing it would orphan every sealed body.
    hkdfSync("sha256", piiHashKey, "login-etl", "login-etl/v1/quarantine-body", 32),
  );
  return {
    seal(body) {
      // Random nonces are safe here: far fewer than 2^32 messages are sealed under one key.
      const nonce = randomBytes(NONCE_BYTES);
      const cipher = createCipheriv("aes-256-gcm", key, nonce);
      const ciphertext = Buffer.concat([cipher.update(body, "utf16le"), cipher.final()]);
      return Buffer.concat([Buffer.of(VERSION), nonce, cipher.getAuthTag(), ciphertext]);
    },
    open(sealed) {
      if (sealed.length < 1 + NONCE_BYTES + TAG_BYTES || sealed[0] !== VERSION) return null;
      const nonce = sealed.subarray(1, 1 + NONCE_BYTES);
      const tag = sealed.subarray(1 + NONCE_BYTES, 1 + NONCE_BYTES + TAG_BYTES);
      const ciphertext = sealed.subarray(1 + NONCE_BYTES + TAG_BYTES);
      try {
        const decipher = createDecipheriv("aes-256-gcm", key, nonce);
        decipher.setAuthTag(tag);
        return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString("utf16le");
      } catch {
        return null;
      }
    },
  };
}
