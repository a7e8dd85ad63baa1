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
  LOGIN_TABLE,
  loginColumnArrays,
  unnestParams,
} from "../login-columns.js";
import { retry } from "../retry.js";
import { checkpoint } from "../test-hooks.js";
import { sentTime } from "../transform/index.js";
import type { LoginRow, RejectReason, SinkItem, SinkOutcome } from "../types.js";
import type { BodyCipher } from "./body-cipher.js";
import { classifyDbFailure } from "./database.js";
import { KeyMismatchError } from "./key-epochs.js";
import {
  isolateRefusals,
  isRefusal,
  type Refusal,
  refusalDetail,
  systemicError,
} from "./refusals.js";
import { withTransaction } from "./transaction.js";
import {
  CURRENT_KEYS_SQL,
  type CurrentKeys,
  checkCurrentKeys,
  insertVaultSql,
  LOCK_VAULT_SHARED,
  VAULT_MASK_COLUMNS,
  type VaultEntries,
  vaultEntries,
  vaultParams,
  type WriterKeys,
} from "./vault.js";
import { SealingError } from "./vault-sealer.js";

const REJECTED_TYPES = ["text", "text", "text", "text", "bytea", "integer", "timestamptz"];
const REJECTED_PARAMS = REJECTED_TYPES.length;

/** The rejection entries' parameters, after the ledger's two and the rows' (one per column + id). */
function rejectedParams(first: number): string {
  return REJECTED_TYPES.map((t, i) => `$${first + i}::${t}[]`).join(", ");
}

// The whole batch in one statement (one round trip): claim the message ids in the ledger, then
// insert rows and rejection entries for the claimed ids only, and the PII vault's entries for the
// masks of the rows inserted (none when the vault is off: its arrays are empty). The CTEs run on
// one snapshot; the ids `claimed` inserted reach the others through its RETURNING list. An id
// some earlier transaction committed is skipped (a duplicate); one a concurrent transaction holds
// makes this statement wait for it, then skip it. The statement also reads the current key
// fingerprints, so a batch never commits under a key rotated away meanwhile (vault.ts). Ids are
// claimed in order, as vault entries are inserted (insertVaultSql), so two batches holding the
// same messages wait for each other instead of deadlocking.
// Built from the column list (src/login-columns.ts); parameters are numbered from it.
export function loadBatchSql(columns: Columns = LOGIN_COLUMNS): string {
  const cols = columnList(columns);
  return `
WITH claimed AS (
  INSERT INTO etl.processed_messages (message_id, outcome)
  SELECT id, outcome FROM unnest($1::text[], $2::text[]) AS t(id, outcome) ORDER BY id
  ON CONFLICT (message_id) DO NOTHING
  RETURNING message_id
), logins AS (
  INSERT INTO ${LOGIN_TABLE} (${cols})
  SELECT ${cols}
  FROM unnest($3::text[], ${unnestParams(4, columns)}) AS r(message_id, ${cols})
  WHERE message_id IN (SELECT message_id FROM claimed)
  RETURNING ${VAULT_MASK_COLUMNS.join(", ")}
), rejections AS (
  INSERT INTO etl.rejected_messages
    (message_id, reason, detail, payload, body_sealed, receive_count, sent_at)
  SELECT * FROM unnest(${rejectedParams(4 + columns.length)})
    AS q(message_id, reason, detail, payload, body_sealed, receive_count, sent_at)
  WHERE message_id IN (SELECT message_id FROM claimed)
  ON CONFLICT (message_id) DO NOTHING
  RETURNING reason
), vaulted AS (${insertVaultSql(4 + columns.length + REJECTED_PARAMS, vaultRows(columns), "logins")}
)
SELECT (SELECT count(*) FROM claimed)::int AS claimed,
       (SELECT count(*) FROM logins)::int AS inserted,
       (SELECT coalesce(json_object_agg(reason, n), '{}')
          FROM (SELECT reason, count(*)::int AS n FROM rejections GROUP BY reason) AS r)
         AS rejected,
       ${CURRENT_KEYS_SQL}`;
}
const LOAD_BATCH_SQL = loadBatchSql();

/** The batch's rows, numbered as vaultEntries numbers them: the vault's FROM item. */
function vaultRows(columns: Columns): string {
  const param = (name: string) => {
    const i = columns.findIndex((c) => c.name === name);
    return `$${4 + i}::${columns[i]?.arrayType}`;
  };
  const masks = VAULT_MASK_COLUMNS;
  return `unnest(${masks.map(param).join(", ")}) WITH ORDINALITY AS r(${masks.join(", ")}, n)`;
}

