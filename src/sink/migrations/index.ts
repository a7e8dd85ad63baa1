// Every migration, in order. A migration is a numbered file (NNN-name.ts) exporting `name` and
// `sql`; it runs once per database, inside the transaction that records it in
// etl.schema_migrations. Never edit one that has shipped: add the next number.
// test/unit/migrations.test.ts checks that this list and the files in this folder agree.
import * as m001 from "./001-initial.js";
import * as m002 from "./002-key-epochs.js";
import * as m003 from "./003-pii-vault.js";
import * as m004 from "./004-vault-binary-masks.js";

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  { version: 1, ...m001 },
  { version: 2, ...m002 },
  { version: 3, ...m003 },
  { version: 4, ...m004 },
];

/** The version of the migration with this name (code that needs a table checks it is there). */
export function versionOf(name: string): number {
  const migration = MIGRATIONS.find((m) => m.name === name);
  if (!migration) throw new Error(`no migration named ${name}`);
  return migration.version;
}
