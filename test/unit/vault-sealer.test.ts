// The sealing thread of `etl run`: the bytes it answers are the ones sealing in place gives
// (nonces are derived, so sealing is deterministic), in order, opening under their field and
// mask; a failure is an error naming no value; a closed sealer fails, and does not hang.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { createVaultCipher, type VaultPlaintext } from "../../src/sink/vault-cipher.js";
import { ownBytes, sealInPlace, startSealWorker } from "../../src/sink/vault-sealer.js";

const KEY = randomBytes(32);
const mask = (i: number) => i.toString(16).padStart(64, "0");
const ENTRIES: VaultPlaintext[] = Array.from({ length: 500 }, (_, i) => ({
  field: i % 2 === 0 ? "ip" : "device_id",
  mask: mask(i),
  value: i % 2 === 0 ? `10.0.${i >> 8}.${i & 255}` : `${i}-47-5928-ünï😀`,
}));
// Values whose UTF-16 length is not their byte length, an empty one, a lone surrogate.
ENTRIES.push(
  { field: "device_id", mask: mask(1001), value: "" },
  { field: "ip", mask: mask(1002), value: "\ud800" },
  { field: "device_id", mask: mask(1003), value: "😀".repeat(40) },
);

test("the worker seals exactly what sealing in place does, in order, and the values open", async () => {
  const worker = await startSealWorker(KEY);
  try {
    const [a, b] = await Promise.all([worker.seal(ENTRIES), worker.seal(ENTRIES.slice(7, 9))]);
    const here = await sealInPlace(createVaultCipher(KEY)).seal(ENTRIES);
    assert.deepEqual([...Array.from(a.lengths)], [...Array.from(here.lengths)]);
    assert.ok(a.bytes.equals(here.bytes), "same bytes as in place");
    assert.equal(worker.fingerprint, createVaultCipher(KEY).fingerprint);
    assert.equal(b.lengths.length, 2, "two seals under way at once each get their own answer");
    const cipher = createVaultCipher(KEY);
    let at = 0;
    ENTRIES.forEach((e, i) => {
      const length = a.lengths[i] ?? 0;
      // As UTF-8 keeps it: a lone surrogate comes back as U+FFFD, sealed in place or not.
      const kept = Buffer.from(e.value, "utf8").toString("utf8");
      assert.equal(cipher.open(e.field, e.mask, a.bytes.subarray(at, at + length)), kept);
      at += length;
    });
    assert.equal(at, a.bytes.length);
    assert.deepEqual(await worker.seal([]), { bytes: Buffer.alloc(0), lengths: [] });
  } finally {
    await worker.close();
  }
});

test("a seal the worker refuses fails with the reason, and names no value; the worker goes on", async () => {
  const worker = await startSealWorker(KEY);
  try {
    const secret = "203.0.113.77";
    await assert.rejects(
      worker.seal([{ field: "ip", mask: "not-hex", value: secret }]),
      (err: Error) => /64 lowercase hex digits/.test(err.message) && !err.message.includes(secret),
    );
    const ok = await worker.seal(ENTRIES.slice(0, 1));
    assert.equal(ok.lengths.length, 1);
  } finally {
    await worker.close();
  }
});

test("closing fails a seal still waiting and every later one", async () => {
  const worker = await startSealWorker(KEY);
  const many = Array.from({ length: 50 }, () => ENTRIES).flat();
  const waiting = assert.rejects(worker.seal(many), /closed/);
  await worker.close();
  await waiting;
  await assert.rejects(worker.seal(ENTRIES.slice(0, 1)), /closed/);
});

test("a sealing thread that cannot make its cipher fails at start, saying so, and names no key", async () => {
  const short = Buffer.from("0123456789abcdef", "utf8");
  await assert.rejects(
    startSealWorker(short),
    (err: Error) =>
      err.name === "SealingError" &&
      /did not start: .*at least 32 bytes/.test(err.message) &&
      !err.message.includes(short.toString()),
  );
});

test("the thread gets a pooled key's own bytes, not the pool around them", async () => {
  // A short Buffer.from() is a view of Node's shared pool, where other secrets may sit beside it.
  const key = Buffer.from(randomBytes(32).toString("hex").slice(0, 40), "utf8");
  assert.ok(key.buffer.byteLength > key.length, "the key is a view of a larger pool");
  const own = ownBytes(key);
  assert.equal(own.buffer.byteLength, key.length, "what is cloned to the thread is the key alone");
  assert.ok(Buffer.from(own).equals(key));
  const worker = await startSealWorker(key);
  try {
    const sealed = await worker.seal(ENTRIES.slice(0, 1));
    const entry = ENTRIES[0];
    assert.ok(entry);
    assert.equal(createVaultCipher(key).open(entry.field, entry.mask, sealed.bytes), entry.value);
  } finally {
    await worker.close();
  }
});
