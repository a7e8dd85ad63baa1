// Poison messages against real Postgres and SQS: bodies that grow under masking (run with the
// deployed heap flag), rejected-message entries the database refuses, a table that refuses every
// row (systemic: stop, reject nothing), and replay isolating a message that still fails.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type pg from "pg";
import { STORED_PAYLOAD_MAX_CHARS } from "../../src/transform/rejected-payload.js";
import { countOf, Harness, runCli, summaryOf } from "../support/harness.js";

let h: Harness;
before(async () => {
  h = await Harness.start();
});
after(async () => {
  await h?.stop();
});

const login = (userId: string) =>
  JSON.stringify({
    user_id: userId,
    app_version: "2.3.0",
    device_type: "android",
    ip: "10.0.0.1",
    locale: "RU",
    device_id: "593-47-5928",
  });

/** A column added as NOT NULL without a default the loader fills: every insert fails alike. */
async function addUnfilledNotNullColumn(pool: pg.Pool): Promise<void> {
  await pool.query("ALTER TABLE user_logins ADD COLUMN region text NOT NULL DEFAULT 'x'");
  await pool.query("ALTER TABLE user_logins ALTER COLUMN region DROP DEFAULT");
}

/** The heap limit the Dockerfile and the README's cron line run with. */
const DEPLOYED_HEAP = ["--max-old-space-size=256"];

