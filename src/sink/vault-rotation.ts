// The two rotations that work through the vault in batches, each batch one transaction, so a
// crash (even SIGKILL) loses at most the batch in flight and a rerun goes on where it stopped:
// - re-encrypt: entries sealed under an earlier vault key are sealed again under the current one;
// - re-mask: entries whose mask an earlier hash key made get the current key's mask, and every
//   row of user_logins that carries the old mask gets the new one in the same transaction, so
//   GROUP BY masked_device_id gives the same groups before and after.
// Which entries are left is read from the entries themselves (their key fingerprints), not from
// a progress table: nothing can say "done" while an entry is still under an old key. A pass walks
// the primary key once (keyset pagination: each batch costs the same however far the pass is)
// and ends with a count; if anything under an earlier key is left, another pass follows. Each batch
// takes the vault's writers lock exclusively (src/sink/vault.ts): runs keep loading between
// batches, and a run still on an old key fails its next batch instead of adding old masks.
import type { Pool, PoolClient } from "pg";
import { ConfigError } from "../errors.js";
import { LOGIN_TABLE } from "../login-columns.js";
import { checkpoint } from "../test-hooks.js";
import type { Masker } from "../transform/mask.js";
import { EPOCH_TABLES, type KeyKind } from "./key-epochs.js";
import { withTransaction } from "./transaction.js";
import { audit, lockVaultExclusive, MASK_COLUMN, vaultMask } from "./vault.js";
import { VAULT_FIELDS, type VaultCipher, type VaultField } from "./vault-cipher.js";

/** An entry still under an earlier key. */
interface Entry {
  field: VaultField;
  mask: string;
  vault_key: string;
  sealed: Buffer;
}

/** Fingerprint column of the entries for each kind of key. */
const ENTRY_KEY_COLUMN = { hash: "hash_key", vault: "vault_key" } as const satisfies Record<
  KeyKind,
  string
>;

// The next entries under any earlier key of the kind after the cursor (mask $4, field $3), in key
// order; locked, so two rotations at once (they also share the writers lock) never take the same
// entry. Entries under the current key (new masks land anywhere) are skipped by the filter.
const pendingSql = (kind: KeyKind) => `
SELECT field, encode(mask, 'hex') AS mask, vault_key, sealed FROM etl.pii_vault
 WHERE (mask, field) > (decode($4::text, 'hex'), $3::text)
   AND ${ENTRY_KEY_COLUMN[kind]} IN
       (SELECT fingerprint FROM ${EPOCH_TABLES[kind]} WHERE fingerprint <> $1)
 ORDER BY mask, field
 LIMIT $2
 FOR UPDATE`;

const countPendingSql = (kind: KeyKind) => `
SELECT count(*)::int AS n FROM etl.pii_vault
 WHERE ${ENTRY_KEY_COLUMN[kind]} IN
       (SELECT fingerprint FROM ${EPOCH_TABLES[kind]} WHERE fingerprint <> $1)`;

const RESEAL_SQL = `
UPDATE etl.pii_vault v SET sealed = u.sealed, vault_key = $4
  FROM unnest($1::text[], $2::text[], $3::bytea[]) AS u(field, mask, sealed)
 WHERE v.mask = decode(u.mask, 'hex') AND v.field = u.field`;

// The new entries (a run with the new key may have made some already), then the old ones go.
const REPLACE_ENTRIES_SQL = `
WITH added AS (
  INSERT INTO etl.pii_vault (field, mask, hash_key, vault_key, sealed)
  SELECT field, decode(mask, 'hex'), $4, $5, sealed
    FROM unnest($1::text[], $2::text[], $3::bytea[]) AS n(field, mask, sealed)
  ON CONFLICT (mask, field) DO NOTHING
  RETURNING 1
)
DELETE FROM etl.pii_vault v
 USING unnest($1::text[], $6::text[]) AS o(field, old_mask)
 WHERE v.mask = decode(o.old_mask, 'hex') AND v.field = o.field`;

/** One statement per field: the old masks become the new ones in every row that has them. */
const remaskRowsSql = (field: VaultField) => `
UPDATE ${LOGIN_TABLE} AS r SET ${MASK_COLUMN[field]} = m.new_mask
  FROM unnest($1::text[], $2::text[]) AS m(old_mask, new_mask)
 WHERE r.${MASK_COLUMN[field]} = m.old_mask`;

