// The original body of a rejected message, sealed with AES-256-GCM so `etl replay` can run it
// through a fixed transform later, while the database (and any dump of it) holds no raw PII.
// The encryption key is derived from PII_HASH_KEY with HKDF, so there is still one secret to
// manage; a different PII_HASH_KEY cannot open old bodies (replay reports them, nothing breaks).
//
// Format: version byte, 12-byte nonce, 16-byte tag, ciphertext of the body's UTF-16 code units
// (not UTF-8: a body with a lone surrogate, itself a reason to reject, must come back exactly as
// it was, not "repaired" into U+FFFD and then accepted on replay).
// - v2 (written now): the message id is additional authenticated data, so a sealed body copied
//   into another message's row does not open there and cannot be replayed as that message.
// - v1 (written before): no additional data; still opened, so old rows stay replayable.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";

const V1 = 1;
const V2 = 2;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

export interface BodyCipher {
  seal(body: string, messageId: string): Buffer;
  /** The body, or null when it was sealed with another key, for another message, or is damaged. */
  open(sealed: Buffer, messageId: string): string | null;
}

/** What binds a v2 body to its message; versioned so the binding can change without ambiguity. */
const boundTo = (messageId: string) => Buffer.from(`login-etl/v2/message-id:${messageId}`, "utf8");

export function createBodyCipher(piiHashKey: Buffer): BodyCipher {
  const key = Buffer.from(
    // The info string keeps its original wording: changing it would orphan every sealed body.
    hkdfSync("sha256", piiHashKey, "login-etl", "login-etl/v1/quarantine-body", 32),
  );
  return {
    seal(body, messageId) {
      // Random nonces are safe here: far fewer than 2^32 messages are sealed under one key.
      const nonce = randomBytes(NONCE_BYTES);
      const cipher = createCipheriv("aes-256-gcm", key, nonce);
      cipher.setAAD(boundTo(messageId));
      const ciphertext = Buffer.concat([cipher.update(body, "utf16le"), cipher.final()]);
      return Buffer.concat([Buffer.of(V2), nonce, cipher.getAuthTag(), ciphertext]);
    },
    open(sealed, messageId) {
      const version = sealed[0];
      if (sealed.length < 1 + NONCE_BYTES + TAG_BYTES || (version !== V1 && version !== V2)) {
        return null;
      }
      const nonce = sealed.subarray(1, 1 + NONCE_BYTES);
      const tag = sealed.subarray(1 + NONCE_BYTES, 1 + NONCE_BYTES + TAG_BYTES);
      const ciphertext = sealed.subarray(1 + NONCE_BYTES + TAG_BYTES);
      try {
        const decipher = createDecipheriv("aes-256-gcm", key, nonce);
        if (version === V2) decipher.setAAD(boundTo(messageId));
        decipher.setAuthTag(tag);
        return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString("utf16le");
      } catch {
        return null;
      }
    },
  };
}
