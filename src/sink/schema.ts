// The schema's version: which numbered migrations (sink/migrations/) this database has, and
// applying the missing ones. `etl init-db` always migrates; every other command first reads the
// version (one SELECT, no DDL, no lock) and migrates only when something is missing, so a run
// against a current schema works under a role that may not create anything.
import type { Pool, PoolClient } from "pg";
import { DatabaseError, describeError, ExitCode, errorCode } from "../errors.js";
import type { Logger } from "../logger.js";
import { LOGIN_COLUMNS, LOGIN_TABLE } from "../login-columns.js";
import { MIGRATIONS, type Migration } from "./migrations/index.js";
import { withTransaction } from "./transaction.js";

// Concurrent starts (cron overlap, several machines) may all find a migration missing; they
// apply it one at a time, and the later ones find it done.
export const SCHEMA_LOCK_ID = 0x10e7_1001;
// A migration that needs a table lock waits at most this long behind open transactions (a run's
// batch), then fails with a message instead of queueing every other run behind it.
const LOCK_TIMEOUT = "30s";

const BOOTSTRAP_SQL = `
CREATE SCHEMA IF NOT EXISTS etl;
CREATE TABLE IF NOT EXISTS etl.schema_migrations (
  version    integer PRIMARY KEY,
  name       text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
);`;

export interface SchemaState {
  /** The role the pool connects as, for messages. */
  role: string;
  /** etl.schema_migrations exists (false only before the first migration ever). */
  tracked: boolean;
  /** Versions recorded in etl.schema_migrations (none before the first init-db or run). */
  applied: number[];
  /** Migrations this database lacks, in order. */
  pending: Migration[];
  /** Recorded versions this login-etl does not know: a newer login-etl migrated the database. */
  unknown: number[];
}

type Queryable = Pick<PoolClient, "query">;

async function readState(db: Queryable): Promise<SchemaState> {
  const head = await db.query<{ role: string; tracked: boolean }>(
    "SELECT current_user AS role, to_regclass('etl.schema_migrations') IS NOT NULL AS tracked",
  );
  const role = head.rows[0]?.role ?? "?";
  const tracked = head.rows[0]?.tracked === true;
  const applied = tracked
    ? (
        await db.query<{ version: number }>(
          "SELECT version FROM etl.schema_migrations ORDER BY version",
        )
      ).rows.map((r) => r.version)
    : [];
  const known = new Set(MIGRATIONS.map((m) => m.version));
  return {
    role,
    tracked,
    applied,
    pending: MIGRATIONS.filter((m) => !applied.includes(m.version)),
    unknown: applied.filter((v) => !known.has(v)),
  };
}

/** Where the schema stands; reads only. */
export function schemaState(pool: Pool): Promise<SchemaState> {
  return readState(pool);
}

export const describeMigration = (m: Migration) =>
  `${String(m.version).padStart(3, "0")} ${m.name}`;

function refuseNewer(state: SchemaState): void {
  if (state.unknown.length === 0) return;
  const newest = Math.max(...MIGRATIONS.map((m) => m.version));
  throw new DatabaseError(
    `etl.schema_migrations records version(s) ${state.unknown.join(", ")}, which this login-etl ` +
      `does not know (it knows 1 to ${newest}): most likely a newer login-etl migrated the ` +
      "database. Upgrade login-etl before running.",
    { exitCode: ExitCode.USAGE },
  );
}

/** Apply every missing migration, each recorded in the same transaction. Returns those applied. */
export async function migrate(pool: Pool, logger: Logger): Promise<Migration[]> {
  return withTransaction(pool, async (client) => {
    await client.query(`SET LOCAL lock_timeout = '${LOCK_TIMEOUT}'`);
    // Unqualified names in migrations (the analysts' DDL says `user_logins`) mean public.
    await client.query("SET LOCAL search_path = public");
    await client.query("SELECT pg_advisory_xact_lock($1)", [SCHEMA_LOCK_ID]);
    // Read again under the lock: another process may have migrated while this one waited. Only a
    // database never migrated at all needs the bootstrap DDL (CREATE SCHEMA checks the
    // database's CREATE privilege even when the schema exists).
    let state = await readState(client);
    if (!state.tracked) {
      await client.query(BOOTSTRAP_SQL);
      state = await readState(client);
    }
    refuseNewer(state);
    for (const migration of state.pending) {
      logger.info({ migration: describeMigration(migration) }, "applying schema migration");
      await client.query(migration.sql);
      await client.query("INSERT INTO etl.schema_migrations (version, name) VALUES ($1, $2)", [
        migration.version,
        migration.name,
      ]);
    }
    return state.pending;
  });
}

