// The key epochs: which key fingerprint made the masks from when on (etl.key_epochs), and which
// sealed the PII vault (etl.vault_key_epochs). A command that masks checks its keys here before it
// receives anything; `etl rotate-key` and `etl rotate-vault-key` start new epochs.
import type { Pool, PoolClient } from "pg";
import { ConfigError } from "../errors.js";
import { KEY_ENV, VAULT_KEY_ENV } from "../pii-key.js";
import { withTransaction } from "./transaction.js";

/** The two kinds of key with epochs: the hash key (masks) and the vault key (sealed originals). */
export const EPOCH_TABLES = { hash: "etl.key_epochs", vault: "etl.vault_key_epochs" } as const;
export type KeyKind = keyof typeof EPOCH_TABLES;

export interface KeyEpoch {
  epoch: number;
  fingerprint: string;
  startedAt: Date;
  reason: string;
}

// First uses and rotations from several processes at once are taken one at a time.
const KEY_LOCK_ID = 0x10e7_1002;

const currentSql = (kind: KeyKind) => `
SELECT epoch, fingerprint, started_at AS "startedAt", reason
  FROM ${EPOCH_TABLES[kind]} ORDER BY epoch DESC LIMIT 1`;
const CURRENT_SQL = currentSql("hash");

const startEpochSql = (kind: KeyKind) => `
INSERT INTO ${EPOCH_TABLES[kind]} (epoch, fingerprint, reason)
SELECT coalesce(max(epoch), 0) + 1, $1, $2 FROM ${EPOCH_TABLES[kind]}
RETURNING epoch, fingerprint, started_at AS "startedAt", reason`;
const START_EPOCH_SQL = startEpochSql("hash");

/**
 * The current fingerprint of each kind, as a SQL expression of one row: the batch statement
 * reads it on its own snapshot, so a batch never commits under a key rotated away meanwhile.
 */
export const currentFingerprintSql = (kind: KeyKind) =>
  `(SELECT fingerprint FROM ${EPOCH_TABLES[kind]} ORDER BY epoch DESC LIMIT 1)`;

/** The key's fingerprint differs from the one the masks in this database were made with. */
export class KeyMismatchError extends ConfigError {
  override name = "KeyMismatchError";
}

/** Sealed bodies tried when a key is first recorded: enough to tell, cheap to open. */
const FIRST_USE_SAMPLE = 20;

/**
 * Before masking anything: this key must be the current epoch's, and the vault key (or its
 * absence) the vault's (checkVaultKeyEpoch), both in one transaction: a start-up that talks to
 * the database as little as it can. The first key ever used is recorded as epoch 1 (unless
 * `record` is false, as in a dry run, which writes nothing). A database that has data but no
 * epoch yet (made before epochs were recorded) is checked first: the key must open the rejected
 * bodies already sealed there, the only stored thing that proves which key made the masks.
 */
export async function checkKeyEpoch(
  pool: Pool,
  fingerprint: string,
  options: {
    record: boolean;
    opens?: (sealed: Buffer, messageId: string) => boolean;
    vault: { fingerprint: string | undefined; record: boolean };
  },
): Promise<KeyEpoch | undefined> {
  return withTransaction(pool, async (client) => {
    const epoch = await hashKeyEpoch(client, fingerprint, options);
    await vaultKeyEpoch(client, options.vault.fingerprint, options.vault);
    return epoch;
  });
}

async function hashKeyEpoch(
  client: PoolClient,
  fingerprint: string,
  options: { record: boolean; opens?: (sealed: Buffer, messageId: string) => boolean },
): Promise<KeyEpoch | undefined> {
  if (!options.record) {
    // A dry run may meet a database that was never set up: then nothing is recorded yet.
    const table = await client.query("SELECT to_regclass('etl.key_epochs') AS t");
    if (table.rows[0]?.t === null) return undefined;
  }
  await client.query("SELECT pg_advisory_xact_lock($1)", [KEY_LOCK_ID]);
  const current = (await client.query<KeyEpoch>(CURRENT_SQL)).rows[0];
  if (current === undefined) {
    if (!options.record) return undefined;
    const sample = await client.query<{ message_id: string; body_sealed: Buffer }>(
      "SELECT message_id, body_sealed FROM etl.rejected_messages LIMIT $1",
      [FIRST_USE_SAMPLE],
    );
    const { opens } = options;
    if (
      opens &&
      sample.rows.length > 0 &&
      !sample.rows.some((r) => opens(r.body_sealed, r.message_id))
    ) {
      throw new KeyMismatchError(
        `PII_HASH_KEY (fingerprint ${fingerprint}) opens none of the ${sample.rows.length} sealed ` +
          "bodies already in etl.rejected_messages, so it is not the key that made this " +
          "database's masks. Use that key; to change keys on purpose, first record the old " +
          "one by running once with it, then `etl rotate-key`.",
      );
    }
    await refuseKeyOfOtherKind(client, "hash", fingerprint);
    return (await client.query<KeyEpoch>(START_EPOCH_SQL, [fingerprint, "first use"])).rows[0];
  }
  if (current.fingerprint !== fingerprint) {
    throw new KeyMismatchError(
      `PII_HASH_KEY has fingerprint ${fingerprint}, but the masks in this database were made with ` +
        `the key of fingerprint ${current.fingerprint} (epoch ${current.epoch}, since ` +
        `${current.startedAt.toISOString().slice(0, 10)}). Another key gives every ip and device ` +
        "id a new mask, and duplicates across the change become invisible. If the key is wrong " +
        "(a different secret, upper- instead of lower-case hex), restore the right one. To change " +
        'keys on purpose, run `etl rotate-key --reason "…"` with the new key in PII_HASH_KEY.',
    );
  }
  return current;
}

