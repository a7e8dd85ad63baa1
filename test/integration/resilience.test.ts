// Failures inside a batch: a row the database refuses is isolated (the rest commits), transient
// failures are retried, connection failures stop the run with nothing deleted, and slow batches
// keep their messages invisible instead of having them redelivered.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type pg from "pg";
import { countOf, Harness, runCli, summaryOf } from "../support/harness.js";

let h: Harness;
before(async () => {
  h = await Harness.start();
});
after(async () => {
  await h?.stop();
});

const login = (userId: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    user_id: userId,
    app_version: "2.3.0",
    device_type: "android",
    ip: "10.0.0.1",
    locale: "RU",
    device_id: "593-47-5928",
    ...extra,
  });

/** A PL/pgSQL trigger on user_logins: `body` runs before each row or each INSERT statement. */
async function addTrigger(pool: pg.Pool, name: string, level: "ROW" | "STATEMENT", body: string) {
  await pool.query(`
    CREATE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      ${body}
    END $$;
    CREATE TRIGGER ${name} BEFORE INSERT ON user_logins FOR EACH ${level} EXECUTE FUNCTION ${name}();`);
}

describe("one bad row never sinks its neighbours", () => {
  test("a trigger that raises for one user_id: 99 rows, 1 rejected with its SQLSTATE, exit 0", async () => {
    const { url, pool } = await h.initialisedDatabase();
    await addTrigger(
      pool,
      "refuse_one",
      "ROW",
      `IF NEW.user_id = 'u-42' THEN
         RAISE EXCEPTION 'user % is blocked by policy', NEW.user_id USING ERRCODE = 'P0001';
       END IF;
       RETURN NEW;`,
    );
    const queue = await h.createQueue();
    await h.send(
      queue.url,
      Array.from({ length: 100 }, (_, i) => login(`u-${i}`)),
    );

    const result = await runCli(["run", "--batch-size", "100"], h.env(url, queue.name));
    assert.equal(result.code, 0, result.stderr);
    assert.equal(await countOf(pool, "SELECT count(*)::int AS n FROM user_logins"), 99);
    const rejected = await pool.query("SELECT reason, detail, payload FROM etl.rejected_messages");
    assert.equal(rejected.rows.length, 1);
    assert.equal(rejected.rows[0].reason, "db_error");
    assert.match(rejected.rows[0].detail, /SQLSTATE P0001: user u-42 is blocked by policy/);
    assert.ok(!rejected.rows[0].payload.includes("10.0.0.1"), "the payload is masked");
    assert.equal(await countOf(pool, "SELECT count(*)::int AS n FROM etl.processed_messages"), 100);
    assert.deepEqual(summaryOf(result).rejected, { db_error: 1 });
    assert.deepEqual(await h.depth(queue.url), { visible: 0, inFlight: 0 });
  });

  test("a CHECK constraint a DBA added: only the violating message is rejected", async () => {
    const { url, pool } = await h.initialisedDatabase();
    await pool.query(
      "ALTER TABLE user_logins ADD CONSTRAINT locale_upper CHECK (locale = upper(locale))",
    );
    const queue = await h.createQueue();
    const bodies = Array.from({ length: 50 }, (_, i) =>
      login(`c-${i}`, i === 17 ? { locale: "ru" } : {}),
    );
    await h.send(queue.url, bodies);

    const result = await runCli(["run", "--batch-size", "50"], h.env(url, queue.name));
    assert.equal(result.code, 0, result.stderr);
    assert.equal(await countOf(pool, "SELECT count(*)::int AS n FROM user_logins"), 49);
    const q = await pool.query(
      "SELECT detail FROM etl.rejected_messages WHERE reason = 'db_error'",
    );
    assert.equal(q.rows.length, 1);
    assert.match(q.rows[0].detail, /SQLSTATE 23514: .*locale_upper/);
  });

  test("a deadlock is retried, not rejected", async () => {
    const { url, pool } = await h.initialisedDatabase();
    // The first INSERT statement fails as a deadlock victim would (SQLSTATE 40P01); a sequence
    // is used because it is not rolled back with the failed transaction.
    await pool.query("CREATE SEQUENCE deadlock_once");
    await addTrigger(
      pool,
      "deadlock_once",
      "STATEMENT",
      `IF nextval('deadlock_once') = 1 THEN
         RAISE EXCEPTION 'deadlock detected (simulated)' USING ERRCODE = '40P01';
       END IF;
       RETURN NULL;`,
    );
    const queue = await h.createQueue();
    await h.send(
      queue.url,
      Array.from({ length: 30 }, (_, i) => login(`d-${i}`)),
    );

    const result = await runCli(["run"], h.env(url, queue.name));
    assert.equal(result.code, 0, result.stderr);
    assert.equal(await countOf(pool, "SELECT count(*)::int AS n FROM user_logins"), 30);
    assert.equal(await countOf(pool, "SELECT count(*)::int AS n FROM etl.rejected_messages"), 0);
    assert.ok(
      result.logs.some((l) => l.code === "40P01" && /will be retried/.test(String(l.msg))),
      "the retry is logged",
    );
  });

  test("a connection lost mid-transaction is not a row error: exit 1, nothing deleted", async () => {
    const { url, pool } = await h.initialisedDatabase();
    await addTrigger(
      pool,
      "hang_up",
      "STATEMENT",
      "PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NULL;",
    );
    const queue = await h.createQueue();
    await h.send(
      queue.url,
      Array.from({ length: 20 }, (_, i) => login(`x-${i}`)),
    );

    const result = await runCli(["run"], h.env(url, queue.name));
    assert.equal(result.code, 1, result.stderr);
    assert.equal(await countOf(pool, "SELECT count(*)::int AS n FROM user_logins"), 0);
    assert.equal(await countOf(pool, "SELECT count(*)::int AS n FROM etl.rejected_messages"), 0);
    const depth = await h.depth(queue.url);
    assert.equal(depth.visible + depth.inFlight, 20, "every message is still in the queue");
    assert.equal(summaryOf(result).deleted, 0);
  });
});

describe("long batches keep their messages", () => {
  test("a transaction slower than the visibility timeout: no message is received twice", async () => {
    const { url, pool } = await h.initialisedDatabase();
    await pool.query("CREATE SEQUENCE slow_once");
    await addTrigger(
      pool,
      "slow_once",
      "STATEMENT",
      "IF nextval('slow_once') = 1 THEN PERFORM pg_sleep(6); END IF; RETURN NULL;",
    );
    const queue = await h.createQueue();
    await h.send(
      queue.url,
      Array.from({ length: 40 }, (_, i) => login(`s-${i}`)),
    );

    const result = await runCli(
      // One poller: moto can hand one message to two concurrent polls, which is SQS's
      // at-least-once, not the redelivery after expiry that this test is about.
      ["run", "--visibility-timeout", "2", "--concurrency", "1", "--batch-size", "20"],
      h.env(url, queue.name),
    );
    assert.equal(result.code, 0, result.stderr);
    const summary = summaryOf(result);
    assert.equal(summary.received, 40, "each message was received exactly once");
    assert.equal(summary.duplicates, 0);
    assert.ok(Number(summary.visibilityExtensions) > 0, "visibility was extended");
    assert.equal(await countOf(pool, "SELECT count(*)::int AS n FROM user_logins"), 40);
    assert.deepEqual(await h.depth(queue.url), { visible: 0, inFlight: 0 });
  });
});
