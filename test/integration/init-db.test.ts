// `etl init-db` and the schema: idempotent, safe when several processes start at once, and
// user_logins exactly as analysts defined it.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ALL_TABLES, Harness, runCli } from "../support/harness.js";

let h: Harness;
before(async () => {
  h = await Harness.start();
});
after(async () => {
  await h?.stop();
});

test("init-db creates the tables, is idempotent, and needs no PII key", async () => {
  const { url, pool } = await h.freshDatabase();
  for (let i = 0; i < 2; i++) {
    const result = await runCli(["init-db"], { DATABASE_URL: url, ETL_STARTUP_WAIT: "2" });
    assert.equal(result.code, 0, result.stderr);
  }
  const tables = await pool.query<{ name: string }>(
    `SELECT table_schema || '.' || table_name AS name FROM information_schema.tables
      WHERE table_schema IN ('public', 'etl') ORDER BY 1`,
  );
  assert.deepEqual(
    tables.rows.map((r) => r.name),
    ALL_TABLES,
  );
  const columns = await pool.query(
    `SELECT column_name, data_type, character_maximum_length AS len FROM information_schema.columns
      WHERE table_schema = 'public' AND table_name = 'user_logins' ORDER BY ordinal_position`,
  );
  assert.deepEqual(columns.rows, [
    { column_name: "user_id", data_type: "character varying", len: 128 },
    { column_name: "device_type", data_type: "character varying", len: 32 },
    { column_name: "masked_ip", data_type: "character varying", len: 256 },
    { column_name: "masked_device_id", data_type: "character varying", len: 256 },
    { column_name: "locale", data_type: "character varying", len: 32 },
    { column_name: "app_version", data_type: "integer", len: null },
    { column_name: "create_date", data_type: "date", len: null },
  ]);
});

test("several processes creating the schema at once all succeed", async () => {
  const { url } = await h.freshDatabase();
  const results = await Promise.all(
    Array.from({ length: 4 }, () =>
      runCli(["init-db"], { DATABASE_URL: url, ETL_STARTUP_WAIT: "2" }),
    ),
  );
  for (const r of results) assert.equal(r.code, 0, r.stderr);
});

test("a wrong password is reported as such, without the password, and not waited for", async () => {
  const wrong = new URL(h.postgres.url);
  wrong.password = "wrong-pw";
  const url = wrong.href;
  const started = Date.now();
  const result = await runCli(["init-db"], { DATABASE_URL: url, ETL_STARTUP_WAIT: "20" });
  assert.equal(result.code, 2, result.stderr);
  assert.match(result.stderr, /Postgres refused the credentials in DATABASE_URL/);
  assert.ok(!result.stderr.includes("wrong-pw"));
  assert.ok(Date.now() - started < 10_000, "an authentication failure is final, not retried");
});
