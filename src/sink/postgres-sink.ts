// Sink: one transaction per batch. The ledger decides which messages are new; only those become
// rows (valid) or quarantine entries (rejected). Everything is set-based: three statements per
// batch whatever its size, never a statement per row.
import type { Pool, PoolClient } from "pg";
import { DatabaseError, describeError } from "../errors.js";
import type { LoginRow, ReceivedMessage, RejectReason, TransformResult } from "../types.js";
import type { BodyCipher } from "./body-cipher.js";

export interface SinkItem {
  message: ReceivedMessage;
  result: TransformResult;
}

export interface SinkOutcome {
  inserted: number;
  /** Messages whose outcome was already committed (redelivery, rerun, overlapping run). */
  duplicates: number;
  rejected: Partial<Record<RejectReason, number>>;
}

// Claim the batch's message ids. A row comes back only for ids not committed before; a concurrent
// transaction holding the same id makes this one wait for it, then skip it.
const CLAIM_SQL = `
INSERT INTO etl.processed_messages (message_id, outcome)
SELECT id, outcome FROM unnest($1::text[], $2::text[]) AS t(id, outcome)
ON CONFLICT (message_id) DO NOTHING
RETURNING message_id`;

const INSERT_LOGINS_SQL = `
INSERT INTO user_logins
  (user_id, device_type, masked_ip, masked_device_id, locale, app_version, create_date)
SELECT * FROM unnest(
  $1::varchar[], $2::varchar[], $3::varchar[], $4::varchar[], $5::varchar[], $6::integer[], $7::date[])`;

const INSERT_REJECTED_SQL = `
INSERT INTO etl.rejected_messages
  (message_id, reason, detail, payload, body_sealed, receive_count, sent_at)
SELECT * FROM unnest(
  $1::text[], $2::text[], $3::text[], $4::text[], $5::bytea[], $6::integer[], $7::timestamptz[])
ON CONFLICT (message_id) DO NOTHING`;

export class PostgresSink {
  constructor(
    private readonly pool: Pool,
    private readonly cipher: BodyCipher,
  ) {}

  async write(items: readonly SinkItem[]): Promise<SinkOutcome> {
    // The same message can sit in one batch twice (its visibility expired while it waited and
    // another poll received it again): keep one copy, the other counts as a duplicate.
    const unique = [...new Map(items.map((i) => [i.message.messageId, i])).values()];
    let client: PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw new DatabaseError(`Cannot get a database connection: ${describeError(err)}`, {
        cause: err,
      });
    }
    try {
      await client.query("BEGIN");
      const claimed = await client.query<{ message_id: string }>(CLAIM_SQL, [
        unique.map((i) => i.message.messageId),
        unique.map((i) => (i.result.kind === "row" ? "loaded" : "rejected")),
      ]);
      const fresh = new Set(claimed.rows.map((r) => r.message_id));
      const toLoad = unique.filter((i) => fresh.has(i.message.messageId));
      const outcome = await this.insert(client, toLoad);
      await client.query("COMMIT");
      return { ...outcome, duplicates: items.length - fresh.size };
    } catch (err) {
      await client.query("ROLLBACK").catch(() => {});
      throw new DatabaseError(`Batch transaction failed: ${describeError(err)}`, {
        cause: err,
        code: (err as { code?: string }).code,
      });
    } finally {
      client.release();
    }
  }

  private async insert(
    client: PoolClient,
    items: readonly SinkItem[],
  ): Promise<Omit<SinkOutcome, "duplicates">> {
    const rows = items.flatMap((i) => (i.result.kind === "row" ? [i.result.row] : []));
    const rejected = items.flatMap((i) =>
      i.result.kind === "rejected" ? [{ message: i.message, result: i.result }] : [],
    );
    await insertLoginRows(client, rows);
    const byReason: Partial<Record<RejectReason, number>> = {};
    if (rejected.length > 0) {
      await client.query(INSERT_REJECTED_SQL, [
        rejected.map((r) => r.message.messageId),
        rejected.map((r) => r.result.reason),
        rejected.map((r) => r.result.detail),
        rejected.map((r) => r.result.maskedPayload),
        rejected.map((r) => this.cipher.seal(r.message.body)),
        rejected.map((r) => r.message.receiveCount),
        rejected.map((r) =>
          r.message.sentTimestamp === undefined
            ? null
            : new Date(r.message.sentTimestamp).toISOString(),
        ),
      ]);
      for (const r of rejected) byReason[r.result.reason] = (byReason[r.result.reason] ?? 0) + 1;
    }
    return { inserted: rows.length, rejected: byReason };
  }
}

/** All rows in one statement, whatever their number. Shared with `etl replay`. */
export async function insertLoginRows(
  client: PoolClient,
  rows: readonly LoginRow[],
): Promise<void> {
  if (rows.length === 0) return;
  await client.query(INSERT_LOGINS_SQL, [
    rows.map((r) => r.user_id),
    rows.map((r) => r.device_type),
    rows.map((r) => r.masked_ip),
    rows.map((r) => r.masked_device_id),
    rows.map((r) => r.locale),
    rows.map((r) => r.app_version),
    rows.map((r) => r.create_date),
  ]);
}
