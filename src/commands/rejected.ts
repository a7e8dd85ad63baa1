// `etl rejected`: the rejected messages and why. Payloads are shown as stored: masked.
import { defineCommand, oneOf, wholeNumber } from "../command-spec.js";
import type { Config } from "../config.js";
import { ExitCode } from "../errors.js";
import type { Logger } from "../logger.js";
import { countRejectedByReason, listRejected } from "../sink/rejected-store.js";
import { REJECT_REASONS, type RejectReason } from "../types.js";
import { formatTable, oneLine, printJson, printLines } from "./output.js";
import { withDatabase } from "./resources.js";

export const command = defineCommand({
  settings: ["database", "common"],
  flags: {
    reason: {
      arg: "<reason>",
      help: "only this reason, e.g. invalid_app_version",
      parse: oneOf<RejectReason>(REJECT_REASONS),
    },
    limit: {
      arg: "<n>",
      help: "how many recent messages to show",
      default: "10",
      parse: wholeNumber(1),
    },
    json: { help: "machine-readable output" },
  },
  examples: ["npx etl rejected", "npx etl rejected --reason invalid_ip --limit 50"],
  async handler({ config, logger, flags }) {
    await rejected(config, logger, flags);
    return ExitCode.OK;
  },
});

export interface RejectedOptions {
  reason: string | undefined;
  limit: number;
  json: boolean;
}

const PAYLOAD_WIDTH = 100;

export async function rejected(config: Config, logger: Logger, options: RejectedOptions) {
  await withDatabase(
    config,
    logger,
    1,
    async (pool) => {
      const counts = await countRejectedByReason(pool);
      const entries = await listRejected(pool, options);
      if (options.json) {
        printJson({ counts, messages: entries });
        return;
      }
      if (counts.length === 0) {
        printLines("no rejected messages");
        return;
      }
      printLines(
        formatTable(
          ["reason", "messages", "newest"],
          counts.map((c) => [c.reason, String(c.count), c.newest.toISOString()]),
        ),
        "",
        `${options.reason ? `latest "${options.reason}"` : "latest"} (at most ${options.limit}):`,
      );
      for (const e of entries) {
        const payload =
          e.payload.length > PAYLOAD_WIDTH ? `${e.payload.slice(0, PAYLOAD_WIDTH)}…` : e.payload;
        // Each field on its own line: a newline inside one must not start another.
        printLines(
          "",
          `${oneLine(e.message_id)}  ${oneLine(e.reason)}  received ${e.receive_count}x  ${e.rejected_at.toISOString()}`,
          `  ${oneLine(e.detail)}`,
          `  ${oneLine(payload)}`,
        );
      }
    },
    { schema: "current" },
  );
}
