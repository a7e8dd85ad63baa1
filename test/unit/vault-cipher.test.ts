// The PII vault's sealing: bound to field and mask, deterministic per (field, mask), opens only
// under its own key; and the configuration rules for PII_VAULT_KEY.
import assert from "node:assert/strict";
import { createCipheriv, hkdfSync, randomBytes } from "node:crypto";
import { test } from "node:test";
import { loadConfig } from "../../src/config.js";
import { ConfigError } from "../../src/errors.js";
import { createVaultCipher, VAULT_FIELDS } from "../../src/sink/vault-cipher.js";

const KEY = randomBytes(32);
const cipher = createVaultCipher(KEY);
const MASK = "a".repeat(64);

test("a value opens under its own field and mask, exactly as sealed (UTF-8 too)", () => {
  for (const value of ["10.0.0.1", "2001:db8::1", "593-47-5928", "ünïcødé-😀"]) {
    assert.equal(cipher.open("device_id", MASK, cipher.seal("device_id", MASK, value)), value);
  }
});

test("a sealed value moved to another mask or field, or opened with another key, does not open", () => {
  const sealed = cipher.seal("ip", MASK, "10.0.0.1");
  assert.equal(cipher.open("ip", "b".repeat(64), sealed), null);
  assert.equal(cipher.open("device_id", MASK, sealed), null);
  assert.equal(createVaultCipher(randomBytes(32)).open("ip", MASK, sealed), null);
  const damaged = Buffer.from(sealed);
  damaged[damaged.length - 1] = (damaged[damaged.length - 1] ?? 0) ^ 1;
  assert.equal(cipher.open("ip", MASK, damaged), null);
  assert.equal(cipher.open("ip", MASK, Buffer.concat([Buffer.of(2), sealed.subarray(1)])), null);
  assert.equal(cipher.open("ip", MASK, Buffer.alloc(10)), null);
});

test("the nonce is derived from field and mask: the same entry seals the same, another entry differently", () => {
  const a = cipher.seal("ip", MASK, "10.0.0.1");
  assert.deepEqual(
    createVaultCipher(KEY).seal("ip", MASK, "10.0.0.1"),
    a,
    "a re-sent value seals identically, in another process too",
  );
  const b = cipher.seal("ip", "b".repeat(64), "10.0.0.1");
  assert.notDeepEqual(a.subarray(1, 13), b.subarray(1, 13), "another mask, another nonce");
  // Masks sharing their first bytes (whoever holds the hash key can choose values whose masks
  // do): unrelated nonces, so nobody without the vault key can make two entries share one.
  const near = `${MASK.slice(0, 40)}${"0".repeat(24)}`;
  const n = cipher.seal("ip", near, "10.0.0.2");
  assert.notDeepEqual(a.subarray(1, 7), n.subarray(1, 7), "a shared mask prefix, unrelated nonces");
  const d = cipher.seal("device_id", MASK, "10.0.0.1");
  assert.notDeepEqual(a.subarray(1, 13), d.subarray(1, 13), "another field, another nonce");
  const c = createVaultCipher(randomBytes(32)).seal("ip", MASK, "10.0.0.1");
  assert.notDeepEqual(a.subarray(1, 13), c.subarray(1, 13), "another key, another nonce");
  assert.ok(!a.includes(Buffer.from("10.0.0.1")), "the value is not in the ciphertext");
});

test("sealAll seals a batch of mixed fields exactly as seal seals each entry", () => {
  const entries = [
    { field: "ip", mask: MASK, value: "10.0.0.1" },
    { field: "device_id", mask: MASK, value: "10.0.0.1" },
    { field: "ip", mask: "b".repeat(64), value: "2001:db8::1" },
    { field: "device_id", mask: "c".repeat(64), value: "ünïcødé-😀" },
  ] as const;
  const batch = cipher.sealAll(entries);
  assert.equal(batch.length, entries.length);
  entries.forEach((e, i) => {
    assert.deepEqual(batch[i], cipher.seal(e.field, e.mask, e.value), `entry ${i}`);
    assert.equal(cipher.open(e.field, e.mask, batch[i] as Buffer), e.value);
  });
  assert.deepEqual(cipher.sealAll([]), []);
});

