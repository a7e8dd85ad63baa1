// Pruning etl.processed_messages (the ledger); why it is safe is in commands/prune.ts.
import type { Pool } from "pg";

const PRUNE_CHUNK = 10_000;

export async function countLedgerOlderThan(pool: Pool, ageSeconds: number): Promise<number> {
  const r = await pool.query<{ n: string }>(
    "SELECT count(*) AS n FROM etl.processed_messages WHERE processed_at < now() - $1::interval",
    [`${ageSeconds} seconds`],
  );
  return Number(r.rows[0]?.n ?? 0);
}

/** Delete ledger rows older than the age, in chunks so no long lock is held against running loads. */
export async function pruneLedger(pool: Pool, ageSeconds: number): Promise<number> {
  let total = 0;
  for (;;) {
    const r = await pool.query(
      `DELETE FROM etl.processed_messages WHERE message_id IN (
         SELECT message_id FROM etl.processed_messages
          WHERE processed_at < now() - $1::interval LIMIT $2)`,
      [`${ageSeconds} seconds`, PRUNE_CHUNK],
    );
    total += r.rowCount ?? 0;
    if ((r.rowCount ?? 0) < PRUNE_CHUNK) return total;
  }
}
