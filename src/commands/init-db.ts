// `etl init-db`: create the tables on their own (run does this too), e.g. before granting a
// restricted role to the cron job.
import { type Config, redactUrl } from "../config.js";
import type { Logger } from "../logger.js";
import { withDatabase } from "./resources.js";

export async function initDb(config: Config, logger: Logger): Promise<void> {
  await withDatabase(config, logger, 1, async () => {
    logger.info({ database: redactUrl(config.databaseUrl) }, "schema is in place");
  });
}
