// The tables login-etl reads and writes, created idempotently by `etl run` and `etl init-db`.
// user_logins keeps the exact DDL analysts depend on; everything operational lives in schema etl.
import type { Pool } from "pg";
import { userLoginsDdl } from "../login-columns.js";

export const SCHEMA_SQL = `
${userLoginsDdl()}

CREATE SCHEMA IF NOT EXISTS etl;

-- The ledger: one row per SQS MessageId whose outcome has been committed. Inserting into it in the
-- same transaction as the data is what makes a redelivered message a no-op.
CREATE TABLE IF NOT EXISTS etl.processed_messages (
  message_id   text PRIMARY KEY,
  outcome      text NOT NULL CHECK (outcome IN ('loaded', 'rejected')),
  processed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS processed_messages_processed_at_idx
  ON etl.processed_messages (processed_at);

-- Quarantine: messages that could not become a row, with why. payload is the body with ip and
-- device_id masked, for people to read; body_sealed is the original body encrypted with a key
-- derived from PII_HASH_KEY, for \`etl replay\` (see sink/body-cipher.ts).
CREATE TABLE IF NOT EXISTS etl.rejected_messages (
  message_id     text PRIMARY KEY,
  reason         text NOT NULL,
  detail         text NOT NULL,
  payload        text NOT NULL,
  body_sealed    bytea NOT NULL,
  receive_count  integer NOT NULL,
  sent_at        timestamptz,
  rejected_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS rejected_messages_reason_idx ON etl.rejected_messages (reason);

-- One row per finished run, for \`etl status\` and for anyone asking "did last night's run work?".
CREATE TABLE IF NOT EXISTS etl.runs (
  run_id      bigserial PRIMARY KEY,
  started_at  timestamptz NOT NULL,
  finished_at timestamptz NOT NULL DEFAULT now(),
  exit_code   integer NOT NULL,
  summary     jsonb NOT NULL
);
`;

// Concurrent runs (cron overlap, several machines) may all try to create the tables at once;
// CREATE ... IF NOT EXISTS is not safe against that race, so creation is serialized.
const SCHEMA_LOCK_ID = 0x10e7_1001;

export async function ensureSchema(pool: Pool): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    await client.query("SELECT pg_advisory_xact_lock($1)", [SCHEMA_LOCK_ID]);
    await client.query(SCHEMA_SQL);
    await client.query("COMMIT");
  } catch (err) {
    await client.query("ROLLBACK").catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}
