// The columns of public.user_logins, declared once. The DDL, the batch statement's column lists
// and unnest parameters, `etl replay`'s insert, the parallel arrays sent to Postgres and the
// length limits of the text fields stored as they are all derive from LOGIN_COLUMNS; the
// compiler checks that LoginRow has exactly these columns.
//
// Adding a column: one entry here (at the end, `since` = its migration's number), its field in
// LoginRow and its transform rule, and that migration (ALTER TABLE … ADD COLUMN IF NOT EXISTS);
// test/unit/migrations.test.ts checks that each column's migration adds it. Analysts depend
// on the existing columns: never reorder.
import type { LoginRow } from "./types.js";

/**
 * The table, always named with its schema: a role called "etl" has "$user" = etl first on its
 * search_path, and an unqualified name would find (or create) etl.user_logins instead.
 */
export const LOGIN_TABLE = "public.user_logins";

export interface ColumnSpec {
  name: string;
  /** The type in the table's DDL. */
  sqlType: string;
  /** The type of the array parameter it is sent in (unnest). */
  arrayType: string;
  /** varchar(n): the longest value in characters (code points), checked before insert. */
  maxLength?: number;
  /** The schema migration that added the column: 1 for the analysts' original seven. */
  since: number;
}

export const LOGIN_COLUMNS = [
  { name: "user_id", sqlType: "varchar(128)", arrayType: "varchar[]", maxLength: 128, since: 1 },
  { name: "device_type", sqlType: "varchar(32)", arrayType: "varchar[]", maxLength: 32, since: 1 },
  { name: "masked_ip", sqlType: "varchar(256)", arrayType: "varchar[]", maxLength: 256, since: 1 },
  {
    name: "masked_device_id",
    sqlType: "varchar(256)",
    arrayType: "varchar[]",
    maxLength: 256,
    since: 1,
  },
  { name: "locale", sqlType: "varchar(32)", arrayType: "varchar[]", maxLength: 32, since: 1 },
  { name: "app_version", sqlType: "integer", arrayType: "integer[]", since: 1 },
  { name: "create_date", sqlType: "date", arrayType: "date[]", since: 1 },
] as const satisfies readonly ColumnSpec[];

export type LoginColumn = (typeof LOGIN_COLUMNS)[number];
export type LoginColumnName = LoginColumn["name"];

// Compile-time: LoginRow's keys and the declared columns are the same set. A column added to one
// and not the other fails to compile here (and nowhere else would notice).
type SameKeys<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const rowMatchesColumns: SameKeys<keyof LoginRow, LoginColumnName> = true;
void rowMatchesColumns;

/** The length limit of a column, for the text fields stored as they arrive. */
export function columnMaxLength(name: Extract<LoginColumn, { maxLength: number }>["name"]): number {
  const column = LOGIN_COLUMNS.find((c) => c.name === name);
  if (!column || !("maxLength" in column)) throw new Error(`${name} has no length limit`);
  return column.maxLength;
}

/** A list of column specs: LOGIN_COLUMNS, or a scratch copy of it in tests. */
export type Columns = readonly ColumnSpec[];

/** `name1, name2, …` in table order. */
export function columnList(columns: Columns = LOGIN_COLUMNS): string {
  return columns.map((c) => c.name).join(", ");
}

/** The columns a schema at `version` has: those added by that migration or an earlier one. */
export function columnsAt(version: number, columns: Columns = LOGIN_COLUMNS): Columns {
  return columns.filter((c) => c.since <= version);
}

/**
 * CREATE TABLE for the columns; by default those of migration 001, which is the analysts' DDL
 * exactly (same columns, types and order). Later columns arrive by ALTER TABLE migrations.
 */
export function userLoginsDdl(columns: Columns = columnsAt(1)): string {
  return `CREATE TABLE IF NOT EXISTS user_logins(
  ${columns.map((c) => `${c.name} ${c.sqlType}`).join(", ")});`;
}

/** `$n::type[], …` for the columns, starting at parameter `first`. */
export function unnestParams(first: number, columns: Columns = LOGIN_COLUMNS): string {
  return columns.map((c, i) => `$${first + i}::${c.arrayType}`).join(", ");
}

/** The rows as parallel arrays, one per column in table order, for `unnest`. */
export function loginColumnArrays(rows: readonly LoginRow[]): unknown[][] {
  return LOGIN_COLUMNS.map((c) => rows.map((r) => r[c.name]));
}
