// `etl init-db`: apply the schema migrations this database lacks, as the role that will own the
// tables. Afterwards `etl run` and the other commands work under a role with only the README's
// grants (they migrate on their own only when they are allowed to).
import { defineCommand } from "../command-spec.js";
import { type Config, redactUrl } from "../config.js";
import { DatabaseError, ExitCode } from "../errors.js";
import type { Logger } from "../logger.js";
import { describeMigration, loginColumnProblems, migrate } from "../sink/schema.js";
import { printLines } from "./output.js";
import { withDatabase } from "./resources.js";

export const command = defineCommand({
  settings: ["database", "common"],
  flags: {},
  help: "Run it as the role that owns the tables; other commands then need only the README's grants.",
  examples: ["npx etl init-db --database-url postgres://postgres:postgres@localhost:5432/postgres"],
  async handler({ config, logger }) {
    await initDb(config, logger);
    return ExitCode.OK;
  },
});

export async function initDb(config: Config, logger: Logger): Promise<void> {
  await withDatabase(
    config,
    logger,
    1,
    async (pool) => {
      const applied = await migrate(pool, logger);
      const problems = await loginColumnProblems(pool);
      if (problems.length > 0) {
        throw new DatabaseError(
          `public.user_logins is not what login-etl writes: ${problems.join("; ")}. ` +
            'Restore it (the DDL is in the README\'s "Tables" section) before running.',
        );
      }
      logger.info(
        { database: redactUrl(config.databaseUrl), applied: applied.map(describeMigration) },
        "schema is current",
      );
      printLines(
        applied.length === 0
          ? "schema is current; no migration to apply"
          : `applied ${applied.map(describeMigration).join(", ")}`,
      );
    },
    { schema: "as-is" },
  );
}
