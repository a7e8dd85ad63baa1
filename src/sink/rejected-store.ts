// Reading the rejected messages (`etl rejected`) and replaying them through the current transform
// (`etl replay`). The SQL lives here, beside the code that runs it.
import type { Pool, PoolClient } from "pg";
import type { LoginRow, Originals, RejectReason, TransformResult } from "../types.js";
import type { BodyCipher } from "./body-cipher.js";
import { insertLoginRows } from "./postgres-sink.js";
import { isolateRefusals, refusalDetail } from "./refusals.js";
import { withSavepoint, withTransaction } from "./transaction.js";
import {
  CURRENT_KEYS_SQL,
  type CurrentKeys,
  checkCurrentKeys,
  insertVaultSql,
  lockVaultShared,
  vaultEntries,
  vaultParams,
  type WriterKeys,
} from "./vault.js";

/** A replayed message that stays rejected; a null payload keeps the stored one. */
interface Still {
  id: string;
  reason: RejectReason;
  detail: string;
  payload: string | null;
}

export interface RejectedEntry {
  message_id: string;
  reason: string;
  detail: string;
  payload: string;
  receive_count: number;
  sent_at: Date | null;
  rejected_at: Date;
}

export async function countRejectedByReason(
  pool: Pool,
): Promise<{ reason: string; count: number; newest: Date }[]> {
  const result = await pool.query(
    `SELECT reason, count(*)::int AS count, max(rejected_at) AS newest
       FROM etl.rejected_messages GROUP BY reason ORDER BY count DESC, reason`,
  );
  return result.rows;
}

export async function listRejected(
  pool: Pool,
  options: { reason: string | undefined; limit: number },
): Promise<RejectedEntry[]> {
  const result = await pool.query<RejectedEntry>(
    `SELECT message_id, reason, detail, payload, receive_count, sent_at, rejected_at
       FROM etl.rejected_messages
      WHERE $1::text IS NULL OR reason = $1
      ORDER BY rejected_at DESC, message_id
      LIMIT $2`,
    [options.reason ?? null, options.limit],
  );
  return result.rows;
}

export interface ReplayOutcome {
  examined: number;
  /** Now valid: inserted into user_logins and removed from the rejected messages. */
  loaded: number;
  /** Still invalid, by their (possibly new) reason; their reason and detail are updated. */
  stillRejected: Partial<Record<RejectReason, number>>;
  /** Sealed with another PII_HASH_KEY: left untouched. */
  undecryptable: number;
}

export interface ReplayOptions {
  reason: string | undefined;
  dryRun: boolean;
  /** Most messages per chunk. */
  chunkSize?: number;
  /** Most bytes of sealed bodies per chunk (at least one message is always taken). */
  chunkBytes?: number;
}

// A chunk is read without a lock and transformed outside any transaction: transforming many
// large bodies must not keep a transaction open (idle_in_transaction_session_timeout would end
// it, and its locks would block other replays). Bounded by count and by sealed bytes, so memory
// follows the budget, not the size of what producers sent.
const READ_CHUNK_SQL = `
SELECT message_id, body_sealed, sent_ms FROM (
  SELECT message_id, body_sealed, sent_ms,
         sum(octet_length(body_sealed)) OVER (ORDER BY message_id) AS running
    FROM (SELECT message_id, body_sealed, (extract(epoch FROM sent_at) * 1000)::float8 AS sent_ms
            FROM etl.rejected_messages
           WHERE ($1::text IS NULL OR reason = $1) AND message_id > $2
           ORDER BY message_id
           LIMIT $3) AS firsts) AS sized
 WHERE running - octet_length(body_sealed) < $4
 ORDER BY message_id`;

// Then, in the chunk's transaction, the rows are locked: two replays (or a replay and a DBA)
// cannot load one message twice; a row the other took in the meantime is gone and skipped.
const LOCK_CHUNK_SQL = `
SELECT message_id FROM etl.rejected_messages WHERE message_id = ANY($1::text[]) FOR UPDATE`;

const LOAD_REPLAYED_SQL = `
WITH gone AS (DELETE FROM etl.rejected_messages WHERE message_id = ANY($1::text[]) RETURNING message_id)
UPDATE etl.processed_messages p SET outcome = 'loaded' FROM gone WHERE p.message_id = gone.message_id`;

// A null payload keeps the stored one (a row the database refused again has no new payload).
const UPDATE_REASON_SQL = `
UPDATE etl.rejected_messages r
   SET reason = u.reason, detail = u.detail, payload = coalesce(u.payload, r.payload)
  FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS u(message_id, reason, detail, payload)
 WHERE r.message_id = u.message_id`;

// The vault entries of the rows replay loaded, in the same transaction (src/sink/vault.ts).
// Only masks of rows the table kept (a trigger may drop one) get entries: no entry without a row.
const INSERT_REPLAYED_VAULT_SQL = insertVaultSql(
  1,
  "unnest($6::text[], $7::text[]) WITH ORDINALITY AS r(masked_ip, masked_device_id, n)",
  "unnest($8::text[], $9::text[]) AS kept(masked_ip, masked_device_id)",
);

const DEFAULT_CHUNK_SIZE = 500;
const DEFAULT_CHUNK_BYTES = 8 * 1024 * 1024;

