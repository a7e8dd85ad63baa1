// The migration list and the numbered files agree: consecutive versions from 1, each file listed
// once under its own number and name, and the analysts' DDL in the first one, verbatim.
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { test } from "node:test";
import { LOGIN_COLUMNS, userLoginsDdl } from "../../src/login-columns.js";
import { MIGRATIONS } from "../../src/sink/migrations/index.js";

const dir = new URL("../../src/sink/migrations/", import.meta.url);

test("every numbered migration file is listed, in order, under its own number and name", () => {
  const files = readdirSync(dir)
    .filter((f) => /^\d{3}-.*\.js$/.test(f))
    .sort();
  assert.ok(files.length > 0);
  assert.deepEqual(
    MIGRATIONS.map((m) => `${String(m.version).padStart(3, "0")}-${m.name}.js`),
    files,
  );
  assert.deepEqual(
    MIGRATIONS.map((m) => m.version),
    MIGRATIONS.map((_, i) => i + 1),
    "versions are consecutive from 1",
  );
});

test("the first migration creates user_logins with the analysts' exact DDL", () => {
  // login-columns.test.ts checks the generated DDL against the brief's; the migration is literal.
  const squash = (sql: string) => sql.replace(/\s+/g, " ").replace(/\( /g, "(");
  assert.ok(squash(MIGRATIONS[0]?.sql ?? "").includes(squash(userLoginsDdl())));
});

test("every column added after 001 is added by the migration its `since` names", () => {
  for (const column of LOGIN_COLUMNS.filter((c) => c.since > 1)) {
    const migration = MIGRATIONS.find((m) => m.version === column.since);
    assert.ok(migration, `${column.name}: no migration ${column.since}`);
    assert.match(
      migration.sql.replace(/\s+/g, " "),
      new RegExp(
        `ADD COLUMN IF NOT EXISTS ${column.name} ${column.sqlType.replace(/[()]/g, "\\$&")}`,
      ),
    );
  }
  assert.ok(LOGIN_COLUMNS.every((c) => MIGRATIONS.some((m) => m.version === c.since)));
});