export interface RotationProgress {
  /** Entries done by this invocation. */
  entries: number;
  /** Mask columns of user_logins rewritten (re-mask only; a row may count once per field). */
  rowUpdates: number;
  batches: number;
}

export interface RotationOptions {
  kind: KeyKind;
  /** The current key's fingerprint of that kind (what entries move to). */
  current: string;
  batchSize: number;
  actor: string;
  reason: string;
  /** Called after each committed batch (progress lines; the tests' kill point). */
  afterBatch?: (progress: RotationProgress) => Promise<void> | void;
}

// Rows whose masks the vault does not hold: loaded before the vault was on, they cannot be
// re-masked or revealed. Counted once, after a re-mask, so the operator knows.
const UNVAULTED_ROWS_SQL = `
SELECT count(*)::int AS n FROM ${LOGIN_TABLE} r
 WHERE (r.masked_ip IS NOT NULL AND NOT EXISTS
         (SELECT 1 FROM etl.pii_vault v
           WHERE v.mask = ${vaultMask("r.masked_ip")} AND v.field = 'ip'))
    OR (r.masked_device_id IS NOT NULL AND NOT EXISTS
         (SELECT 1 FROM etl.pii_vault v
           WHERE v.mask = ${vaultMask("r.masked_device_id")} AND v.field = 'device_id'))`;

export async function countUnvaultedRows(pool: Pool): Promise<number> {
  const result = await pool.query<{ n: number }>(UNVAULTED_ROWS_SQL);
  return result.rows[0]?.n ?? 0;
}

/** Vault key fingerprints the entries are sealed under that none of these ciphers has. */
export async function sealedUnder(
  pool: Pool,
  ciphers: readonly (VaultCipher | undefined)[],
): Promise<string[]> {
  const known = ciphers.flatMap((c) => (c ? [c.fingerprint] : []));
  const result = await pool.query<{ vault_key: string }>(
    "SELECT DISTINCT vault_key FROM etl.pii_vault WHERE vault_key <> ALL($1::text[])",
    [known],
  );
  return result.rows.map((r) => r.vault_key);
}

/** Entries still under an earlier key of the kind. */
export async function countPending(
  db: Pool | PoolClient,
  kind: KeyKind,
  current: string,
): Promise<number> {
  const result = await db.query<{ n: number }>(countPendingSql(kind), [current]);
  return result.rows[0]?.n ?? 0;
}

/**
 * Work through the entries still under an earlier key, a batch at a time, until none is left.
 * `change` does one batch's work inside its transaction and says how many rows it re-masked.
 * Each invocation writes one audit record, and every batch updates its counts in the batch's own
 * transaction: after a crash, the record says exactly what was done.
 */
async function rotate(
  pool: Pool,
  options: RotationOptions,
  change: (client: PoolClient, entries: Entry[]) => Promise<number>,
): Promise<RotationProgress> {
  const action = options.kind === "hash" ? "remask" : "rotate-vault-key";
  const progress: RotationProgress = { entries: 0, rowUpdates: 0, batches: 0 };
  const auditId = await withTransaction(pool, async (client) =>
    audit(client, {
      actor: options.actor,
      action,
      reason: options.reason,
      counts: { ...progress, finished: false },
    }),
  );
  const record = (client: PoolClient, finished: boolean) =>
    client.query("UPDATE etl.pii_audit SET counts = $2 WHERE audit_id = $1", [
      auditId,
      JSON.stringify({ ...progress, finished }),
    ]);
  /** Where the pass is in primary-key order; undefined at the start of a pass. */
  let cursor: { field: string; mask: string } | undefined;
  for (;;) {
    const step = await withTransaction(pool, async (client) => {
      await lockVaultExclusive(client);
      const after = cursor ?? { field: "", mask: "" };
      const pending = await client.query<Entry>(pendingSql(options.kind), [
        options.current,
        options.batchSize,
        after.field,
        after.mask,
      ]);
      const last = pending.rows.at(-1);
      if (!last) {
        const left = await countPending(client, options.kind, options.current);
        if (left === 0) await record(client, true);
        else if (cursor === undefined) {
          throw new Error(
            `${left} vault entries are pending, but a pass from the start finds none`,
          );
        }
        return left === 0 ? "finished" : "next pass";
      }
      const rows = await change(client, pending.rows);
      progress.entries += pending.rows.length;
      progress.rowUpdates += rows;
      progress.batches += 1;
      await record(client, false);
      cursor = { field: last.field, mask: last.mask };
      return "batch";
    });
    if (step === "finished") return progress;
    if (step === "next pass") {
      cursor = undefined;
      continue;
    }
    await options.afterBatch?.(progress);
    await checkpoint("after_rotation_batch");
  }
}

