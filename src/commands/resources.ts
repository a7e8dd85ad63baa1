// Opening and always closing what a command needs: a database pool (after waiting for the
// server and, where the command needs it, applying missing schema migrations) and an SQS client
// with the queue URL resolved.
import type { SQSClient } from "@aws-sdk/client-sqs";
import type { Pool } from "pg";
import type { Config } from "../config.js";
import { ExitCode, exitCodeOf } from "../errors.js";
import type { Logger } from "../logger.js";
import { createPool, waitForDatabase } from "../sink/database.js";
import { ensureSchemaCurrent, requireSchemaCurrent } from "../sink/schema.js";
import { deadLetterQueueUrl } from "../source/queue-info.js";
import { createSqsClient, resolveQueueUrl } from "../source/sqs-client.js";
import { within } from "../time-limit.js";

/**
 * What a command needs of the schema before its body runs:
 * - "migrate": apply missing migrations (run, replay, prune): only then, so against a current
 *   schema no command executes DDL or takes a table lock;
 * - "current": refuse (exit 2, naming init-db) unless it is current, without changing anything
 *   (dry runs, read-only commands);
 * - "as-is": nothing (init-db migrates itself; status reports what it finds).
 */
export type SchemaNeed = "migrate" | "current" | "as-is";

export async function withDatabase<T>(
  config: Config,
  logger: Logger,
  poolSize: number,
  body: (pool: Pool) => Promise<T>,
  options: { schema: SchemaNeed } = { schema: "migrate" },
): Promise<T> {
  const pool = createPool(config, poolSize, logger);
  try {
    await waitForDatabase(pool, config.databaseUrl, config.startupWaitSeconds, logger);
    await prepareSchema(pool, logger, options.schema);
    return await body(pool);
  } finally {
    await closePool(pool);
  }
}

async function prepareSchema(pool: Pool, logger: Logger, need: SchemaNeed): Promise<void> {
  if (need === "migrate") await ensureSchemaCurrent(pool, logger);
  if (need === "current") await requireSchemaCurrent(pool);
}

/**
 * Both, for `etl run`: waiting for Postgres and resolving the queue URL happen at the same time,
 * so their start-up waits overlap; migrating waits for both, so a wrong queue name changes
 * nothing in the database. The body runs only when both are ready; if the database is not, its
 * error is the one reported (and nothing is received).
 */
export async function withDatabaseAndQueue<T>(
  config: Config,
  logger: Logger,
  poolSize: number,
  body: (pool: Pool, sqs: SQSClient, queueUrl: string) => Promise<T>,
  options: { schema: SchemaNeed; deadLetter?: boolean } = { schema: "migrate" },
): Promise<T> {
  const pool = createPool(config, poolSize, logger);
  const sqs = createSqsClient(config);
  try {
    const starts = [
      waitForDatabase(pool, config.databaseUrl, config.startupWaitSeconds, logger),
      resolveQueueUrl(sqs, config, logger).then((url) =>
        options.deadLetter ? deadLetterQueueUrl(sqs, url) : url,
      ),
    ] as const;
    // A configuration error on either side ends the start at once: waiting out the other
    // side's start-up wait (SQS not up yet) first would only delay an exit 2 nothing can fix.
    const [database, queue] = await Promise.race([
      Promise.allSettled(starts),
      ...starts.map(rejectOnUsageError),
    ]);
    if (database.status === "rejected") throw database.reason;
    if (queue.status === "rejected") throw queue.reason;
    await prepareSchema(pool, logger, options.schema);
    return await body(pool, sqs, queue.value);
  } finally {
    sqs.destroy();
    await closePool(pool);
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

/**
 * End the pool, but never wait long: pool.end() waits for every checked-out connection, and one
 * stuck on a silent server (the run gave up on it) would keep the process alive forever.
 */
async function closePool(pool: Pool): Promise<void> {
  await within(
    pool.end().catch(() => {}),
    POOL_CLOSE_MS,
  );
}

const POOL_CLOSE_MS = 2_000;

/** Rejects with the error if `start` fails with a usage error (exit 2); otherwise never settles. */
function rejectOnUsageError(start: Promise<unknown>): Promise<never> {
  return new Promise((_, reject) => {
    start.catch((err: unknown) => {
      if (exitCodeOf(err) === ExitCode.USAGE) reject(err);
    });
  });
}
