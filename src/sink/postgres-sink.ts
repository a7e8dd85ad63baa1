// Sink: one transaction per batch. The ledger decides which messages are new; only those become
// rows (valid) or rejection entries (rejected). Everything is set-based: one statement per batch
// whatever its size (between BEGIN and COMMIT), never a statement per row. A row the database refuses is isolated by
// splitting the batch, so it never takes its neighbours down with it.
import type { Pool, PoolClient } from "pg";
import { DatabaseError, describeError, errorCode } from "../errors.js";
import type { Logger } from "../logger.js";
import {
  type Columns,
  columnList,
  LOGIN_COLUMNS,
  loginColumnArrays,
  unnestParams,
} from "../login-columns.js";
import { retry } from "../retry.js";
import { checkpoint } from "../test-hooks.js";
import type { LoginRow, RejectReason, SinkItem, SinkOutcome } from "../types.js";
import type { BodyCipher } from "./body-cipher.js";
import { classifyDbFailure } from "./database.js";
import { withTransaction } from "./transaction.js";

/** The rejection entries' parameters, after the ledger's two and the rows' (one per column + id). */
function rejectedParams(first: number): string {
  const types = ["text", "text", "text", "text", "bytea", "integer", "timestamptz"];
  return types.map((t, i) => `$${first + i}::${t}[]`).join(", ");
}

// The whole batch in one statement (one round trip): claim the message ids in the ledger, then
// insert rows and rejection entries for the claimed ids only. The CTEs run on one snapshot; the
// ids `claimed` inserted reach the other two through its RETURNING list. An id some earlier
// transaction committed is skipped (a duplicate); one a concurrent transaction holds makes this
// statement wait for it, then skip it.
// Built from the column list (src/login-columns.ts); parameters are numbered from it.
export function loadBatchSql(columns: Columns = LOGIN_COLUMNS): string {
  const cols = columnList(columns);
  return `
WITH claimed AS (
  INSERT INTO etl.processed_messages (message_id, outcome)
  SELECT id, outcome FROM unnest($1::text[], $2::text[]) AS t(id, outcome)
  ON CONFLICT (message_id) DO NOTHING
  RETURNING message_id
), logins AS (
  INSERT INTO user_logins (${cols})
  SELECT ${cols}
  FROM unnest($3::text[], ${unnestParams(4, columns)}) AS r(message_id, ${cols})
  WHERE message_id IN (SELECT message_id FROM claimed)
  RETURNING 1
), rejections AS (
  INSERT INTO etl.rejected_messages
    (message_id, reason, detail, payload, body_sealed, receive_count, sent_at)
  SELECT * FROM unnest(${rejectedParams(4 + columns.length)})
    AS q(message_id, reason, detail, payload, body_sealed, receive_count, sent_at)
  WHERE message_id IN (SELECT message_id FROM claimed)
  ON CONFLICT (message_id) DO NOTHING
  RETURNING reason
)
SELECT (SELECT count(*) FROM claimed)::int AS claimed,
       (SELECT count(*) FROM logins)::int AS inserted,
       (SELECT coalesce(json_object_agg(reason, n), '{}')
          FROM (SELECT reason, count(*)::int AS n FROM rejections GROUP BY reason) AS r)
         AS rejected`;
}
const LOAD_BATCH_SQL = loadBatchSql();

/** Rows for `etl replay`, which has no ledger claim to make (its messages are already in it). */
export function insertLoginsSql(columns: Columns = LOGIN_COLUMNS): string {
  return `
INSERT INTO user_logins (${columnList(columns)})
SELECT * FROM unnest(${unnestParams(1, columns)})`;
}
const INSERT_LOGINS_SQL = insertLoginsSql();

/** The most times one batch is retried after a deadlock or serialization failure. */
const MAX_RETRIES = 5;

export interface SinkOptions {
  /** Seals the original body of a rejected message for `etl replay`. */
  cipher: BodyCipher;
  /** The masked payload stored for a message rejected by the database (db_error). */
  maskPayload: (body: string) => string;
  logger: Logger;
}

interface Committed {
  inserted: number;
  rejected: Partial<Record<RejectReason, number>>;
  /** Messages this transaction claimed in the ledger (the rest were duplicates). */
  claimed: number;
}

export class PostgresSink {
  constructor(
    private readonly pool: Pool,
    private readonly options: SinkOptions,
  ) {}

  async write(items: readonly SinkItem[]): Promise<SinkOutcome> {
    // The same message can sit in one batch twice (its visibility expired while it waited and
    // another poll received it again): keep one copy, the other counts as a duplicate.
    const unique = [...new Map(items.map((i) => [i.message.messageId, i])).values()];
    const done = await this.commitOrSplit(unique);
    return {
      inserted: done.inserted,
      rejected: done.rejected,
      duplicates: items.length - done.claimed,
    };
  }

