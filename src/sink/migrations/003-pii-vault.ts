// The optional PII vault (README "PII vault"): each distinct original ip and device_id, sealed
// under PII_VAULT_KEY and keyed by its mask, so an audited `etl reveal` can recover it and
// `etl forget` can make it irrecoverable. Created on every database; it stays empty, and nothing
// reads it, until a run is given PII_VAULT_KEY.

export const name = "pii-vault";

export const sql = `
-- One entry per (field, mask): the mask is what user_logins holds, sealed is the original under
-- the vault key (AES-256-GCM, field and mask bound as additional data). hash_key and vault_key are
-- the fingerprints of the keys that made the mask and sealed the value; rotations work through
-- the entries whose fingerprint is not the current one, walking the primary key. No index on the
-- fingerprints: they have a handful of values, and indexing them would cost every run's insert
-- (measured: 45% of the vault's size) to speed up a rare rotation.
-- COLLATE "C": the key is hex, compared byte for byte; a locale's collation would make every
-- insert's index search pay for rules hex does not need.
CREATE TABLE IF NOT EXISTS etl.pii_vault (
  field     text COLLATE "C" NOT NULL CHECK (field IN ('ip', 'device_id')),
  mask      text COLLATE "C" NOT NULL,
  hash_key  text NOT NULL,
  vault_key text NOT NULL,
  sealed    bytea NOT NULL,
  added_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (field, mask)
);

-- Which PII_VAULT_KEY sealed the vault, and since when, like etl.key_epochs for the hash key.
-- A row here means the vault is on: from then on every run must bring the current vault key.
CREATE TABLE IF NOT EXISTS etl.vault_key_epochs (
  epoch       integer PRIMARY KEY,
  fingerprint text NOT NULL,
  started_at  timestamptz NOT NULL DEFAULT now(),
  reason      text NOT NULL
);

-- Every reveal, erasure and rotation: who, when, why, what. Never a value, never a user id (an
-- erasure must not keep what it erased); counts say what a command changed. actor is who the
-- caller says asked (--actor, or the OS user); db_user and client_addr are filled in by the
-- server, so a caller cannot choose them.
CREATE TABLE IF NOT EXISTS etl.pii_audit (
  audit_id    bigserial PRIMARY KEY,
  at          timestamptz NOT NULL DEFAULT now(),
  actor       text NOT NULL,
  db_user     text NOT NULL DEFAULT session_user,
  client_addr inet DEFAULT inet_client_addr(),
  action   text NOT NULL CHECK (action IN ('reveal', 'forget', 'rotate-vault-key', 'remask')),
  reason   text NOT NULL,
  field    text,
  mask     text,
  counts   jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS pii_audit_at_idx ON etl.pii_audit (at);
`;
