// The key can never change silently: the first run records its fingerprint; another key, the
// same hex in upper case, or the key with a trailing newline exits 2 before receiving anything;
// `etl rotate-key` records a deliberate change, after which only the new key runs.
import assert from "node:assert/strict";
import { createHmac, randomBytes } from "node:crypto";
import { after, before, test } from "node:test";
import { Harness, runCli } from "../support/harness.js";

let h: Harness;
before(async () => {
  h = await Harness.start();
});
after(async () => {
  await h?.stop();
});

const login = (userId: string) =>
  JSON.stringify({ user_id: userId, ip: "10.9.8.7", device_id: "123-45-6789" });

/** Computed independently of src/: the first 16 hex of HMAC-SHA-256(key, label). */
const fingerprint = (key: string) =>
  createHmac("sha256", Buffer.from(key, "utf8"))
    .update("login-etl/v1/key-fingerprint")
    .digest("hex")
    .slice(0, 16);

test("a changed, re-cased or padded key exits 2 with the queue untouched; rotate-key then lets the new key run", async () => {
  const { url, pool } = await h.freshDatabase();
  const queue = await h.createQueue();
  const original = h.key; // 64 lower-case hex characters
  const env = (key: string) => h.env(url, queue.name, { PII_HASH_KEY: key });

  await h.send(queue.url, [login("first")]);
  const first = await runCli(["run"], env(original));
  assert.equal(first.code, 0, first.stderr);
  const epochs = await pool.query("SELECT epoch, fingerprint, reason FROM etl.key_epochs");
  assert.deepEqual(epochs.rows, [
    { epoch: 1, fingerprint: fingerprint(original), reason: "first use" },
  ]);

  await h.send(queue.url, [login("second"), login("third")]);
  const other = randomBytes(32).toString("hex");
  const refused: [string, string, RegExp][] = [
    ["another key", other, /fingerprint [0-9a-f]{16}, but the masks in this database were made/],
    ["the same hex in upper case", original.toUpperCase(), /were made with the key of fingerprint/],
    ["a trailing newline", `${original}\n`, /starts or ends with whitespace/],
    ["a leading space", ` ${original}`, /starts or ends with whitespace/],
  ];
  for (const [what, key, message] of refused) {
    for (const command of [["run"], ["replay"]]) {
      const result = await runCli(command, env(key));
      assert.equal(result.code, 2, `${what}, ${command[0]}: ${result.stderr}`);
      assert.match(result.stderr, message, what);
      assert.ok(!result.stderr.includes(original.slice(0, 16)), "the key itself is never shown");
    }
    assert.deepEqual(await h.depth(queue.url), { visible: 2, inFlight: 0 }, `${what}: untouched`);
  }
  const mismatch = await runCli(["run"], env(other));
  assert.match(mismatch.stderr, new RegExp(fingerprint(other)));
  assert.match(mismatch.stderr, new RegExp(fingerprint(original)));
  assert.match(mismatch.stderr, /etl rotate-key/);

  // A deliberate change: recorded with its date and reason; then the new key runs, the old does not.
  const rotate = await runCli(["rotate-key", "--reason", "exposed in a CI log"], env(other));
  assert.equal(rotate.code, 0, rotate.stderr);
  assert.match(rotate.stdout, /key epoch 2: fingerprint [0-9a-f]{16}/);
  assert.match(rotate.stdout, /do not compare/);
  const again = await runCli(["key", "rotate", "--reason", "twice"], env(other));
  assert.match(again.stdout, /already the current one/);
  const withNew = await runCli(["run"], env(other));
  assert.equal(withNew.code, 0, withNew.stderr);
  const withOld = await runCli(["run"], env(original));
  assert.equal(withOld.code, 2, withOld.stderr);

  const rows = await pool.query<{ user_id: string; masked_ip: string }>(
    "SELECT user_id, masked_ip FROM user_logins ORDER BY user_id",
  );
  assert.equal(rows.rows.length, 3);
  const recorded = await pool.query(
    "SELECT epoch, fingerprint, reason FROM etl.key_epochs ORDER BY epoch",
  );
  assert.deepEqual(recorded.rows, [
    { epoch: 1, fingerprint: fingerprint(original), reason: "first use" },
    { epoch: 2, fingerprint: fingerprint(other), reason: "exposed in a CI log" },
  ]);
  const status = await runCli(["status"], env(other));
  assert.match(status.stdout, new RegExp(`key +fingerprint ${fingerprint(other)} since .*epoch 2`));
});

test("a dry run on a database that has no key recorded yet records nothing", async () => {
  const { url, pool } = await h.freshDatabase();
  const init = await runCli(["init-db"], { DATABASE_URL: url });
  assert.equal(init.code, 0, init.stderr);
  const queue = await h.createQueue();
  await h.send(queue.url, [login("dry")]);
  const dry = await runCli(["run", "--dry-run"], h.env(url, queue.name));
  assert.equal(dry.code, 0, dry.stderr);
  const epochs = await pool.query("SELECT 1 FROM etl.key_epochs");
  assert.equal(epochs.rows.length, 0);
});

test("a database from before key epochs adopts only a key that opens its sealed bodies", async () => {
  const { url, pool } = await h.freshDatabase();
  const queue = await h.createQueue();
  const original = h.key;
  await h.send(queue.url, ["not json, sealed under the original key", login("kept")]);
  const first = await runCli(["run"], h.env(url, queue.name, { PII_HASH_KEY: original }));
  assert.equal(first.code, 0, first.stderr);
  // As if the database predated etl.key_epochs: nothing recorded, data present.
  await pool.query("DELETE FROM etl.key_epochs");

  await h.send(queue.url, [login("next")]);
  const other = randomBytes(32).toString("hex");
  const wrong = await runCli(["run"], h.env(url, queue.name, { PII_HASH_KEY: other }));
  assert.equal(wrong.code, 2, wrong.stderr);
  assert.match(wrong.stderr, /opens none of the 1 sealed bodies/);
  assert.deepEqual(await h.depth(queue.url), { visible: 1, inFlight: 0 });
  const replay = await runCli(["replay"], h.env(url, queue.name, { PII_HASH_KEY: other }));
  assert.equal(replay.code, 0, replay.stderr);
  assert.equal(
    (await pool.query("SELECT 1 FROM etl.key_epochs")).rows.length,
    0,
    "replay records no key",
  );

  const right = await runCli(["run"], h.env(url, queue.name, { PII_HASH_KEY: original }));
  assert.equal(right.code, 0, right.stderr);
  const epochs = await pool.query("SELECT fingerprint FROM etl.key_epochs");
  assert.deepEqual(epochs.rows, [{ fingerprint: fingerprint(original) }]);
});
