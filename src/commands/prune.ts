// `etl prune --older-than D`: drop ledger rows that can no longer matter.
//
// Why it is safe: a ledger row exists to recognise a redelivery of its message. SQS deletes
// every message at most MessageRetentionPeriod after it was sent (14 days at the very most), and
// a message's ledger row is written after it was sent. So once a ledger row is older than the
// queue's retention, its message is gone from SQS for good and can never be delivered again.
// Younger rows are refused: pruning them could let a late redelivery become a second row.
import { defineCommand } from "../command-spec.js";
import type { Config } from "../config.js";
import { ConfigError, ExitCode } from "../errors.js";
import type { Logger } from "../logger.js";
import { countLedgerOlderThan, pruneLedger } from "../sink/ledger.js";
import { getQueueInfo } from "../source/queue-info.js";
import { printLines } from "./output.js";
import { withDatabase, withQueue } from "./resources.js";

export const command = defineCommand({
  settings: ["queue", "database", "common"],
  flags: {
    olderThan: {
      arg: "<age>",
      help: "e.g. 30d or 400h; refused if shorter than the retention",
      required: true,
    },
    dryRun: { help: "count, do not delete" },
  },
  help: `A ledger row only matters while its message could still be delivered; SQS drops every message
after the queue's retention (14 days at most). Ages of 14d or more are safe for any queue;
shorter ages are checked against the queue's MessageRetentionPeriod.`,
  examples: ["npx etl prune --older-than 30d"],
  async handler({ config, logger, flags }) {
    await prune(config, logger, flags);
    return ExitCode.OK;
  },
});

/** SQS's maximum retention: a row older than this is safe for any queue. */
const SQS_MAX_RETENTION_SECONDS = 14 * 86_400;

export function parseAge(text: string): number {
  const m = /^(\d+)\s*(d|h)$/.exec(text.trim());
  if (!m) {
    throw new ConfigError(`--older-than must look like 14d or 36h (got "${text.slice(0, 40)}")`);
  }
  return Number(m[1]) * (m[2] === "d" ? 86_400 : 3_600);
}

export async function prune(
  config: Config,
  logger: Logger,
  options: { olderThan: string; dryRun: boolean },
): Promise<number> {
  const ageSeconds = parseAge(options.olderThan);
  if (ageSeconds < SQS_MAX_RETENTION_SECONDS) {
    // Below the maximum, it depends on this queue's retention: ask SQS.
    const { retentionSeconds } = await withQueue(config, logger, (sqs, url) =>
      getQueueInfo(sqs, url),
    );
    if (ageSeconds < retentionSeconds) {
      throw new ConfigError(
        `Refusing to prune: the queue keeps messages for ${formatAge(retentionSeconds)}, so ledger ` +
          `rows younger than that may still be needed to skip a redelivery. Use --older-than ` +
          `${Math.ceil(retentionSeconds / 86_400)}d or more.`,
      );
    }
  }
  const schema = options.dryRun ? "current" : "migrate";
  return withDatabase(
    config,
    logger,
    1,
    async (pool) => {
      if (options.dryRun) {
        const n = await countLedgerOlderThan(pool, ageSeconds);
        printLines(`would delete ${n} ledger row(s) older than ${formatAge(ageSeconds)} (dry run)`);
        return n;
      }
      const total = await pruneLedger(pool, ageSeconds);
      logger.info({ deleted: total, olderThanSeconds: ageSeconds }, "pruned the ledger");
      printLines(`deleted ${total} ledger row(s) older than ${formatAge(ageSeconds)}`);
      return total;
    },
    { schema },
  );
}

function formatAge(seconds: number): string {
  return seconds % 86_400 === 0
    ? `${seconds / 86_400} days`
    : `${(seconds / 3_600).toFixed(0)} hours`;
}
