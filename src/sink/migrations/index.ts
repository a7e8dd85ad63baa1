// Every migration, in order. A migration is a numbered file (NNN-name.ts) exporting `name` and
// `sql`; it runs once per database, inside the transaction that records it in
// etl.schema_migrations. Never edit one that has shipped: add the next number.
// test/unit/migrations.test.ts checks that this list and the files in this folder agree.
import * as m001 from "./001-initial.js";

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [{ version: 1, ...m001 }];
