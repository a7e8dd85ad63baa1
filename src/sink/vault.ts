// Writing to the PII vault (etl.pii_vault), and the lock that keeps it whole. The SQL of the
// commands that read or change the vault lives beside them: vault-reveal.ts, vault-forget.ts,
// vault-rotation.ts.
//
// The vault's promise: no row in user_logins without its vault entry, no vault entry without a
// row. Runs write both in one transaction; `etl forget` and the rotations delete and replace
// entries. Between the two, a race: a batch sees an entry (ON CONFLICT DO NOTHING), forget deletes
// it as unused before the batch commits its row, and the row is left without an entry. So every
// transaction that writes rows of a vault takes the writers lock shared, and those that delete or
// replace entries take it exclusively: they wait for batches in flight, and batches wait for them.
import type { Pool, PoolClient } from "pg";
import { LOGIN_TABLE } from "../login-columns.js";
import type { LoginRow, Originals } from "../types.js";
import { currentFingerprintSql, KeyMismatchError } from "./key-epochs.js";
import { VAULT_FIELDS, type VaultField, type VaultPlaintext } from "./vault-cipher.js";
import type { VaultSealer } from "./vault-sealer.js";

const VAULT_WRITERS_LOCK_ID = 0x10e7_1003;

/**
 * Batches that write rows: many at once. Sent with BEGIN (withTransaction's `withBegin`), so the
 * vault adds no round trip to a batch.
 */
export const LOCK_VAULT_SHARED = `SELECT pg_advisory_xact_lock_shared(${VAULT_WRITERS_LOCK_ID})`;

export async function lockVaultShared(client: PoolClient): Promise<void> {
  await client.query(LOCK_VAULT_SHARED);
}

/** Forget and the rotations: alone, with no batch half way through. */
export async function lockVaultExclusive(client: PoolClient): Promise<void> {
  await client.query("SELECT pg_advisory_xact_lock($1)", [VAULT_WRITERS_LOCK_ID]);
}

/** A row's mask column for each vault field. */
export const MASK_COLUMN = {
  ip: "masked_ip",
  device_id: "masked_device_id",
} as const satisfies Record<VaultField, keyof LoginRow>;

/** The mask columns, in VAULT_FIELDS order. */
export const VAULT_MASK_COLUMNS = VAULT_FIELDS.map((field) => MASK_COLUMN[field]);

/**
 * SQL: the vault's form (32 bytes, migration 004) of a hex mask from user_logins, or NULL when it
 * is not one a run could have made. user_logins may hold other text (rows another tool wrote),
 * which decode() would stop the statement on; NULL simply matches no entry. A run's own batch
 * decodes its masks directly: they come from the masker.
 */
export const vaultMask = (hex: string) =>
  `(CASE WHEN ${hex} ~ '^[0-9a-f]{64}$' THEN decode(${hex}, 'hex') END)`;

/**
 * A batch's vault entries, laid out for insertVaultSql: every sealed value in one buffer (sent to
 * Postgres in binary, as it is), and for each row and vault field (row-major, VAULT_FIELDS order)
 * where its entry starts in the buffer (1-based) and how long it is; 0 and 0 for none. Of rows
 * with the same mask only the first carries it: sealed once, sent once, proposed once.
 */
export interface VaultEntries {
  sealed: Buffer;
  at: number[];
  length: number[];
}

/** The keys a writer masks and seals with, and checks against the current epochs. */
export interface WriterKeys {
  /** Fingerprint of PII_HASH_KEY. */
  hash: string;
  /** What seals the vault's entries, or undefined when the vault is off. */
  vault: VaultSealer | undefined;
}

const NO_ENTRIES: VaultEntries = { sealed: Buffer.alloc(0), at: [], length: [] };

/**
 * One sealed value per distinct (field, mask) of these rows. Sealing costs one AES-GCM of a
 * short string (the nonces of the whole batch take two AES passes), done by keys.vault (a worker
 * thread in `etl run`); values already in the vault are sealed again and skipped by the
 * database, which is cheaper than asking it first.
 */
