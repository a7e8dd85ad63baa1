// `etl forget`: the right to erasure. One transaction deletes the user's rows, then every vault
// entry of theirs that no other row still uses (another user on the same device keeps the
// device's entry: their rows must stay revealable), then, given the key that sealed them, the
// user's rejected messages, and records the erasure. Afterwards the user's masks open for nobody,
// with any key.
import type { Pool, PoolClient } from "pg";
import { LOGIN_TABLE } from "../login-columns.js";
import { userIdOf } from "../transform/index.js";
import { readSealedChunk } from "./rejected-store.js";
import { withTransaction } from "./transaction.js";
import { audit, lockVaultExclusive } from "./vault.js";

// Two statements, not two CTEs of one: CTEs share a snapshot, so the second would still see the
// rows the first deleted and find every entry in use.
const DELETE_ROWS_SQL = `
DELETE FROM ${LOGIN_TABLE} WHERE user_id = $1 RETURNING masked_ip, masked_device_id`;

// One scan of user_logins for the masks still used, whatever their number.
const DELETE_ORPHANS_SQL = `
WITH still_used AS (
  SELECT masked_ip AS ip, masked_device_id AS device_id FROM ${LOGIN_TABLE}
   WHERE masked_ip = ANY($1::text[]) OR masked_device_id = ANY($2::text[])
)
DELETE FROM etl.pii_vault v
 WHERE (v.field = 'ip' AND v.mask = ANY($1::text[])
        AND v.mask NOT IN (SELECT ip FROM still_used WHERE ip IS NOT NULL))
    OR (v.field = 'device_id' AND v.mask = ANY($2::text[])
        AND v.mask NOT IN (SELECT device_id FROM still_used WHERE device_id IS NOT NULL))`;

export interface ForgetRequest {
  userId: string;
  actor: string;
  reason: string;
}

export interface ForgetOutcome {
  rows: number;
  vaultEntries: number;
  /** Rejected messages of the user deleted; null when they could not be searched (no key). */
  rejectedMessages: number | null;
  /** Rejected messages sealed under another key: not searched, may hold the user's data. */
  rejectedUnopened: number;
}

/** Opens a rejected message's sealed body (src/sink/body-cipher.ts), or null. */
export type BodyOpener = (sealed: Buffer, messageId: string) => string | null;

export async function forgetUser(
  pool: Pool,
  request: ForgetRequest,
  openBody: BodyOpener | undefined,
): Promise<ForgetOutcome> {
  return withTransaction(pool, async (client) => {
    // No batch may be between seeing an entry and committing a row that uses it.
    await lockVaultExclusive(client);
    const gone = await client.query<{ masked_ip: string | null; masked_device_id: string | null }>(
      DELETE_ROWS_SQL,
      [request.userId],
    );
    const distinct = (values: (string | null)[]) => [
      ...new Set(values.filter((v): v is string => v !== null)),
    ];
    const ips = distinct(gone.rows.map((r) => r.masked_ip));
    const deviceIds = distinct(gone.rows.map((r) => r.masked_device_id));
    const erased =
      ips.length + deviceIds.length > 0
        ? await client.query(DELETE_ORPHANS_SQL, [ips, deviceIds])
        : { rowCount: 0 };
    const rejected = openBody
      ? await forgetRejected(client, request.userId, openBody)
      : { deleted: null, unopened: 0 };
    const outcome = {
      rows: gone.rowCount ?? 0,
      vaultEntries: erased.rowCount ?? 0,
      rejectedMessages: rejected.deleted,
      rejectedUnopened: rejected.unopened,
    };
    await audit(client, {
      actor: request.actor,
      action: "forget",
      reason: request.reason,
      counts: {
        rows: outcome.rows,
        vaultEntries: outcome.vaultEntries,
        rejectedMessages: outcome.rejectedMessages ?? "not searched",
        rejectedUnopened: outcome.rejectedUnopened,
      },
    });
    return outcome;
  });
}

/**
 * The user's rejected messages: their originals are sealed, so each body is opened (a chunk at a
 * time, bounded in count and bytes) and its user_id read the way the transform reads it.
 */
async function forgetRejected(
  client: PoolClient,
  userId: string,
  openBody: BodyOpener,
): Promise<{ deleted: number; unopened: number }> {
  let deleted = 0;
  let unopened = 0;
  let after = "";
  for (;;) {
    const chunk = await readSealedChunk(client, after);
    const last = chunk.rows.at(-1);
    if (!last) return { deleted, unopened };
    after = last.message_id;
    const theirs: string[] = [];
    for (const entry of chunk.rows) {
      const body = openBody(entry.body_sealed, entry.message_id);
      if (body === null) unopened++;
      else if (userIdOf(body) === userId) theirs.push(entry.message_id);
    }
    if (theirs.length > 0) {
      const result = await client.query(
        "DELETE FROM etl.rejected_messages WHERE message_id = ANY($1::text[])",
        [theirs],
      );
      deleted += result.rowCount ?? 0;
    }
  }
}
