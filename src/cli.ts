#!/usr/bin/env node
// The command line: parse flags, load configuration, hand over to a command module. Nothing
// else happens here; command modules are imported lazily so `etl --version` starts fast.
import { readFileSync } from "node:fs";
import { Command } from "commander";
import type { CliFlags, Config, LoadOptions } from "./config.js";
import { ExitCode } from "./errors.js";

const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
  version: string;
};

const program = new Command()
  .name("etl")
  .description("Drain an SQS queue of user-login events into PostgreSQL, masking PII.")
  .version(pkg.version)
  .showHelpAfterError("(run with --help for usage)")
  .exitOverride((err) => {
    // Usage errors exit 2, as documented; --help and --version exit 0.
    process.exit(err.exitCode === 0 ? 0 : ExitCode.USAGE);
  });

function connectionOptions(cmd: Command): Command {
  return cmd
    .option("--endpoint <url>", "SQS endpoint (LocalStack: http://localhost:4566) [SQS_ENDPOINT]")
    .option("--queue <name>", "queue name, resolved with GetQueueUrl [SQS_QUEUE_NAME]")
    .option("--queue-url <url>", "queue URL, skips GetQueueUrl [SQS_QUEUE_URL]")
    .option("--region <region>", "AWS region [AWS_REGION]")
    .option("--database-url <url>", "Postgres connection URL [DATABASE_URL]")
    .option("--log-level <level>", "fatal|error|warn|info|debug|trace|silent [LOG_LEVEL]")
    .option(
      "--startup-wait <seconds>",
      "wait this long for Postgres/SQS to come up [ETL_STARTUP_WAIT]",
    );
}

connectionOptions(
  program
    .command("run")
    .description("drain the queue into user_logins (what cron runs)")
    .option("--concurrency <n>", "concurrent long-pollers [ETL_CONCURRENCY]")
    .option("--batch-size <n>", "messages per database transaction [ETL_BATCH_SIZE]")
    .option("--wait-time-seconds <s>", "long-poll wait, 1-20 [ETL_WAIT_TIME_SECONDS]")
    .option(
      "--visibility-timeout <s>",
      "seconds a received message stays hidden [ETL_VISIBILITY_TIMEOUT]",
    )
    .option("--max-messages <n>", "stop receiving after this many messages [ETL_MAX_MESSAGES]")
    .option("--max-runtime <s>", "stop receiving after this many seconds [ETL_MAX_RUNTIME]")
    .option("--dry-run", "receive and transform, but write and delete nothing"),
)
  .addHelpText(
    "after",
    `
PII_HASH_KEY must be set in the environment or .env (never a flag). Settings also come from
the environment variables in [brackets] and from ./.env.

Exit codes: 0 drained or stopped at a limit, everything committed and deleted;
            1 runtime failure (database/SQS unreachable, commit failed, deletes failed);
            2 usage or configuration error (nothing was received).
Examples:
  $ npx etl run
  $ npx etl run --endpoint http://localhost:4566 --max-runtime 300
  $ LOG_LEVEL=debug npx etl run --dry-run --max-messages 50`,
  )
  .action(async (flags: CliFlags & { maxRuntime?: string; startupWait?: string }) => {
    const config = await configure(toSettings(flags), { requireKey: true });
    const { createLogger } = await import("./logger.js");
    const logger = createLogger({ level: config.logLevel });
    const stop = new AbortController();
    onSignals(() => stop.abort(), logger);
    const { runEtl } = await import("./commands/run.js");
    const { formatSummary } = await import("./summary.js");
    await finish(logger, async () => {
      const { exitCode, summary } = await runEtl(config, logger, stop.signal);
      if (summary && process.stdout.isTTY) process.stdout.write(`\n${formatSummary(summary)}\n`);
      return exitCode;
    });
  });

connectionOptions(
  program
    .command("init-db")
    .description("create user_logins and the etl schema if missing (idempotent)"),
)
  .addHelpText(
    "after",
    "\nExample:\n  $ npx etl init-db --database-url postgres://postgres:postgres@localhost:5432/postgres",
  )
  .action(async (flags: CliFlags & { startupWait?: string }) => {
    const config = await configure(toSettings(flags), { requireKey: false });
    const { createLogger } = await import("./logger.js");
    const logger = createLogger({ level: config.logLevel });
    const { initDb } = await import("./commands/init-db.js");
    await finish(logger, async () => {
      await initDb(config, logger);
      return ExitCode.OK;
    });
  });

program
  .command("keygen")
  .description("print a new random PII_HASH_KEY (32 random bytes, hex)")
  .addHelpText(
    "after",
    '\nExample:\n  $ echo "PII_HASH_KEY=$(npx etl keygen)" >> .env\n\n' +
      "Keep the key secret and stable: a new key gives every ip/device_id a new masked value.",
  )
  .action(async () => {
    const { randomBytes } = await import("node:crypto");
    process.stdout.write(`${randomBytes(32).toString("hex")}\n`);
  });

program
  .command("demo")
  .description("the whole pipeline on embedded Postgres and an in-process SQS emulator")
  .option("--count <n>", "messages to send", "1000")
  .option("--log-level <level>", "log level", "warn")
  .addHelpText(
    "after",
    "\nNeeds the dev dependencies (plain `npm install`). Example:\n  $ npx etl demo --count 5000",
  )
  .action(async (flags: { count: string; logLevel: string }) => {
    const { createLogger } = await import("./logger.js");
    const logger = createLogger({ level: flags.logLevel });
    const { runDemo } = await import("./commands/demo.js");
    await finish(logger, () => runDemo({ count: Number(flags.count), logger }));
  });

/** Commander's camelCase flag names → the config's setting names. */
function toSettings(flags: CliFlags & { maxRuntime?: string; startupWait?: string }): CliFlags {
  const { maxRuntime, startupWait, ...rest } = flags;
  return { ...rest, maxRuntimeSeconds: maxRuntime, startupWaitSeconds: startupWait };
}

async function configure(flags: CliFlags, options: LoadOptions): Promise<Config> {
  const { config: loadDotenv } = await import("dotenv");
  loadDotenv({ quiet: true }); // never overrides variables already in the environment
  const { loadConfig } = await import("./config.js");
  const { ConfigError } = await import("./errors.js");
  try {
    return loadConfig(flags, process.env, options);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`etl: ${err.message}\n`);
      process.exit(ExitCode.USAGE);
    }
    throw err;
  }
}

/** Run a command body, log any failure in one clear line, and exit with its code. */
async function finish(
  logger: import("./logger.js").Logger,
  body: () => Promise<number>,
): Promise<never> {
  const { describeError, exitCodeOf } = await import("./errors.js");
  try {
    const code = await body();
    process.exit(code);
  } catch (err) {
    logger.error(`${describeError(err)}`);
    process.exit(exitCodeOf(err));
  }
}

/** First SIGINT/SIGTERM: stop receiving and finish what is held. Second: leave at once. */
function onSignals(stop: () => void, logger: import("./logger.js").Logger): void {
  let count = 0;
  const handler = (signal: NodeJS.Signals) => {
    count++;
    if (count === 1) {
      logger.warn({ signal }, "stopping: finishing the messages already received (again to abort)");
      stop();
    } else {
      logger.error(
        { signal },
        "aborting; held messages will reappear after their visibility timeout",
      );
      process.exit(130);
    }
  };
  process.on("SIGINT", handler);
  process.on("SIGTERM", handler);
}

await program.parseAsync(process.argv);