/**
 * Start a new epoch for this key; undefined when it already is the current one. `inside` runs in
 * the same transaction first (the vault's writers lock, so no batch is half way through).
 */
export async function rotateKeyEpoch(
  pool: Pool,
  fingerprint: string,
  reason: string,
  options: { kind?: KeyKind; inside?: (client: PoolClient) => Promise<void> } = {},
): Promise<{ previous: KeyEpoch | undefined; started: KeyEpoch } | undefined> {
  const kind = options.kind ?? "hash";
  return withTransaction(pool, async (client) => {
    await options.inside?.(client);
    await client.query("SELECT pg_advisory_xact_lock($1)", [KEY_LOCK_ID]);
    const previous = (await client.query<KeyEpoch>(currentSql(kind))).rows[0];
    if (previous?.fingerprint === fingerprint) return undefined;
    await refuseKeyOfOtherKind(client, kind, fingerprint);
    const started = (await client.query<KeyEpoch>(startEpochSql(kind), [fingerprint, reason]))
      .rows[0];
    if (!started) throw new Error("INSERT … RETURNING returned no row");
    return { previous, started };
  });
}

/** The current epoch of a kind, or undefined (none recorded, or the table not there yet). */
export async function currentKeyEpoch(
  client: Pool | PoolClient,
  kind: KeyKind,
): Promise<KeyEpoch | undefined> {
  const table = await client.query("SELECT to_regclass($1) AS t", [EPOCH_TABLES[kind]]);
  if (table.rows[0]?.t === null) return undefined;
  return (await client.query<KeyEpoch>(currentSql(kind))).rows[0];
}

/**
 * A vault key that ever was a hash key (or the reverse) is refused: whoever holds the hash key
 * must not also be able to open the vault. Config catches the same bytes in both variables; this
 * catches them across time, through the fingerprints each table keeps.
 */
async function refuseKeyOfOtherKind(
  client: PoolClient,
  kind: KeyKind,
  fingerprint: string,
): Promise<void> {
  const other: KeyKind = kind === "hash" ? "vault" : "hash";
  const table = await client.query("SELECT to_regclass($1) AS t", [EPOCH_TABLES[other]]);
  if (table.rows[0]?.t === null) return;
  const used = await client.query(
    `SELECT 1 FROM ${EPOCH_TABLES[other]} WHERE fingerprint = $1 LIMIT 1`,
    [fingerprint],
  );
  if (used.rows.length === 0) return;
  const [mine, theirs] = kind === "hash" ? [KEY_ENV, VAULT_KEY_ENV] : [VAULT_KEY_ENV, KEY_ENV];
  throw new ConfigError(
    `${mine} (fingerprint ${fingerprint}) has been this database's ${theirs}. The two keys must ` +
      "differ, or one secret would both make the masks and undo them: generate a new one with " +
      "`npx etl keygen`.",
  );
}

/**
 * Before a command writes rows: the vault key must be the vault's current one. The first vault
 * key is recorded as epoch 1 (the vault is on from then). A command without a vault key on a
 * database that keeps a vault is refused: its rows would have no vault entries.
 */
export function checkVaultKeyEpoch(
  pool: Pool,
  fingerprint: string | undefined,
  options: { record: boolean },
): Promise<KeyEpoch | undefined> {
  return withTransaction(pool, (client) => vaultKeyEpoch(client, fingerprint, options));
}

async function vaultKeyEpoch(
  client: PoolClient,
  fingerprint: string | undefined,
  options: { record: boolean },
): Promise<KeyEpoch | undefined> {
  const current = await currentKeyEpoch(client, "vault");
  if (fingerprint === undefined) {
    if (current === undefined) return undefined;
    throw new ConfigError(
      `This database keeps a PII vault (vault key ${current.fingerprint}, since ` +
        `${current.startedAt.toISOString().slice(0, 10)}), and ${VAULT_KEY_ENV} is not set. ` +
        "Rows loaded without it could never be revealed, erased by mask or re-masked: set " +
        `${VAULT_KEY_ENV} to the vault's key.`,
    );
  }
  if (current === undefined && !options.record) return undefined;
  await client.query("SELECT pg_advisory_xact_lock($1)", [KEY_LOCK_ID]);
  const locked = (await client.query<KeyEpoch>(currentSql("vault"))).rows[0];
  if (locked === undefined) {
    await refuseKeyOfOtherKind(client, "vault", fingerprint);
    return (await client.query<KeyEpoch>(startEpochSql("vault"), [fingerprint, "first use"]))
      .rows[0];
  }
  if (locked.fingerprint !== fingerprint) throw vaultKeyMismatch(fingerprint, locked);
  return locked;
}

export function vaultKeyMismatch(fingerprint: string, current: KeyEpoch): KeyMismatchError {
  return new KeyMismatchError(
    `${VAULT_KEY_ENV} has fingerprint ${fingerprint}, but the vault is sealed with the key of ` +
      `fingerprint ${current.fingerprint} (vault epoch ${current.epoch}, since ` +
      `${current.startedAt.toISOString().slice(0, 10)}). Use that key; to change it on purpose, ` +
      `run \`etl rotate-vault-key\` with the new key in ${VAULT_KEY_ENV} and the old one in ` +
      "PII_VAULT_KEY_PREVIOUS.",
  );
}

/** Every epoch, oldest first (for `etl status`). */
export async function listKeyEpochs(pool: Pool): Promise<KeyEpoch[]> {
  const result = await pool.query<KeyEpoch>(
    `SELECT epoch, fingerprint, started_at AS "startedAt", reason FROM etl.key_epochs ORDER BY epoch`,
  );
  return result.rows;
}
