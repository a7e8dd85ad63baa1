// `etl rejected`: what is in quarantine and why. Payloads are shown as stored: masked.
import type { Config } from "../config.js";
import type { Logger } from "../logger.js";
import { countRejectedByReason, listRejected } from "../sink/quarantine-store.js";
import { formatTable, printJson, printLines } from "./output.js";
import { withDatabase } from "./resources.js";

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
        printLines("quarantine is empty");
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
        printLines(
          "",
          `${e.message_id}  ${e.reason}  received ${e.receive_count}x  ${e.rejected_at.toISOString()}`,
          `  ${e.detail}`,
          `  ${payload}`,
        );
      }
    },
    { migrate: false },
  );
}