test("each nonce is AES-CBC-MAC of the mask under its field's key, checked against OpenSSL's CBC", () => {
  // An independent reference: CBC with a zero IV over the mask's two blocks, last block.
  const fieldKey = (f: string) =>
    Buffer.from(
      hkdfSync("sha256", KEY, "login-etl", `login-etl/v1/pii-vault/nonce-cbc-mac/${f}`, 32),
    );
  const reference = (f: string, mask: string) => {
    const cbc = createCipheriv("aes-256-cbc", fieldKey(f), Buffer.alloc(16)).setAutoPadding(false);
    return cbc.update(Buffer.from(mask, "hex")).subarray(16, 28);
  };
  // Masks sharing either half: a nonce of one half alone would repeat across them.
  const half = randomBytes(16).toString("hex");
  const masks = [
    ...Array.from({ length: 65 }, () => randomBytes(32).toString("hex")),
    `${half}${"0".repeat(32)}`,
    `${"0".repeat(32)}${half}`,
    `${half}${half}`,
  ];
  const entries = masks.flatMap((mask, i) =>
    VAULT_FIELDS.map((field) => ({ field, mask, value: `10.0.${i}.1` })),
  );
  const sealed = cipher.sealAll(entries);
  const seen = new Set<string>();
  entries.forEach((e, i) => {
    const nonce = (sealed[i] as Buffer).subarray(1, 13);
    assert.deepEqual(nonce, reference(e.field, e.mask), `${e.field} ${e.mask}`);
    seen.add(nonce.toString("hex"));
  });
  assert.equal(seen.size, entries.length, "no two entries share a nonce");
});

test("a mask that is not 64 lowercase hex digits is refused, not given the nonce of its hex prefix", () => {
  // Buffer.write(hex) stops at the first other character: "aa…zz" would share the nonce of "aa…00".
  for (const mask of [
    `${"a".repeat(62)}zz`,
    MASK.toUpperCase(),
    MASK.slice(1),
    ` ${MASK.slice(1)}`,
  ]) {
    assert.throws(() => cipher.seal("ip", mask, "10.0.0.1"), /64 lowercase hex digits/, mask);
  }
});

test("PII_VAULT_KEY: read only for commands that take it, never the hash key, the previous key not the same", () => {
  const hash = randomBytes(32).toString("hex");
  const vault = randomBytes(32).toString("hex");
  const env = { PII_HASH_KEY: hash, PII_VAULT_KEY: vault };
  assert.equal(loadConfig({}, env, { requireKey: true }).piiVaultKey, undefined, "not asked for");
  assert.deepEqual(
    loadConfig({}, env, { requireKey: true, vaultKey: "optional" }).piiVaultKey,
    Buffer.from(vault),
  );
  assert.equal(
    loadConfig({}, { PII_HASH_KEY: hash }, { requireKey: true, vaultKey: "optional" }).piiVaultKey,
    undefined,
    "optional and unset: the vault is off",
  );
  assert.throws(
    () => loadConfig({}, { PII_HASH_KEY: hash }, { requireKey: false, vaultKey: "required" }),
    (err: unknown) => err instanceof ConfigError && /PII_VAULT_KEY is not set/.test(err.message),
  );
  assert.throws(
    () =>
      loadConfig(
        {},
        { PII_HASH_KEY: hash, PII_VAULT_KEY: hash },
        { requireKey: true, vaultKey: "optional" },
      ),
    /PII_VAULT_KEY is the same as PII_HASH_KEY/,
  );
  assert.throws(
    () =>
      loadConfig(
        {},
        { PII_VAULT_KEY: vault, PII_VAULT_KEY_PREVIOUS: vault },
        { requireKey: false, vaultKey: "required" },
      ),
    /PII_VAULT_KEY_PREVIOUS is the same as PII_VAULT_KEY/,
  );
  assert.throws(
    () =>
      loadConfig({}, { PII_VAULT_KEY: `${vault}\n` }, { requireKey: false, vaultKey: "required" }),
    /PII_VAULT_KEY starts or ends with whitespace/,
  );
  for (const weak of ["short", "0123456789abcdef".repeat(4)]) {
    assert.throws(
      () => loadConfig({}, { PII_VAULT_KEY: weak }, { requireKey: false, vaultKey: "required" }),
      /PII_VAULT_KEY/,
    );
  }
});
