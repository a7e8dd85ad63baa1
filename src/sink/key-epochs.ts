// The key epochs: which key fingerprint made the masks from when on (etl.key_epochs). A command
// that masks checks its key here before it receives anything; `etl rotate-key` starts a new epoch.
import type { Pool } from "pg";
import { ConfigError } from "../errors.js";
import { withTransaction } from "./transaction.js";

export interface KeyEpoch {
  epoch: number;
  fingerprint: string;
  startedAt: Date;
  reason: string;
}

// First uses and rotations from several processes at once are taken one at a time.
const KEY_LOCK_ID = 0x10e7_1002;

const CURRENT_SQL = `
SELECT epoch, fingerprint, started_at AS "startedAt", reason
  FROM etl.key_epochs ORDER BY epoch DESC LIMIT 1`;

const START_EPOCH_SQL = `
INSERT INTO etl.key_epochs (epoch, fingerprint, reason)
SELECT coalesce(max(epoch), 0) + 1, $1, $2 FROM etl.key_epochs
RETURNING epoch, fingerprint, started_at AS "startedAt", reason`;

/** The key's fingerprint differs from the one the masks in this database were made with. */
export class KeyMismatchError extends ConfigError {
  override name = "KeyMismatchError";
}

/** Sealed bodies tried when a key is first recorded: enough to tell, cheap to open. */
const FIRST_USE_SAMPLE = 20;

/**
 * Before masking anything: this key must be the current epoch's. The first key ever used is
 * recorded as epoch 1 (unless `record` is false, as in a dry run, which writes nothing). A
 * database that has data but no epoch yet (made before epochs were recorded) is checked first:
 * the key must open the rejected bodies already sealed there, the only stored thing that proves
 * which key made the masks.
 */
export async function checkKeyEpoch(
  pool: Pool,
  fingerprint: string,
  options: { record: boolean; opens?: (sealed: Buffer, messageId: string) => boolean },
): Promise<KeyEpoch | undefined> {
  return withTransaction(pool, async (client) => {
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
  });
}

/** Start a new epoch for this key; undefined when it already is the current one. */
export async function rotateKeyEpoch(
  pool: Pool,
  fingerprint: string,
  reason: string,
): Promise<{ previous: KeyEpoch | undefined; started: KeyEpoch } | undefined> {
  return withTransaction(pool, async (client) => {
    await client.query("SELECT pg_advisory_xact_lock($1)", [KEY_LOCK_ID]);
    const previous = (await client.query<KeyEpoch>(CURRENT_SQL)).rows[0];
    if (previous?.fingerprint === fingerprint) return undefined;
    const started = (await client.query<KeyEpoch>(START_EPOCH_SQL, [fingerprint, reason])).rows[0];
    if (!started) throw new Error("INSERT … RETURNING returned no row");
    return { previous, started };
  });
}

/** Every epoch, oldest first (for `etl status`). */
export async function listKeyEpochs(pool: Pool): Promise<KeyEpoch[]> {
  const result = await pool.query<KeyEpoch>(
    `SELECT epoch, fingerprint, started_at AS "startedAt", reason FROM etl.key_epochs ORDER BY epoch`,
  );
  return result.rows;
}