/** The next chunk of sealed bodies after `after` (by message id), bounded by count and bytes. */
export function readSealedChunk(
  db: Pool | PoolClient,
  after: string,
  options: { reason?: string | undefined; chunkSize?: number; chunkBytes?: number } = {},
) {
  return db.query<{ message_id: string; body_sealed: Buffer; sent_ms: number | null }>(
    READ_CHUNK_SQL,
    [
      options.reason ?? null,
      after,
      options.chunkSize ?? DEFAULT_CHUNK_SIZE,
      options.chunkBytes ?? DEFAULT_CHUNK_BYTES,
    ],
  );
}

/** One rejected message after the current transform: a row to load, or still rejected. */
type Replayed =
  | { id: string; kind: "row"; row: LoginRow; originals: Originals }
  | { id: string; kind: "still"; still: Still };

/**
 * Run rejected messages through `transform` again, a chunk at a time: in each chunk's
 * transaction, the messages that now pass are inserted into user_logins and leave the rejected
 * messages together, so each is loaded exactly once however often replay runs. A row the
 * database still refuses is isolated (src/sink/refusals.ts, savepoints) and stays rejected with
 * the new detail; the rest of its chunk loads.
 */
export async function replayRejected(
  pool: Pool,
  options: ReplayOptions,
  transform: (body: string, sentTimestamp: number | undefined) => TransformResult,
  cipher: BodyCipher,
  keys: WriterKeys,
): Promise<ReplayOutcome> {
  const outcome: ReplayOutcome = { examined: 0, loaded: 0, stillRejected: {}, undecryptable: 0 };
  let after = "";
  for (;;) {
    const chunk = await readSealedChunk(pool, after, options);
    const last = chunk.rows.at(-1);
    if (!last) return outcome;
    after = last.message_id;
    const replayed: Replayed[] = [];
    for (const entry of chunk.rows) {
      const body = cipher.open(entry.body_sealed, entry.message_id);
      if (body === null) {
        outcome.examined++;
        outcome.undecryptable++;
        continue;
      }
      const result = transform(body, entry.sent_ms ?? undefined);
      replayed.push(
        result.kind === "row"
          ? { id: entry.message_id, kind: "row", row: result.row, originals: result.originals }
          : {
              id: entry.message_id,
              kind: "still",
              still: {
                id: entry.message_id,
                reason: result.reason,
                detail: result.detail,
                payload: result.maskedPayload,
              },
            },
      );
    }
    await withTransaction(
      pool,
      (client) => writeChunk(client, replayed, outcome, keys),
      // A dry run rolls every chunk back; its counts are what a real run would commit.
      { rollback: options.dryRun },
    );
  }
}

async function writeChunk(
  client: PoolClient,
  replayed: readonly Replayed[],
  outcome: ReplayOutcome,
  keys: WriterKeys,
): Promise<void> {
  if (keys.vault) await lockVaultShared(client);
  const locked = await client.query<{ message_id: string }>(LOCK_CHUNK_SQL, [
    replayed.map((r) => r.id),
  ]);
  const present = new Set(locked.rows.map((r) => r.message_id));
  const mine = replayed.filter((r) => present.has(r.id));
  const loadable = mine.flatMap((r) => (r.kind === "row" ? [r] : []));
  const still = mine.flatMap((r) => (r.kind === "still" ? [r.still] : []));
  // Rows the database still refuses stay rejected with the new detail; the rest load.
  const { results, refused } = await isolateRefusals(loadable, (part) =>
    withSavepoint(client, () =>
      insertLoginRows(
        client,
        part.map((p) => p.row),
      ),
    ),
  );
  for (const { item, error } of refused) {
    still.push({ id: item.id, reason: "db_error", detail: refusalDetail(error), payload: null });
  }
  const refusedIds = new Set(refused.map((r) => r.item.id));
  const loadedIds = loadable.filter((l) => !refusedIds.has(l.id)).map((l) => l.id);
  if (loadedIds.length > 0) await client.query(LOAD_REPLAYED_SQL, [loadedIds]);
  const loaded = loadable.filter((l) => !refusedIds.has(l.id));
  const kept = results.flat();
  const entries = await vaultEntries(keys, loaded);
  if (entries.sealed.length > 0) {
    await client.query(INSERT_REPLAYED_VAULT_SQL, [
      ...vaultParams(keys, entries),
      loaded.map((l) => l.row.masked_ip),
      loaded.map((l) => l.row.masked_device_id),
      kept.map((k) => k.masked_ip),
      kept.map((k) => k.masked_device_id),
    ]);
  }
  const current = await client.query<CurrentKeys>(`SELECT ${CURRENT_KEYS_SQL}`);
  checkCurrentKeys(keys, current.rows[0] ?? { hash_key: null, vault_key: null });
  if (still.length > 0) {
    await client.query(UPDATE_REASON_SQL, [
      still.map((s) => s.id),
      still.map((s) => s.reason),
      still.map((s) => s.detail),
      still.map((s) => s.payload),
    ]);
  }
  outcome.examined += mine.length;
  outcome.loaded += loadedIds.length;
  for (const s of still) {
    outcome.stillRejected[s.reason] = (outcome.stillRejected[s.reason] ?? 0) + 1;
  }
}