export async function vaultEntries(
  keys: WriterKeys,
  rows: readonly { row: LoginRow; originals: Originals }[],
): Promise<VaultEntries> {
  const sealer = keys.vault;
  if (!sealer) return NO_ENTRIES;
  const plaintexts: VaultPlaintext[] = [];
  const slots: number[] = []; // per row and field: index into plaintexts, or -1 for none
  const placed: Record<VaultField, Set<string>> = { ip: new Set(), device_id: new Set() }; // masks
  for (const { row, originals } of rows) {
    for (const field of VAULT_FIELDS) {
      const mask = row[MASK_COLUMN[field]];
      const value = originals[field];
      if (mask === null || value === null || placed[field].has(mask)) {
        slots.push(-1);
        continue;
      }
      placed[field].add(mask);
      slots.push(plaintexts.length);
      plaintexts.push({ field, mask, value });
    }
  }
  const { bytes, lengths } = await sealer.seal(plaintexts);
  const starts: number[] = [];
  let next = 1;
  for (let i = 0; i < lengths.length; i++) {
    starts.push(next);
    next += lengths[i] ?? 0;
  }
  return {
    sealed: bytes,
    at: slots.map((i) => (i < 0 ? 0 : (starts[i] ?? 0))),
    length: slots.map((i) => (i < 0 ? 0 : (lengths[i] ?? 0))),
  };
}

/**
 * The vault part of a statement that inserts rows. `rows` is a FROM item naming, for each row
 * vaultEntries was given, its masked_ip, masked_device_id and n, its 1-based position there.
 * `inserted` is a FROM item (a CTE, or the masks a replay kept) with the mask columns of the
 * rows really inserted: only their masks get entries, so neither a duplicate message nor a row a trigger
 * dropped leaves an entry without a row. The filter is on the mask, not on the row proposing it:
 * the first row with a mask proposes its entry even when that row's message was a duplicate and
 * a later row with the same mask is the one inserted (same mask, same field: same value).
 * Parameters: sealed, at, length, then the hash and vault key fingerprints.
 *
 * Entries go in in key order. Two batches proposing the same new value wait for each other (the
 * second's ON CONFLICT waits for the first to commit or roll back); in the order the rows came,
 * a batch proposing a then b and another b then a would each wait for the other, a deadlock
 * Postgres breaks only after deadlock_timeout (1 s) by failing one of them. Measured before the
 * order: one batch retried after 1 s in every run of 20,000 sample messages with two writers.
 */
export function insertVaultSql(first: number, rows: string, inserted: string): string {
  const [sealed, at, length, hashKey, vaultKey] = [0, 1, 2, 3, 4].map((i) => `$${first + i}`);
  const perField = VAULT_FIELDS.map((field, j) => {
    const i = `(r.n - 1) * ${VAULT_FIELDS.length} + ${j + 1}`;
    return `('${field}', r.${MASK_COLUMN[field]}, (${at}::int[])[${i}], (${length}::int[])[${i}])`;
  });
  const insertedMasks = VAULT_FIELDS.map(
    (field) => `SELECT '${field}', ${MASK_COLUMN[field]} FROM ${inserted}`,
  );
  return `
  INSERT INTO etl.pii_vault (field, mask, hash_key, vault_key, sealed)
  SELECT v.field, decode(v.mask, 'hex'), ${hashKey}::text, ${vaultKey}::text,
         substring(${sealed}::bytea FROM v.at FOR v.length)
    FROM ${rows}
   CROSS JOIN LATERAL (VALUES ${perField.join(",\n                              ")})
     AS v(field, mask, at, length)
   WHERE v.length > 0
     AND (v.field, v.mask) IN (${insertedMasks.join(" UNION ALL ")})
   ORDER BY v.mask, v.field
  ON CONFLICT (mask, field) DO NOTHING`;
}

/** The values for insertVaultSql's parameters. */
export function vaultParams(keys: WriterKeys, entries: VaultEntries): unknown[] {
  return [
    entries.sealed,
    intArrayLiteral(entries.at),
    intArrayLiteral(entries.length),
    keys.hash,
    keys.vault?.fingerprint ?? null,
  ];
}

/**
 * An int[] as Postgres reads it from text. pg would build the same from a number[], quoting and
 * escaping each element: for the two numbers per row and field of every batch with the vault on,
 * that was a tenth of what the vault cost the process.
 */