describe("poison messages", () => {
  test("bodies that grow nine-fold under masking: the run survives the deployed heap, rejects them with capped payloads and loads the rest", async () => {
    const { url, pool } = await h.initialisedDatabase();
    const queue = await h.createQueue();
    // 256 KiB of "1.1.1.1." is 32,768 addresses: 2.3 M characters once each is an hmac.
    const hostile = "1.1.1.1.".repeat(32 * 1024);
    await h.send(queue.url, [
      ...Array.from({ length: 100 }, () => hostile),
      ...Array.from({ length: 50 }, (_, i) => login(`u-${i}`)),
    ]);

    const result = await runCli(["run"], h.env(url, queue.name), {
      nodeArgs: DEPLOYED_HEAP,
      timeoutMs: 120_000,
    });
    assert.equal(result.code, 0, result.stderr.slice(-2000));
    assert.equal(await countOf(pool, "SELECT count(*)::int AS n FROM user_logins"), 50);
    const rejected = await pool.query<{ reason: string; len: number; sealed: number }>(
      `SELECT reason, length(payload) AS len, length(body_sealed) AS sealed FROM etl.rejected_messages`,
    );
    assert.equal(rejected.rows.length, 100);
    for (const r of rejected.rows) {
      assert.equal(r.reason, "invalid_json");
      assert.ok(r.len <= STORED_PAYLOAD_MAX_CHARS + 200, `payload of ${r.len} characters`);
      assert.ok(r.sealed >= hostile.length, "the sealed original keeps the whole body");
    }
    assert.deepEqual(summaryOf(result).rejected, { invalid_json: 100 });
    assert.deepEqual(await h.depth(queue.url), { visible: 0, inFlight: 0 });
  });

  test("a rejected message whose entry the database refuses gets a minimal entry; the run goes on", async () => {
    const { url, pool } = await h.initialisedDatabase();
    // A DBA's rule on the rejected messages that this message's full entry breaks.
    await pool.query(
      `ALTER TABLE etl.rejected_messages ADD CONSTRAINT no_poison CHECK (payload NOT LIKE '%poison%')`,
    );
    // And a row the database refuses, whose db_error entry (payload: the masked body) breaks it too.
    await pool.query(
      `ALTER TABLE user_logins ADD CONSTRAINT no_poison_user CHECK (user_id NOT LIKE 'poison%')`,
    );
    const queue = await h.createQueue();
    await h.send(queue.url, [
      ...Array.from({ length: 20 }, (_, i) => login(`u-${i}`)),
      '{"user_id": "poison", truncated',
      login("poison-row"),
    ]);

    const result = await runCli(["run", "--batch-size", "50"], h.env(url, queue.name));
    assert.equal(result.code, 0, result.stderr);
    assert.equal(await countOf(pool, "SELECT count(*)::int AS n FROM user_logins"), 20);
    const entries = await pool.query<{ reason: string; detail: string; payload: string }>(
      "SELECT reason, detail, payload FROM etl.rejected_messages ORDER BY reason",
    );
    assert.deepEqual(
      entries.rows.map((r) => r.reason),
      ["db_error", "invalid_json"],
    );
    for (const r of entries.rows) {
      assert.match(r.payload, /^\[payload withheld/);
      assert.match(r.detail, /full entry was refused too \(SQLSTATE 23514\)/);
    }
    assert.equal(await countOf(pool, "SELECT count(*)::int AS n FROM etl.processed_messages"), 22);
    assert.deepEqual(await h.depth(queue.url), { visible: 0, inFlight: 0 });

    // The minimal entry keeps what replay needs: once the table is fixed, the event loads.
    await pool.query("ALTER TABLE user_logins DROP CONSTRAINT no_poison_user");
    await pool.query("ALTER TABLE etl.rejected_messages DROP CONSTRAINT no_poison");
    const replay = await runCli(["replay", "--json"], h.env(url, queue.name));
    assert.equal(replay.code, 0, replay.stderr);
    assert.deepEqual(JSON.parse(replay.stdout), {
      examined: 2,
      loaded: 1,
      stillRejected: { invalid_json: 1 },
      undecryptable: 0,
    });
    assert.equal(await countOf(pool, "SELECT count(*)::int AS n FROM user_logins"), 21);
  });

  test("two messages breaking the same CHECK are poison, not a broken table: both rejected, exit 0", async () => {
    const { url, pool } = await h.initialisedDatabase();
    await pool.query(
      `ALTER TABLE user_logins ADD CONSTRAINT no_bad CHECK (user_id NOT LIKE 'bad%')`,
    );
    const queue = await h.createQueue();
    await h.send(queue.url, [login("bad-1"), login("bad-2")]);
    const result = await runCli(["run"], h.env(url, queue.name));
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(summaryOf(result).rejected, { db_error: 2 });
    assert.deepEqual(await h.depth(queue.url), { visible: 0, inFlight: 0 });
  });

  test("a table that refuses every row the same way stops the run: exit 1, nothing rejected, everything still queued", async () => {
    const { url, pool } = await h.initialisedDatabase();
    await addUnfilledNotNullColumn(pool);
    const queue = await h.createQueue();
    await h.send(
      queue.url,
      Array.from({ length: 30 }, (_, i) => login(`u-${i}`)),
    );

    const result = await runCli(
      ["run", "--batch-size", "10", "--visibility-timeout", "2"],
      h.env(url, queue.name),
    );
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /SQLSTATE 23502: .*refused a neutral probe row the same way/);
    assert.equal(await countOf(pool, "SELECT count(*)::int AS n FROM etl.rejected_messages"), 0);
    assert.equal(await countOf(pool, "SELECT count(*)::int AS n FROM etl.processed_messages"), 0);
    const depth = await h.depth(queue.url);
    assert.equal(depth.visible + depth.inFlight, 30, "no message was deleted");

    // Fixed by the DBA: the same messages load once their visibility runs out.
    await pool.query("ALTER TABLE user_logins ALTER COLUMN region SET DEFAULT 'x'");
    await new Promise((resolve) => setTimeout(resolve, 2_500)); // their visibility runs out
    const rerun = await runCli(["run"], h.env(url, queue.name));
    assert.equal(rerun.code, 0, rerun.stderr);
    assert.equal(await countOf(pool, "SELECT count(*)::int AS n FROM user_logins"), 30);
  });

  test("a broken table is found with batches of one too (a trickle queue): exit 1, nothing rejected", async () => {
    const { url, pool } = await h.initialisedDatabase();
    await addUnfilledNotNullColumn(pool);
    const queue = await h.createQueue();
    await h.send(
      queue.url,
      Array.from({ length: 5 }, (_, i) => login(`one-${i}`)),
    );
    const result = await runCli(["run", "--batch-size", "1"], h.env(url, queue.name));
    assert.equal(result.code, 1, result.stderr);
    assert.equal(await countOf(pool, "SELECT count(*)::int AS n FROM etl.rejected_messages"), 0);
    assert.equal(
      await countOf(pool, "SELECT count(*)::int AS n FROM user_logins"),
      0,
      "the probe row never stays",
    );
  });

  test("replay loads what now passes and leaves a message the database still refuses, with its new detail", async () => {
    const { url, pool } = await h.initialisedDatabase();
    await pool.query(
      `ALTER TABLE user_logins ADD CONSTRAINT first_rule CHECK (user_id NOT IN ('blocked-a', 'blocked-b'))`,
    );
    const queue = await h.createQueue();
    await h.send(queue.url, [login("ok"), login("blocked-a"), login("blocked-b")]);
    const run = await runCli(["run"], h.env(url, queue.name));
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(summaryOf(run).rejected, { db_error: 2 });

    // The rule changes: blocked-b is allowed now, blocked-a is refused by a new constraint.
    await pool.query("ALTER TABLE user_logins DROP CONSTRAINT first_rule");
    await pool.query(
      `ALTER TABLE user_logins ADD CONSTRAINT second_rule CHECK (user_id <> 'blocked-a')`,
    );
    const replay = await runCli(["replay", "--json"], h.env(url, queue.name));
    assert.equal(replay.code, 0, replay.stderr);
    const outcome = JSON.parse(replay.stdout) as Record<string, unknown>;
    assert.equal(outcome.loaded, 1);
    assert.deepEqual(outcome.stillRejected, { db_error: 1 });
    const users = await pool.query<{ user_id: string }>(
      "SELECT user_id FROM user_logins ORDER BY user_id",
    );
    assert.deepEqual(
      users.rows.map((r) => r.user_id),
      ["blocked-b", "ok"],
    );
    const left = await pool.query<{ detail: string; payload: string }>(
      "SELECT detail, payload FROM etl.rejected_messages",
    );
    assert.equal(left.rows.length, 1);
    assert.match(left.rows[0]?.detail ?? "", /second_rule/);
    assert.ok(!left.rows[0]?.payload.includes("10.0.0.1"), "the stored masked payload is kept");
    assert.ok((left.rows[0]?.payload.length ?? 0) > 0);
  });

  test("replay transforms outside its transaction: slow bodies do not hit the idle-in-transaction timeout", async () => {
    const { url, pool } = await h.initialisedDatabase();
    const queue = await h.createQueue();
    // JSON arrays of addresses: rejected (not an object), and slow to mask again on replay.
    const slow = JSON.stringify(Array.from({ length: 20_000 }, () => "1.1.1.1"));
    await h.send(queue.url, [...Array.from({ length: 30 }, () => slow), login("fixable")]);
    await pool.query(`ALTER TABLE user_logins ADD CONSTRAINT not_yet CHECK (user_id <> 'fixable')`);
    const run = await runCli(["run"], h.env(url, queue.name), { timeoutMs: 120_000 });
    assert.equal(run.code, 0, run.stderr);
    await pool.query("ALTER TABLE user_logins DROP CONSTRAINT not_yet");
    const replay = await runCli(
      ["replay", "--json", "--db-statement-timeout", "1"],
      h.env(url, queue.name),
      { timeoutMs: 120_000 },
    );
    assert.equal(replay.code, 0, replay.stderr);
    assert.equal(JSON.parse(replay.stdout).loaded, 1);
  });
});
