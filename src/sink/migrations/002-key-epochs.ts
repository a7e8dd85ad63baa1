// Which PII_HASH_KEY made the masks, and since when. A run records its key's fingerprint at first
// use and refuses another key afterwards (exit 2) unless `etl rotate-key` recorded the change,
// with its date, so analysts know where masks stop comparing. Fingerprints only, never keys.

export const name = "key-epochs";

export const sql = `
CREATE TABLE IF NOT EXISTS etl.key_epochs (
  epoch       integer PRIMARY KEY,
  fingerprint text NOT NULL,
  started_at  timestamptz NOT NULL DEFAULT now(),
  reason      text NOT NULL
);`;
