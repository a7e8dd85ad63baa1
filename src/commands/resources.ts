// Opening and always closing what a command needs: a database pool (after waiting for the
// server and creating missing tables) and an SQS client with the queue URL resolved.
import type { SQSClient } from "@aws-sdk/client-sqs";
import type { Pool } from "pg";
import type { Config } from "../config.js";
import type { Logger } from "../logger.js";
import { createPool, waitForDatabase } from "../sink/database.js";
import { ensureSchema } from "../sink/schema.js";
import { createSqsClient, resolveQueueUrl } from "../source/sqs-client.js";

export async function withDatabase<T>(
  config: Config,
  logger: Logger,
  poolSize: number,
  body: (pool: Pool) => Promise<T>,
  options: { createSchema: boolean } = { createSchema: true },
): Promise<T> {
  const pool = createPool(config.databaseUrl, poolSize, logger);
  try {
    await waitForDatabase(pool, config.databaseUrl, config.startupWaitSeconds, logger);
    // Read-only commands skip this, so they work with a role that cannot create tables.
    if (options.createSchema) await ensureSchema(pool);
    return await body(pool);
  } finally {
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
