#!/usr/bin/env node
// The command line: parse flags, load configuration, hand over to a command module. Nothing
// else happens here; command modules are imported lazily so `etl --version` starts fast.
import { readFileSync } from "node:fs";
import nodeModule from "node:module";
import { Command } from "commander";
import type { Config, LoadOptions } from "./config.js";
import { ExitCode } from "./errors.js";
import type { Logger } from "./logger.js";

// Node 22.1+: keep compiled code of the modules loaded below (the AWS SDK, pg) in a disk cache,
// so a cron run does not parse them again every time. Absent on Node 20, where this does nothing.
(nodeModule as { enableCompileCache?: () => unknown }).enableCompileCache?.();

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

const SETTINGS_HELP = `
Settings also come from the environment variables in [brackets] and from ./.env
(flag > environment > .env > default). Exit codes: 0 ok, 1 runtime failure, 2 usage/config.`;

/** What commander parsed: camelCase names of the flags (`--batch-size` → batchSize). */
type Flags = Record<string, unknown>;

interface Wiring {
  /** Which settings groups the command takes. */
  queue?: boolean;
  database?: boolean;
  requireKey?: boolean;
}

/** Add the connection flags a command needs; every setting also has an environment variable. */
function withSettings(cmd: Command, wiring: Wiring): Command {
  if (wiring.queue) {
    cmd
      .option("--endpoint <url>", "SQS endpoint, e.g. http://localhost:4566 [SQS_ENDPOINT]")
      .option("--queue <name>", "queue name, resolved with GetQueueUrl [SQS_QUEUE_NAME]")
      .option("--queue-url <url>", "queue URL, skips GetQueueUrl [SQS_QUEUE_URL]")
      .option("--region <region>", "AWS region [AWS_REGION]");
  }
  if (wiring.database) {
    cmd.option("--database-url <url>", "Postgres connection URL [DATABASE_URL]");
  }
  return cmd
    .option("--log-level <level>", "fatal|error|warn|info|debug|trace|silent [LOG_LEVEL]")
    .option(
      "--startup-wait <seconds>",
      "wait this long for Postgres/SQS to come up [ETL_STARTUP_WAIT]",
    );
}

/**
 * The shared shape of every command: load configuration (exit 2 on a bad setting), make the
 * logger, run the body, log a failure in one line, exit with the body's code.
 */
function act(
  wiring: Wiring,
  body: (config: Config, logger: Logger, flags: Flags) => Promise<number | undefined>,
) {
  return async (flags: Flags) => {
    const config = await configure(flags, { requireKey: wiring.requireKey === true });
    const { createLogger } = await import("./logger.js");
    const logger = createLogger({ level: config.logLevel });
    await finish(logger, async () => (await body(config, logger, flags)) ?? ExitCode.OK);
  };
}

withSettings(
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
  { queue: true, database: true },
)
  .addHelpText(
    "after",
    `
PII_HASH_KEY must be set in the environment or .env (never a flag: flags show in \`ps\`).
${SETTINGS_HELP}
Exit codes: 0 drained or stopped at a limit, everything committed and deleted;
            1 runtime failure (database/SQS unreachable, commit failed, deletes failed);
            2 usage or configuration error (nothing was received).
Examples:
  $ npx etl run
  $ npx etl run --endpoint http://localhost:4566 --max-runtime 300
  $ LOG_LEVEL=debug npx etl run --dry-run --max-messages 50`,
  )
  .action(
    act({ requireKey: true }, async (config, logger) => {
      const stop = new AbortController();
      onSignals(() => stop.abort(), logger);
      const { runEtl } = await import("./commands/run.js");
      const { formatSummary } = await import("./summary.js");
      const progress = process.stderr.isTTY ? "bar" : "log";
      const { exitCode, summary } = await runEtl(config, logger, {
        progress,
        stopSignal: stop.signal,
      });
      if (summary && process.stdout.isTTY) process.stdout.write(`\n${formatSummary(summary)}\n`);
      return exitCode;
    }),
  );

withSettings(
  program
    .command("init-db")
    .description("create user_logins and the etl schema if missing (idempotent)"),
  { database: true },
)
  .addHelpText(
    "after",
    `${SETTINGS_HELP}\nExample:\n  $ npx etl init-db --database-url postgres://postgres:postgres@localhost:5432/postgres`,
  )
  .action(
    act({}, async (config, logger) => {
      const { initDb } = await import("./commands/init-db.js");
      await initDb(config, logger);
      return ExitCode.OK;
    }),
  );

withSettings(
  program
    .command("init-queue")
    .description("create the queue and a dead-letter queue with a redrive policy (idempotent)")
    .option("--dlq <name>", "dead-letter queue name (default: <queue>-dlq)")
    .option("--max-receive-count <n>", "receives before a message moves to the DLQ", "5")
    .option("--json", "machine-readable output"),
  { queue: true },
)
  .addHelpText(
    "after",
    `
For an SQS endpoint where no init script ran (AWS, moto, fauxqs). Creates what is missing and
changes nothing else: an existing redrive policy that differs is reported, not replaced.
${SETTINGS_HELP}
Examples:
  $ npx etl init-queue --endpoint http://localhost:4566
  $ npx etl init-queue --queue login-queue --max-receive-count 10`,
  )
  .action(
    act({}, async (config, logger, flags) => {
      const { initQueue } = await import("./commands/init-queue.js");
      await initQueue(config, logger, {
        deadLetterQueueName: flags.dlq as string | undefined,
        maxReceiveCount: positiveInt(flags.maxReceiveCount, "--max-receive-count", 1, 1000),
        json: flags.json === true,
      });
      return ExitCode.OK;
    }),
  );