/** The state, read before any command touches the tables: a newer schema is refused here. */
async function readKnownState(pool: Pool): Promise<SchemaState> {
  let state: SchemaState;
  try {
    state = await readState(pool);
  } catch (err) {
    throw permissionOr(err, "cannot read the schema version (etl.schema_migrations)");
  }
  refuseNewer(state);
  return state;
}

/**
 * Before a command reads or writes the tables: nothing to do when the schema is current (the
 * usual case: one SELECT). Otherwise migrate, and if this role may not, say who can.
 */
export async function ensureSchemaCurrent(pool: Pool, logger: Logger): Promise<void> {
  const state = await readKnownState(pool);
  if (state.pending.length === 0) return;
  try {
    await migrate(pool, logger);
  } catch (err) {
    if (err instanceof DatabaseError) throw err;
    const needed = state.pending.map(describeMigration).join(", ");
    if (errorCode(err) === "42501") {
      throw new DatabaseError(
        `The database needs schema migration ${needed}, and role "${state.role}" may not apply it ` +
          `(${describeError(err)}): run \`etl init-db\` as the owner of the tables, then run again.`,
        { cause: err, code: "42501", exitCode: ExitCode.USAGE },
      );
    }
    throw new DatabaseError(`Could not apply schema migration ${needed}: ${describeError(err)}`, {
      cause: err,
      code: errorCode(err),
    });
  }
}

/** For commands that must not change the schema (dry runs, read-only): exit 2 unless current. */
export async function requireSchemaCurrent(pool: Pool): Promise<void> {
  const state = await readKnownState(pool);
  if (state.pending.length === 0) return;
  throw new DatabaseError(
    `The database lacks schema migration ${state.pending.map(describeMigration).join(", ")} ` +
      "(login-etl's tables are missing or out of date): run `etl init-db`, then run this again.",
    { exitCode: ExitCode.USAGE },
  );
}

/** A permission failure names the README's grants; anything else is passed on as it is. */
function permissionOr(err: unknown, what: string): unknown {
  if (errorCode(err) !== "42501") return err;
  return new DatabaseError(
    `The database role ${what}: ${describeError(err)}. Grant what the README's section ` +
      '"Postgres: a least-privilege role for the cron job" lists, or run `etl init-db` as the ' +
      "owner of the tables first.",
    { cause: err, code: "42501", exitCode: ExitCode.USAGE },
  );
}

/**
 * Differences between user_logins as it is and as src/login-columns.ts declares it: a column
 * missing, or of another type (dropped or altered by hand, or a migration that was forgotten).
 * Extra columns are the analysts' business and are not reported.
 */
export async function loginColumnProblems(pool: Pool): Promise<string[]> {
  const exists = await pool.query<{ found: boolean }>(
    "SELECT to_regclass($1) IS NOT NULL AS found",
    [LOGIN_TABLE],
  );
  if (!exists.rows[0]?.found) {
    return ["it does not exist, although migration 001 is recorded (dropped by hand?)"];
  }
  const result = await pool.query<{ name: string; type: string }>(
    `SELECT attname AS name, format_type(atttypid, atttypmod) AS type FROM pg_attribute
      WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped`,
    [LOGIN_TABLE],
  );
  const actual = new Map(result.rows.map((r) => [r.name, r.type]));
  return LOGIN_COLUMNS.flatMap((c) => {
    const want = c.sqlType.replace(/^varchar/, "character varying");
    const have = actual.get(c.name);
    if (have === undefined) return [`column ${c.name} (${c.sqlType}) is missing`];
    return have === want ? [] : [`column ${c.name} is ${have}, not ${c.sqlType}`];
  });
}