/** Rows for `etl replay`, which has no ledger claim to make (its messages are already in it). */
export function insertLoginsSql(columns: Columns = LOGIN_COLUMNS): string {
  return `
INSERT INTO ${LOGIN_TABLE} (${columnList(columns)})
SELECT * FROM unnest(${unnestParams(1, columns)})`;
}
// With the masks of the rows really inserted (a trigger may drop one): replay's vault entries
// are for those only.
const INSERT_LOGINS_SQL = `${insertLoginsSql()}
RETURNING ${VAULT_MASK_COLUMNS.join(", ")}`;

/** The most times one batch is retried after a deadlock or serialization failure. */
const MAX_RETRIES = 5;

export interface SinkOptions {
  /** Seals the original body of a rejected message for `etl replay`. */
  cipher: BodyCipher;
  /** The masked payload stored for a message rejected by the database (db_error). */
  maskPayload: (body: string) => string;
  /** The keys this process masks and seals with (the vault's when it is on). */
  keys: WriterKeys;
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
    const done = await this.commitIsolatingRefusals(unique);
    return {
      inserted: done.inserted,
      rejected: done.rejected,
      duplicates: items.length - done.claimed,
    };
  }

  /**
   * Commit the batch. If the database refuses some of its rows (a constraint, a trigger), the
   * batch is bisected down to those messages (src/sink/refusals.ts), every other message still
   * commits, and the refused ones are rejected as db_error — unless the table refuses any row
   * (the probe below), which stops the run instead of rejecting message after message.
   */
  private async commitIsolatingRefusals(items: readonly SinkItem[]): Promise<Committed> {
    const first = await this.isolate(items);
    const done = sum(first.results);
    if (first.refused.length === 0) return done;
    await this.stopIfSystemic(first.refused);
    return merge(done, await this.rejectRefused(first.refused));
  }

  /**
   * Poison messages or a broken table? Insert a neutral row (no values but the refused row's
   * date, so it lands in the same partition) and roll it back. If the table refuses it the way
   * it refused the message, any message would be refused: stop. Refusals alike are not enough
   * to tell (two messages breaking one CHECK look the same as a missing partition), and one
   * refusal alone may already be systemic (a trickle queue gives batches of one).
   */
  private async stopIfSystemic(refused: readonly Refusal<SinkItem>[]): Promise<void> {
    const refusal = refused.find((r) => r.item.result.kind === "row");
    if (refusal?.item.result.kind !== "row") return;
    const probe: LoginRow = {
      user_id: PROBE_USER_ID,
      device_type: null,
      masked_ip: null,
      masked_device_id: null,
      locale: null,
      app_version: null,
      create_date: refusal.item.result.row.create_date,
    };
    try {
      await withTransaction(this.pool, (client) => insertLoginRows(client, [probe]), {
        rollback: true,
      });
    } catch (err) {
      if (!isRefusal(err)) throw asDatabaseError(err);
      if (errorCode(err) === errorCode(refusal.error)) throw systemicError(refusal, err);
    }
  }

  private async isolate(items: readonly SinkItem[]) {
    try {
      return await isolateRefusals(items, (part) => this.commitWithRetry(part));
    } catch (err) {
      // A rotated key is the operator's to fix (exit 2), not a database failure; nor is a
      // sealing thread that failed.
      if (err instanceof KeyMismatchError || err instanceof SealingError) throw err;
      throw asDatabaseError(err);
    }
  }

  private async commitWithRetry(items: readonly SinkItem[]): Promise<Committed> {
    // Sealed once, before the transaction begins: no connection is held while values are
    // sealed, and a retried transaction sends the same bytes.
    const rows = items.flatMap(({ result }) => (result.kind === "row" ? [result] : []));
    const { keys } = this.options;
    const entries = await vaultEntries(keys, rows);
    // With the vault, the writers lock is taken with BEGIN, before the batch statement, so its
    // snapshot sees whatever an erasure or rotation committed (src/sink/vault.ts).
    const options = keys.vault ? { withBegin: LOCK_VAULT_SHARED } : {};
    const attempt = () =>
      withTransaction(this.pool, (client) => this.claimAndInsert(client, items, entries), options);
    return retry(attempt, {
      retries: MAX_RETRIES,
      shouldRetry: (err) => classifyDbFailure(err) === "retry",
      onRetry: (err, attempt) =>
        this.options.logger.warn(
          { code: errorCode(err), attempt, size: items.length },
          `batch transaction will be retried: ${describeError(err)}`,
        ),
    });
  }

  private async claimAndInsert(
    client: PoolClient,
    items: readonly SinkItem[],
    entries: VaultEntries,
  ): Promise<Committed> {
    const { keys } = this.options;
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
    const result = await client.query<Committed & CurrentKeys>({
      // Named: parsed and planned once per connection, not once per batch (~20% of Postgres'
      // CPU per batch). Needs a pooler that tracks prepared statements (README "Troubleshooting").
      name: "login-etl/load-batch/v4",
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
        rejected.map((r) => this.options.cipher.seal(r.message.body, r.message.messageId)),
        rejected.map((r) => r.message.receiveCount),
        rejected.map((r) => sentTime(r.message.sentTimestamp)),
        ...vaultParams(keys, entries),
      ],
    });
    await checkpoint("mid_transaction");
    const [committed] = result.rows;
    if (!committed) throw new Error("the batch statement returned no row");
    checkCurrentKeys(keys, committed);
    return {
      inserted: committed.inserted,
      rejected: committed.rejected,
      claimed: committed.claimed,
    };
  }

  /**
   * Record the refused messages among the rejected ones (db_error, with the SQLSTATE). If the
   * database refuses an entry too (a trigger on the table, a timestamp it cannot store), that
   * message gets a minimal entry: reason, detail and sealed body only. A poison message must
   * never block the queue; only when even minimal entries are refused does the run stop.
   */
  private async rejectRefused(refused: readonly Refusal<SinkItem>[]): Promise<Committed> {
    const rows = refused.filter((r) => r.item.result.kind === "row");
    for (const { item, error } of rows) {
      this.options.logger.warn(
        { messageId: item.message.messageId, code: errorCode(error) },
        "rejecting a message the database refused (db_error)",
      );
    }
    const second = await this.isolate(
      rows.map(({ item, error }) => this.dbErrorEntry(item, error)),
    );
    // Entries refused now, and rejected messages whose own entry was refused in the batch.
    const minimal = [
      ...refused.filter((r) => r.item.result.kind === "rejected"),
      ...second.refused,
    ];
    if (minimal.length === 0) return sum(second.results);
    for (const { item, error } of minimal) {
      this.options.logger.warn(
        { messageId: item.message.messageId, code: errorCode(error) },
        "the database refused a rejected-message entry; keeping a minimal one",
      );
    }
    const third = await this.isolate(minimal.map(({ item, error }) => minimalEntry(item, error)));
    const [unwritable] = third.refused;
    if (unwritable) {
      throw new DatabaseError(
        `Postgres refused even a minimal rejected-message entry: ${describeError(unwritable.error)}. ` +
          "Check triggers and constraints on etl.rejected_messages.",
        { cause: unwritable.error, code: errorCode(unwritable.error) },
      );
    }
    return merge(sum(second.results), sum(third.results));
  }

  private dbErrorEntry(item: SinkItem, err: unknown): SinkItem {
    // Postgres error messages name constraints and columns; the values in them are at most
    // masked ones (raw ip/device_id never reach the database).
    return {
      message: item.message,
      result: {
        kind: "rejected",
        reason: "db_error",
        detail: refusalDetail(err),
        maskedPayload: this.options.maskPayload(item.message.body),
      },
    };
  }
}

