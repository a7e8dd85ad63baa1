// A counter of the times vault entries were deleted or re-keyed. A run remembers which masks its
// committed batches left in the vault and does not seal or propose them again (src/sink/
// vault-known.ts); that memory holds only while no entry has gone since. So every statement that
// deletes, truncates or re-keys entries (`etl forget`, `etl rotate-key --remask`, a DBA by hand)
// bumps the generation through this trigger, and each batch reads it on its own snapshot: a batch
// that skipped a mask under an older generation rolls back and proposes every value again.
//
// The trigger first takes the vault's writers lock exclusively (the number is
// VAULT_WRITERS_LOCK_ID in src/sink/vault.ts), as forget and the rotations already do, so a
// deletion by hand also waits for batches in flight and is seen by every batch after it.
// SECURITY DEFINER: whoever may delete entries may bump the counter, without a grant on it.

export const name = "vault-generation";

export const sql = `
CREATE TABLE IF NOT EXISTS etl.vault_generation (
  single     boolean PRIMARY KEY DEFAULT true CHECK (single),
  generation bigint NOT NULL DEFAULT 0
);
INSERT INTO etl.vault_generation DEFAULT VALUES ON CONFLICT DO NOTHING;

CREATE OR REPLACE FUNCTION etl.vault_entries_removed() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM pg_advisory_xact_lock(283578371);
  UPDATE etl.vault_generation SET generation = generation + 1;
  RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS vault_entries_removed ON etl.pii_vault;
CREATE TRIGGER vault_entries_removed
  BEFORE DELETE OR TRUNCATE OR UPDATE OF field, mask ON etl.pii_vault
  FOR EACH STATEMENT EXECUTE FUNCTION etl.vault_entries_removed();
`;
