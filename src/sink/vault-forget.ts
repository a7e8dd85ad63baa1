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
import { audit, lockVaultExclusive, vaultMask } from "./vault.js";

// Two statements, not two CTEs of one: CTEs share a snapshot, so the second would still see the
// rows the first deleted and find every entry in use. The first hands back only the distinct
// masks (a user with a million rows has few distinct addresses and devices).
const DELETE_ROWS_SQL = `
WITH gone AS (DELETE FROM ${LOGIN_TABLE} WHERE user_id = $1 RETURNING masked_ip, masked_device_id)
SELECT (SELECT count(*) FROM gone)::int AS rows,
       coalesce((SELECT array_agg(DISTINCT masked_ip) FROM gone WHERE masked_ip IS NOT NULL), '{}')
         AS ips,
       coalesce((SELECT array_agg(DISTINCT masked_device_id) FROM gone
                  WHERE masked_device_id IS NOT NULL), '{}') AS device_ids`;

// The candidates joined to user_logins (one scan, hashed, or index probes where the mask columns
// are indexed): those still used by another row stay; an anti-join deletes the rest.
const DELETE_ORPHANS_SQL = `
WITH candidates AS (
  SELECT 'ip' AS field, mask FROM unnest($1::text[]) AS c(mask)
  UNION ALL
  SELECT 'device_id', mask FROM unnest($2::text[]) AS c(mask)
), still_used AS (
  SELECT DISTINCT 'ip' AS field, r.masked_ip::text AS mask
    FROM ${LOGIN_TABLE} r JOIN unnest($1::text[]) AS c(mask) ON r.masked_ip = c.mask
  UNION ALL
  SELECT DISTINCT 'device_id', r.masked_device_id::text
    FROM ${LOGIN_TABLE} r JOIN unnest($2::text[]) AS c(mask) ON r.masked_device_id = c.mask
)
DELETE FROM etl.pii_vault v
 USING candidates c
 WHERE v.field = c.field AND v.mask = ${vaultMask("c.mask")}
   AND NOT EXISTS (SELECT 1 FROM still_used s WHERE s.field = c.field AND s.mask = c.mask)`;

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
    const gone = await client.query<{ rows: number; ips: string[]; device_ids: string[] }>(
      DELETE_ROWS_SQL,
      [request.userId],
    );
    const {
      rows,
      ips,
      device_ids: deviceIds,
    } = gone.rows[0] ?? { rows: 0, ips: [], device_ids: [] };
    // Only now, for the orphans: no batch may be between seeing an entry and committing a row
    // that uses it. Runs wait for this step alone, not for the deletion of the rows before it.
    await lockVaultExclusive(client);
    const erased =
      ips.length + deviceIds.length > 0
        ? await client.query(DELETE_ORPHANS_SQL, [ips, deviceIds])
        : { rowCount: 0 };
    const rejected = openBody
      ? await forgetRejected(client, request.userId, openBody)
      : { deleted: null, unopened: 0 };
    const outcome = {
      rows,
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