/** The user_id of the probe row (never committed: its transaction always rolls back). */
const PROBE_USER_ID = "login-etl-probe";

/**
 * The smallest entry that still keeps the message replayable: its sealed body, sent_at (replay
 * needs it for create_date; sentTime() already drops a time Postgres cannot store) and receive
 * count, a reason and a detail naming both refusals; no payload, the usual culprit.
 */
function minimalEntry(entry: SinkItem, err: unknown): SinkItem {
  const first = entry.result.kind === "rejected" ? entry.result.detail : "";
  return {
    message: entry.message,
    result: {
      kind: "rejected",
      reason: entry.result.kind === "rejected" ? entry.result.reason : "db_error",
      detail: `${first.slice(0, 300)}; its full entry was refused too (SQLSTATE ${errorCode(err) ?? "none"}), so only this minimal one is kept`,
      maskedPayload: "[payload withheld: the database refused the full entry]",
    },
  };
}

function sum(results: readonly Committed[]): Committed {
  return results.reduce(merge, { inserted: 0, claimed: 0, rejected: {} });
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

/** The mask columns of a row the database kept. */
export type InsertedMasks = Pick<LoginRow, "masked_ip" | "masked_device_id">;

/**
 * All rows in one statement, whatever their number; the masks of those inserted. Shared with
 * `etl replay`.
 */
export async function insertLoginRows(
  client: PoolClient,
  rows: readonly LoginRow[],
): Promise<InsertedMasks[]> {
  if (rows.length === 0) return [];
  const result = await client.query<InsertedMasks>(INSERT_LOGINS_SQL, loginColumnArrays(rows));
  return result.rows;
}