withSettings(
  program
    .command("seed")
    .description("send sample login events (or a file's lines) to the queue")
    .option("--count <n>", "how many sample events", "1000")
    .option("--file <path>", "send each non-blank line of this file as one message instead")
    .option("--seed <n>", "random seed for the sample (same seed, same events)", "42"),
  { queue: true },
)
  .addHelpText(
    "after",
    `${SETTINGS_HELP}\nExamples:\n  $ npx etl seed --count 20000\n  $ npx etl seed --file docker/localstack/sample-messages.jsonl`,
  )
  .action(
    act({}, async (config, logger, flags) => {
      const count = positiveInt(flags.count, "--count");
      const seedValue = positiveInt(flags.seed, "--seed", 0);
      const { seed } = await import("./commands/seed.js");
      await seed(config, logger, {
        count,
        file: flags.file as string | undefined,
        seed: seedValue,
      });
      return ExitCode.OK;
    }),
  );

withSettings(
  program
    .command("status")
    .description("queue depth (waiting, in flight, dead-letter), rows loaded, quarantine, last run")
    .option("--json", "machine-readable output"),
  { queue: true, database: true },
)
  .addHelpText(
    "after",
    `${SETTINGS_HELP}\nExamples:\n  $ npx etl status\n  $ npx etl status --json | jq .queue`,
  )
  .action(
    act({}, async (config, logger, flags) => {
      const { status } = await import("./commands/status.js");
      return status(config, logger, { json: flags.json === true });
    }),
  );

withSettings(
  program
    .command("rejected")
    .description("quarantined messages by reason, with masked payloads")
    .option("--reason <reason>", "only this reason, e.g. invalid_app_version")
    .option("--limit <n>", "how many recent messages to show", "10")
    .option("--json", "machine-readable output"),
  { database: true },
)
  .addHelpText(
    "after",
    `${SETTINGS_HELP}\nExamples:\n  $ npx etl rejected\n  $ npx etl rejected --reason invalid_ip --limit 50`,
  )
  .action(
    act({}, async (config, logger, flags) => {
      const { rejected } = await import("./commands/rejected.js");
      await rejected(config, logger, {
        reason: flags.reason as string | undefined,
        limit: positiveInt(flags.limit, "--limit"),
        json: flags.json === true,
      });
      return ExitCode.OK;
    }),
  );

withSettings(
  program
    .command("replay")
    .description("re-run quarantined messages through the current transform; load those that pass")
    .option("--reason <reason>", "only messages quarantined for this reason")
    .option("--dry-run", "report what would be loaded, then roll back")
    .option("--json", "machine-readable output"),
  { database: true },
)
  .addHelpText(
    "after",
    `
Needs the same PII_HASH_KEY as the run that quarantined the messages.
${SETTINGS_HELP}
Examples:
  $ npx etl replay --reason invalid_app_version --dry-run
  $ npx etl replay --reason invalid_app_version`,
  )
  .action(
    act({ requireKey: true }, async (config, logger, flags) => {
      const { replay } = await import("./commands/replay.js");
      await replay(config, logger, {
        reason: flags.reason as string | undefined,
        dryRun: flags.dryRun === true,
        json: flags.json === true,
      });
      return ExitCode.OK;
    }),
  );

withSettings(
  program
    .command("prune")
    .description("delete ledger rows older than the queue's message retention")
    .requiredOption("--older-than <age>", "e.g. 30d or 400h; refused if shorter than the retention")
    .option("--dry-run", "count, do not delete"),
  { queue: true, database: true },
)
  .addHelpText(
    "after",
    `
A ledger row only matters while its message could still be delivered; SQS drops every message
after the queue's retention (14 days at most). Ages of 14d or more are safe for any queue;
shorter ages are checked against the queue's MessageRetentionPeriod.
${SETTINGS_HELP}
Example:
  $ npx etl prune --older-than 30d`,
  )
  .action(
    act({}, async (config, logger, flags) => {
      const { prune } = await import("./commands/prune.js");
      await prune(config, logger, {
        olderThan: String(flags.olderThan),
        dryRun: flags.dryRun === true,
      });
      return ExitCode.OK;
    }),
  );

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
    const count = positiveInt(flags.count, "--count");
    const { createLogger } = await import("./logger.js");
    const logger = createLogger({ level: flags.logLevel });
    const { runDemo } = await import("./commands/demo.js");
    await finish(logger, () => runDemo({ count, logger }));
  });

/** A command's own numeric flag; a bad value is a usage error (exit 2). */
function positiveInt(value: unknown, flag: string, min = 1, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `of at least ${min}` : `from ${min} to ${max}`;
    process.stderr.write(`etl: ${flag} must be a whole number ${range} (got "${String(value)}")\n`);
    process.exit(ExitCode.USAGE);
  }
  return n;
}

async function configure(flags: Flags, options: LoadOptions): Promise<Config> {
  const { config: loadDotenv } = await import("dotenv");
  loadDotenv({ quiet: true }); // never overrides variables already in the environment
  const { loadConfig, settingsFromFlags } = await import("./config.js");
  const { ConfigError } = await import("./errors.js");
  try {
    return loadConfig(settingsFromFlags(flags), process.env, options);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`etl: ${err.message}\n`);
      process.exit(ExitCode.USAGE);
    }
    throw err;
  }
}

/** Run a command body, log any failure in one clear line, and exit with its code. */
async function finish(logger: Logger, body: () => Promise<number>): Promise<never> {
  const { describeError, exitCodeOf } = await import("./errors.js");
  try {
    process.exit(await body());
  } catch (err) {
    logger.error(describeError(err));
    process.exit(exitCodeOf(err));
  }
}

/** First SIGINT/SIGTERM: stop receiving and finish what is held. Second: leave at once. */
function onSignals(stop: () => void, logger: Logger): void {
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