const intArrayLiteral = (xs: readonly number[]) => `{${xs.join(",")}}`;

/** Columns a statement selects to learn the current key fingerprints on its own snapshot. */
export const CURRENT_KEYS_SQL = `${currentFingerprintSql("hash")} AS hash_key,
       ${currentFingerprintSql("vault")} AS vault_key`;

export interface CurrentKeys {
  hash_key: string | null;
  vault_key: string | null;
}

/**
 * After a batch's statement, before COMMIT: were its keys still the current ones? A rotation
 * committed while a run was going makes the run's next batch fail here (and roll back), so no
 * row is committed under a key rotated away, and no run without the vault key writes rows once
 * a vault exists. Throws KeyMismatchError (exit 2).
 */
export function checkCurrentKeys(keys: WriterKeys, current: CurrentKeys): void {
  if (current.hash_key !== null && current.hash_key !== keys.hash) {
    throw new KeyMismatchError(
      `PII_HASH_KEY was rotated while this process was running (the current key is ` +
        `${current.hash_key}, this process masks with ${keys.hash}); it stops here, its batch ` +
        "rolled back. Run again with the new key.",
    );
  }
  const vault = keys.vault?.fingerprint ?? null;
  if (current.vault_key !== null && current.vault_key !== vault) {
    throw new KeyMismatchError(
      vault === null
        ? "A PII vault was turned on while this process was running without PII_VAULT_KEY; it " +
            "stops here, its batch rolled back. Run again with PII_VAULT_KEY set."
        : `PII_VAULT_KEY was rotated while this process was running (the current key is ` +
            `${current.vault_key}, this process seals with ${vault}); it stops here, its batch ` +
            "rolled back. Run again with the new key.",
    );
  }
}

/** What etl.pii_audit records of one reveal, erasure or rotation: never a value, never a user id. */
export interface AuditRecord {
  actor: string;
  action: "reveal" | "forget" | "rotate-vault-key" | "remask";
  reason: string;
  field?: VaultField;
  mask?: string;
  counts?: Record<string, number | boolean | string>;
}

/** Write an audit record in the caller's transaction; its id, to update a rotation's progress. */
export async function audit(client: PoolClient, record: AuditRecord): Promise<string> {
  const result = await client.query<{ audit_id: string }>(
    `INSERT INTO etl.pii_audit (actor, action, reason, field, mask, counts)
     VALUES ($1, $2, $3, $4, $5, $6) RETURNING audit_id`,
    [
      record.actor,
      record.action,
      record.reason,
      record.field ?? null,
      record.mask ?? null,
      JSON.stringify(record.counts ?? {}),
    ],
  );
  const id = result.rows[0]?.audit_id;
  if (id === undefined) throw new Error("INSERT … RETURNING returned no row");
  return id;
}

/** Above this many rows, a full scan of user_logins per erasure or re-mask batch is worth avoiding. */
const LARGE_TABLE_ROWS = 1_000_000;

/**
 * The indexes worth creating before an erasure or a re-mask on a large user_logins: each finds
 * rows by these columns, and without an index every call (every re-mask batch) scans the table
 * while the vault's writers lock makes runs wait. Not created here: an index costs every run's
 * insert, and creating one is the table owner's decision (`CREATE INDEX CONCURRENTLY`).
 */
export async function missingIndexes(
  pool: Pool,
  columns: readonly (keyof LoginRow)[],
): Promise<string[]> {
  const result = await pool.query<{ rows: string; indexed: string[] }>(
    `SELECT c.reltuples::bigint AS rows,
            array(SELECT a.attname::text FROM pg_index i
                    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
                   WHERE i.indrelid = c.oid) AS indexed
       FROM pg_class c WHERE c.oid = to_regclass($1)`,
    [LOGIN_TABLE],
  );
  const table = result.rows[0];
  if (!table || Number(table.rows) < LARGE_TABLE_ROWS) return [];
  return columns
    .filter((column) => !table.indexed.includes(column))
    .map(
      (column) =>
        `CREATE INDEX CONCURRENTLY IF NOT EXISTS user_logins_${column}_idx ON ${LOGIN_TABLE} (${column});`,
    );
}