/** The cipher that sealed an entry, or an error naming the key that is missing. */
function cipherFor(ciphers: readonly VaultCipher[], entry: Entry): VaultCipher {
  const cipher = ciphers.find((c) => c.fingerprint === entry.vault_key);
  if (cipher) return cipher;
  throw new ConfigError(
    `a vault entry is sealed under vault key ${entry.vault_key}, which neither PII_VAULT_KEY nor ` +
      "PII_VAULT_KEY_PREVIOUS is: give that key as PII_VAULT_KEY_PREVIOUS and run again " +
      "(the batches done so far are kept).",
  );
}

function openEntry(ciphers: readonly VaultCipher[], entry: Entry): string {
  const value = cipherFor(ciphers, entry).open(entry.field, entry.mask, entry.sealed);
  if (value === null) {
    throw new VaultEntryError(
      `the vault entry for ${entry.field} mask ${entry.mask} does not open with its own key ` +
        `(${entry.vault_key}): it is damaged or was copied from another mask. Nothing of this ` +
        "batch was changed; `etl forget` or a DBA must deal with that entry first.",
    );
  }
  return value;
}

/** A vault entry a rotation cannot open. */
export class VaultEntryError extends Error {
  override name = "VaultEntryError";
}

/** Seal every entry under an earlier vault key again under `current`. */
export function reencryptVault(
  pool: Pool,
  options: Omit<RotationOptions, "kind" | "current">,
  ciphers: { current: VaultCipher; previous: VaultCipher | undefined },
): Promise<RotationProgress> {
  const openers = [ciphers.current, ...(ciphers.previous ? [ciphers.previous] : [])];
  return rotate(
    pool,
    { ...options, kind: "vault", current: ciphers.current.fingerprint },
    async (client, entries) => {
      const sealed = ciphers.current.sealAll(
        entries.map((e) => ({ field: e.field, mask: e.mask, value: openEntry(openers, e) })),
      );
      await client.query(RESEAL_SQL, [
        entries.map((e) => e.field),
        entries.map((e) => e.mask),
        sealed,
        ciphers.current.fingerprint,
      ]);
      return 0;
    },
  );
}

/**
 * Give every entry made under an earlier hash key the current key's mask, and the rows that
 * carry it too. The entries are sealed again (their additional data binds the mask).
 */
export function remaskVault(
  pool: Pool,
  options: Omit<RotationOptions, "kind" | "current">,
  keys: {
    hashFingerprint: string;
    masker: Masker;
    vault: VaultCipher;
    previousVault: VaultCipher | undefined;
  },
): Promise<RotationProgress> {
  const openers = [keys.vault, ...(keys.previousVault ? [keys.previousVault] : [])];
  return rotate(
    pool,
    { ...options, kind: "hash", current: keys.hashFingerprint },
    async (client, entries) => {
      const renamed = entries.map((e) => {
        const value = openEntry(openers, e);
        const mask = e.field === "ip" ? keys.masker.ip(value) : keys.masker.deviceId(value);
        return { field: e.field, oldMask: e.mask, mask, value };
      });
      await client.query(REPLACE_ENTRIES_SQL, [
        renamed.map((r) => r.field),
        renamed.map((r) => r.mask),
        keys.vault.sealAll(renamed),
        keys.hashFingerprint,
        keys.vault.fingerprint,
        renamed.map((r) => r.oldMask),
      ]);
      let rows = 0;
      for (const field of VAULT_FIELDS) {
        const mine = renamed.filter((r) => r.field === field);
        if (mine.length === 0) continue;
        const updated = await client.query(remaskRowsSql(field), [
          mine.map((r) => r.oldMask),
          mine.map((r) => r.mask),
        ]);
        rows += updated.rowCount ?? 0;
      }
      return rows;
    },
  );
}
