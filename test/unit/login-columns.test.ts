// user_logins' columns are declared once (src/login-columns.ts); the DDL and every statement that
// writes rows are generated from the list. Adding a column to a scratch copy shows what changes.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import {
  type Columns,
  columnsAt,
  LOGIN_COLUMNS,
  loginColumnArrays,
  userLoginsDdl,
} from "../../src/login-columns.js";
import { insertLoginsSql, loadBatchSql } from "../../src/sink/postgres-sink.js";

const squash = (sql: string) => sql.replace(/\s+/g, " ").replace(/\( /g, "(").trim();

/** The analysts' DDL, as the brief gives it. */
const BRIEF_DDL = `CREATE TABLE IF NOT EXISTS user_logins(
  user_id varchar(128), device_type varchar(32), masked_ip varchar(256),
  masked_device_id varchar(256), locale varchar(32), app_version integer, create_date date);`;

const SCRATCH: Columns = [
  ...LOGIN_COLUMNS,
  { name: "region", sqlType: "varchar(16)", arrayType: "varchar[]", maxLength: 16, since: 2 },
];

describe("user_logins columns, declared once", () => {
  test("the generated DDL is the analysts' DDL, and the compose init SQL is the same statement", () => {
    assert.equal(squash(userLoginsDdl()), squash(BRIEF_DDL));
    const initSql = readFileSync(
      fileURLToPath(new URL("../../../docker/postgres/init/01-user_logins.sql", import.meta.url)),
      "utf8",
    );
    const statement = initSql.slice(initSql.indexOf("CREATE TABLE"));
    assert.equal(squash(statement), squash(BRIEF_DDL));
  });

  test("the batch statement numbers its parameters from the list: ledger, rows, rejected messages, vault", () => {
    // Every parameter with its cast, in order of appearance; arrays end in [].
    const params = (sql: string) =>
      [...sql.matchAll(/\$(\d+)::([a-z]+(?:\[\])?)/g)].map((m) => `${m[1]}:${m[2]}`);
    assert.deepEqual(params(loadBatchSql()), [
      "1:text[]",
      "2:text[]",
      "3:text[]",
      "4:varchar[]",
      "5:varchar[]",
      "6:varchar[]",
      "7:varchar[]",
      "8:varchar[]",
      "9:integer[]",
      "10:date[]",
      "11:text[]",
      "12:text[]",
      "13:text[]",
      "14:text[]",
      "15:bytea[]",
      "16:integer[]",
      "17:timestamptz[]",
      // The vault: fingerprints, the sealed bytes, the rows' own mask arrays, offsets, lengths.
      "21:text",
      "22:text",
      "18:bytea",
      "6:varchar[]",
      "7:varchar[]",
      "19:int[]",
      "20:int[]",
      "19:int[]",
      "20:int[]",
    ]);
  });

  test("a column added to a scratch copy of the list reaches the DDL, the batch statement and replay's insert", () => {
    assert.match(
      squash(userLoginsDdl(columnsAt(2, SCRATCH))),
      /app_version integer, create_date date, region varchar\(16\)\);$/,
    );
    const batch = squash(loadBatchSql(SCRATCH));
    assert.match(
      batch,
      /INSERT INTO public.user_logins \(user_id, [^)]*, create_date, region\) SELECT user_id, [^)]*, create_date, region FROM/,
    );
    assert.match(
      batch,
      /\$10::date\[\], \$11::varchar\[\]\) AS r\(message_id, user_id, [^)]*, region\)/,
    );
    assert.match(
      batch,
      /unnest\(\$12::text\[\], [^)]*\$18::timestamptz\[\]\) AS q\(/,
      "rejected messages parameters move up",
    );
    assert.match(
      squash(insertLoginsSql(SCRATCH)),
      /\(user_id, [^)]*, region\) SELECT \* FROM unnest\(\$1::varchar\[\], .*\$8::varchar\[\]\)$/,
    );
  });

  test("rows become one array per column, in table order", () => {
    const row = {
      user_id: "u",
      device_type: "ios",
      masked_ip: "a".repeat(64),
      masked_device_id: "b".repeat(64),
      locale: null,
      app_version: 2_003_000,
      create_date: "2026-11-24",
    };
    assert.deepEqual(loginColumnArrays([row, { ...row, user_id: "v" }]), [
      ["u", "v"],
      ["ios", "ios"],
      ["a".repeat(64), "a".repeat(64)],
      ["b".repeat(64), "b".repeat(64)],
      [null, null],
      [2_003_000, 2_003_000],
      ["2026-11-24", "2026-11-24"],
    ]);
  });
});
