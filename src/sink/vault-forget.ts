// `etl forget`: the right to erasure. One transaction deletes the user's rows, then every vault
// entry of theirs that no other row still uses (another user on the same device keeps the
// device's entry: their rows must stay revealable), and records the erasure. Afterwards the
// user's masks open for nobody, with any key.
import type { Pool } from "pg";
import { LOGIN_TABLE } from "../login-columns.js";
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
}

export async function forgetUser(pool: Pool, request: ForgetRequest): Promise<ForgetOutcome> {
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
    const outcome = { rows: gone.rowCount ?? 0, vaultEntries: erased.rowCount ?? 0 };
    await audit(client, {
      actor: request.actor,
      action: "forget",
      reason: request.reason,
      counts: { ...outcome },
    });
    return outcome;
  });
}
