// `etl init-db`: create the tables on their own (run does this too), e.g. before granting a
// restricted role to the cron job.
import { type Config, redactUrl } from "../config.js";
import type { Logger } from "../logger.js";
import { createPool, waitForDatabase } from "../sink/database.js";
import { ensureSchema } from "../sink/schema.js";

export async function initDb(config: Config, logger: Logger): Promise<void> {
  const pool = createPool(config.databaseUrl, 1, logger);
  try {
    await waitForDatabase(pool, config.databaseUrl, config.startupWaitSeconds, logger);
    await ensureSchema(pool);
    logger.info({ database: redactUrl(config.databaseUrl) }, "schema is in place");
  } finally {
    await pool.end().catch(() => {});
  }
}
