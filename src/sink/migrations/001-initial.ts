// The schema as it stood before migrations were numbered. Every statement is IF NOT EXISTS so
// that a database created by an earlier login-etl (or by docker/postgres/init) is adopted as it is.
// Literal SQL, never derived from src/login-columns.ts: a shipped migration must not change when
// the column list grows (the next migration adds the column).

export const name = "initial";

export const sql = `
CREATE TABLE IF NOT EXISTS user_logins(
  user_id varchar(128), device_type varchar(32), masked_ip varchar(256),
  masked_device_id varchar(256), locale varchar(32), app_version integer, create_date date);

-- The ledger: one row per SQS MessageId whose outcome has been committed. Inserting into it in the
-- same transaction as the data is what makes a redelivered message a no-op.
CREATE TABLE IF NOT EXISTS etl.processed_messages (
  message_id   text PRIMARY KEY,
  outcome      text NOT NULL CHECK (outcome IN ('loaded', 'rejected')),
  processed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS processed_messages_processed_at_idx
  ON etl.processed_messages (processed_at);

-- Rejected messages: messages that could not become a row, with why. payload is the body with ip and
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
