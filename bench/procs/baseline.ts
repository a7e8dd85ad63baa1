// The baseline: how SQS→Postgres is commonly written in Node. One sqs-consumer (bbc) instance,
// batchSize 10, handleMessageBatch inserts the batch with one multi-row INSERT, then
// sqs-consumer deletes the batch. Like typical public solutions it drops messages of the wrong
// shape (no rejected messages, no ledger: at-least-once, not exactly-once), stamps today's date, and
// does no IP canonicalisation. Masking is HMAC-SHA-256 with PII_HASH_KEY, one HMAC per value:
// the same per-value cost as login-etl (a plain sha256 would be slightly cheaper, and unsafe).
// Stops at its first empty long poll (the 'empty' event).
//
// env: SQS_ENDPOINT, SQS_QUEUE_URL, DATABASE_URL, PII_HASH_KEY, WAIT_TIME_SECONDS.
import { createHmac } from "node:crypto";
import type { Message } from "@aws-sdk/client-sqs";
import pg from "pg";
import { Consumer } from "sqs-consumer";
import { localSqsClient } from "../lib/sqs.js";

const key = Buffer.from(process.env.PII_HASH_KEY ?? "", "utf8");
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 2 });
// The analysts' DDL, as login-etl creates it.
await pool.query(`CREATE TABLE IF NOT EXISTS user_logins(
  user_id varchar(128), device_type varchar(32), masked_ip varchar(256),
  masked_device_id varchar(256), locale varchar(32), app_version integer, create_date date)`);

const mask = (value: unknown) =>
  typeof value === "string" ? createHmac("sha256", key).update(value).digest("hex") : null;

/** "2.3.0" → 2003000, the usual "make the version an integer" step. */
function versionToInt(value: unknown): number | null {
  if (value === null || value === undefined) return null;
  const [major = 0, minor = 0, patch = 0] = String(value).split(".").map(Number);
  const n = major * 1_000_000 + minor * 1_000 + patch;
  return Number.isFinite(n) ? n : null;
}

let inserted = 0;
let skipped = 0;

async function handleBatch(messages: Message[]): Promise<Message[]> {
  const today = new Date().toISOString().slice(0, 10);
  const values: unknown[] = [];
  const tuples: string[] = [];
  for (const m of messages) {
    let event: Record<string, unknown>;
    try {
      event = JSON.parse(m.Body ?? "") as Record<string, unknown>;
    } catch {
      skipped++;
      continue;
    }
    if (typeof event !== "object" || event === null || typeof event.user_id !== "string") {
      skipped++;
      continue;
    }
    const n = values.length;
    tuples.push(`($${n + 1},$${n + 2},$${n + 3},$${n + 4},$${n + 5},$${n + 6},$${n + 7})`);
    values.push(
      event.user_id,
      event.device_type ?? null,
      mask(event.ip),
      mask(event.device_id),
      event.locale ?? null,
      versionToInt(event.app_version),
      today,
    );
  }
  if (tuples.length > 0) {
    await pool.query(
      `INSERT INTO user_logins (user_id, device_type, masked_ip, masked_device_id, locale, app_version, create_date) VALUES ${tuples.join(",")}`,
      values,
    );
    inserted += tuples.length;
  }
  return messages; // delete all: sqs-consumer deletes them with one DeleteMessageBatch
}

const consumer = Consumer.create({
  queueUrl: process.env.SQS_QUEUE_URL ?? "",
  sqs: localSqsClient(process.env.SQS_ENDPOINT ?? "http://127.0.0.1:4566"),
  batchSize: 10,
  waitTimeSeconds: Number(process.env.WAIT_TIME_SECONDS ?? 1),
  visibilityTimeout: 120,
  handleMessageBatch: handleBatch,
});

const fail = (err: Error) => {
  process.stderr.write(`baseline: ${err.message}\n`);
  process.exit(1);
};
consumer.on("error", fail);
consumer.on("processing_error", fail);
consumer.on("empty", () => consumer.stop());
consumer.on("stopped", () => {
  pool.end().then(() => {
    process.stdout.write(`${JSON.stringify({ inserted, skipped })}\n`);
    process.exit(0);
  }, fail);
});
consumer.start();