  /**
   * Commit the batch; if the database refuses one of its rows (a constraint, a trigger), split
   * it in halves and commit each, down to the single offending message, which is rejected
   * as db_error. One bad row costs about 2·log2(batch) extra transactions, and every good
   * message in the batch still commits.
   */
  private async commitOrSplit(items: readonly SinkItem[]): Promise<Committed> {
    try {
      return await this.commitWithRetry(items);
    } catch (err) {
      if (classifyDbFailure(err) !== "row") throw asDatabaseError(err);
      const [only] = items;
      if (items.length === 1 && only) return this.rejectDbError(only, err);
      const middle = Math.ceil(items.length / 2);
      const left = await this.commitOrSplit(items.slice(0, middle));
      const right = await this.commitOrSplit(items.slice(middle));
      return merge(left, right);
    }
  }

  private commitWithRetry(items: readonly SinkItem[]): Promise<Committed> {
    return retry(() => withTransaction(this.pool, (client) => this.claimAndInsert(client, items)), {
      retries: MAX_RETRIES,
      shouldRetry: (err) => classifyDbFailure(err) === "retry",
      onRetry: (err, attempt) =>
        this.options.logger.warn(
          { code: errorCode(err), attempt, size: items.length },
          `batch transaction will be retried: ${describeError(err)}`,
        ),
    });
  }

  private async claimAndInsert(client: PoolClient, items: readonly SinkItem[]): Promise<Committed> {
    const rowIds: string[] = [];
    const rows: LoginRow[] = [];
    for (const { message, result } of items) {
      if (result.kind === "row") {
        rowIds.push(message.messageId);
        rows.push(result.row);
      }
    }
    const rejected = items.flatMap((i) =>
      i.result.kind === "rejected" ? [{ message: i.message, result: i.result }] : [],
    );
    const result = await client.query<Committed>({
      // Named: parsed and planned once per connection, not once per batch (~20% of Postgres'
      // CPU per batch). Needs a pooler that tracks prepared statements (README "Troubleshooting").
      name: "login-etl/load-batch/v1",
      text: LOAD_BATCH_SQL,
      values: [
        items.map((i) => i.message.messageId),
        items.map((i) => (i.result.kind === "row" ? "loaded" : "rejected")),
        rowIds,
        ...loginColumnArrays(rows),
        rejected.map((r) => r.message.messageId),
        rejected.map((r) => r.result.reason),
        rejected.map((r) => r.result.detail),
        rejected.map((r) => r.result.maskedPayload),
        rejected.map((r) => this.options.cipher.seal(r.message.body)),
        rejected.map((r) => r.message.receiveCount),
        rejected.map((r) =>
          r.message.sentTimestamp === undefined
            ? null
            : new Date(r.message.sentTimestamp).toISOString(),
        ),
      ],
    });
    await checkpoint("mid_transaction");
    const [committed] = result.rows;
    if (!committed) throw new Error("the batch statement returned no row");
    return committed;
  }

  /** The database refused this message's row: record it among the rejected messages instead (own transaction). */
  private async rejectDbError(item: SinkItem, err: unknown): Promise<Committed> {
    const code = errorCode(err) ?? "unknown";
    // Postgres error messages name constraints and columns; the values in them are at most
    // masked ones (raw ip/device_id never reach the database). err.detail is left out all the
    // same: it can echo a whole row.
    const detail = `Postgres refused the row: SQLSTATE ${code}: ${describeError(err)}`.slice(
      0,
      500,
    );
    this.options.logger.warn(
      { messageId: item.message.messageId, code },
      "rejecting a message the database refused (db_error)",
    );
    const rejected: SinkItem = {
      message: item.message,
      result: {
        kind: "rejected",
        reason: "db_error",
        detail,
        maskedPayload: this.options.maskPayload(item.message.body),
      },
    };
    try {
      return await this.commitWithRetry([rejected]);
    } catch (again) {
      throw asDatabaseError(again);
    }
  }
}

function merge(a: Committed, b: Committed): Committed {
  const rejected = { ...a.rejected };
  for (const [reason, n] of Object.entries(b.rejected) as [RejectReason, number][]) {
    rejected[reason] = (rejected[reason] ?? 0) + n;
  }
  return { inserted: a.inserted + b.inserted, claimed: a.claimed + b.claimed, rejected };
}

function asDatabaseError(err: unknown): DatabaseError {
  if (err instanceof DatabaseError) return err;
  return new DatabaseError(`Batch transaction failed: ${describeError(err)}`, {
    cause: err,
    code: errorCode(err),
  });
}

/** All rows in one statement, whatever their number. Shared with `etl replay`. */
export async function insertLoginRows(
  client: PoolClient,
  rows: readonly LoginRow[],
): Promise<void> {
  if (rows.length === 0) return;
  await client.query(INSERT_LOGINS_SQL, loginColumnArrays(rows));
}
