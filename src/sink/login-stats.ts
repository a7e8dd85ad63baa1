// Read-only looks at user_logins for `etl status` and `etl demo`.
import type { Pool } from "pg";
import { LOGIN_TABLE } from "../login-columns.js";
import { withTransaction } from "./transaction.js";

/** Exact when cheap enough; on a huge table, the planner's estimate after 5 s. */
export async function countLoginRows(pool: Pool): Promise<{ count: number; exact: boolean }> {
  try {
    return await withTransaction(pool, async (client) => {
      await client.query("SET LOCAL statement_timeout = '5s'");
      const exact = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${LOGIN_TABLE}`);
      return { count: Number(exact.rows[0]?.n ?? 0), exact: true };
    });
  } catch {
    const estimate = await pool.query<{ n: number }>(
      "SELECT greatest(reltuples, 0)::float8 AS n FROM pg_class WHERE oid = $1::regclass",
      [LOGIN_TABLE],
    );
    return { count: Math.round(estimate.rows[0]?.n ?? 0), exact: false };
  }
}

/** A few rows, masks shortened for display. */
export async function sampleLogins(pool: Pool, limit: number): Promise<Record<string, unknown>[]> {
  const rows = await pool.query(
    `SELECT user_id, device_type, left(masked_ip, 16) || '…' AS masked_ip,
            left(masked_device_id, 16) || '…' AS masked_device_id, locale, app_version,
            create_date::text AS create_date
       FROM ${LOGIN_TABLE} LIMIT $1`,
    [limit],
  );
  return rows.rows;
}

/** Masked device ids seen more than once: duplicates stay visible without the raw id. */
export async function repeatedDevices(
  pool: Pool,
  limit: number,
): Promise<{ masked_device_id: string; logins: number; users: number }[]> {
  const rows = await pool.query(
    `SELECT left(masked_device_id, 16) || '…' AS masked_device_id, count(*)::int AS logins,
            count(DISTINCT user_id)::int AS users
       FROM ${LOGIN_TABLE} WHERE masked_device_id IS NOT NULL
      GROUP BY masked_device_id HAVING count(*) > 1 ORDER BY logins DESC LIMIT $1`,
    [limit],
  );
  return rows.rows;
}
