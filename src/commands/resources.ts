// Opening and always closing what a command needs: a database pool (after waiting for the
// server and applying missing schema migrations) and an SQS client with the queue URL resolved.
import type { SQSClient } from "@aws-sdk/client-sqs";
import type { Pool } from "pg";
import type { Config } from "../config.js";
import type { Logger } from "../logger.js";
import { createPool, waitForDatabase } from "../sink/database.js";
import { ensureSchemaCurrent } from "../sink/schema.js";
import { createSqsClient, resolveQueueUrl } from "../source/sqs-client.js";

export async function withDatabase<T>(
  config: Config,
  logger: Logger,
  poolSize: number,
  body: (pool: Pool) => Promise<T>,
  options: { migrate: boolean } = { migrate: true },
): Promise<T> {
  const pool = createPool(config.databaseUrl, poolSize, logger);
  try {
    await openDatabase(pool, config, logger, options.migrate);
    return await body(pool);
  } finally {
    await pool.end().catch(() => {});
  }
}

async function openDatabase(
  pool: Pool,
  config: Config,
  logger: Logger,
  migrate: boolean,
): Promise<void> {
  await waitForDatabase(pool, config.databaseUrl, config.startupWaitSeconds, logger);
  // Read-only commands (status, rejected) never migrate; the others do only when a migration is
  // missing, so against a current schema no command executes DDL or takes a table lock.
  if (migrate) await ensureSchemaCurrent(pool, logger);
}

/**
 * Both, for `etl run`: waiting for Postgres (and migrating) and resolving the queue URL
 * happen at the same time, so their start-up waits overlap. The body runs only when both are
 * ready; if the database is not, its error is the one reported (and nothing is received).
 */
export async function withDatabaseAndQueue<T>(
  config: Config,
  logger: Logger,
  poolSize: number,
  body: (pool: Pool, sqs: SQSClient, queueUrl: string) => Promise<T>,
): Promise<T> {
  const pool = createPool(config.databaseUrl, poolSize, logger);
  const sqs = createSqsClient(config);
  try {
    const [database, queue] = await Promise.allSettled([
      openDatabase(pool, config, logger, true),
      resolveQueueUrl(sqs, config, logger),
    ]);
    if (database.status === "rejected") throw database.reason;
    if (queue.status === "rejected") throw queue.reason;
    return await body(pool, sqs, queue.value);
  } finally {
    sqs.destroy();
    await pool.end().catch(() => {});
  }
}

export async function withQueue<T>(
  config: Config,
  logger: Logger,
  body: (sqs: SQSClient, queueUrl: string) => Promise<T>,
): Promise<T> {
  const sqs = createSqsClient(config);
  try {
    const queueUrl = await resolveQueueUrl(sqs, config, logger);
    return await body(sqs, queueUrl);
  } finally {
    sqs.destroy();
  }
}
