// Sealed bodies: bound to their message id (v2), old v1 rows still readable, exact round trip.
import assert from "node:assert/strict";
import { createCipheriv, hkdfSync, randomBytes } from "node:crypto";
import { test } from "node:test";
import { createBodyCipher } from "../../src/sink/body-cipher.js";

const KEY = Buffer.alloc(32, 9);
const cipher = createBodyCipher(KEY);

test("a body opens under its own message id, exactly as it was sealed", () => {
  const body = '{"ip":"10.0.0.1","s":"\uD800 lone"}';
  assert.equal(cipher.open(cipher.seal(body, "m-1"), "m-1"), body);
});

test("a sealed body moved to another message's row does not open there", () => {
  const sealed = cipher.seal('{"user_id":"victim"}', "m-1");
  assert.equal(cipher.open(sealed, "m-2"), null);
  assert.equal(cipher.open(sealed, "m-1 "), null);
});

test("another key, a damaged body or an unknown version opens as null, never throws", () => {
  const sealed = cipher.seal("x", "m-1");
  assert.equal(createBodyCipher(Buffer.alloc(32, 1)).open(sealed, "m-1"), null);
  const damaged = Buffer.from(sealed);
  damaged[damaged.length - 1] = (damaged[damaged.length - 1] ?? 0) ^ 1;
  assert.equal(cipher.open(damaged, "m-1"), null);
  assert.equal(cipher.open(Buffer.concat([Buffer.of(3), sealed.subarray(1)]), "m-1"), null);
  assert.equal(cipher.open(Buffer.alloc(5), "m-1"), null);
});

test("a v1 body (sealed before bodies were bound to their message) still opens", () => {
  // The v1 format written independently of src/: version 1, nonce, tag, UTF-16LE ciphertext, no AAD.
  const key = Buffer.from(hkdfSync("sha256", KEY, "login-etl", "login-etl/v1/quarantine-body", 32));
  const nonce = randomBytes(12);
  const c = createCipheriv("aes-256-gcm", key, nonce);
  const text = Buffer.concat([c.update("old body", "utf16le"), c.final()]);
  const v1 = Buffer.concat([Buffer.of(1), nonce, c.getAuthTag(), text]);
  assert.equal(cipher.open(v1, "any-id"), "old body");
});
