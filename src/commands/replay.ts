// `etl replay`: after a fix to the transform (or to the producer's data contract), run the
// quarantined messages through the current transform; those that now pass are loaded once.
import type { Config } from "../config.js";
import type { Logger } from "../logger.js";
import { createBodyCipher } from "../sink/body-cipher.js";
import { type ReplayOutcome, replayQuarantine } from "../sink/quarantine-store.js";
import { createMasker, transformMessage } from "../transform/index.js";
import { printJson, printLines } from "./output.js";
import { withDatabase } from "./resources.js";

export interface ReplayCommandOptions {
  reason: string | undefined;
  dryRun: boolean;
  json: boolean;
}

export async function replay(
  config: Config,
  logger: Logger,
  options: ReplayCommandOptions,
): Promise<ReplayOutcome> {
  const key = config.piiHashKey;
  if (!key) throw new Error("replay needs config.piiHashKey (loadConfig with requireKey)");
  const masker = createMasker(key);
  const outcome = await withDatabase(config, logger, 1, (pool) =>
    replayQuarantine(
      pool,
      options,
      (body, sentTimestamp) => transformMessage({ body, sentTimestamp }, masker),
      createBodyCipher(key),
    ),
  );
  logger.info({ outcome, dryRun: options.dryRun }, "replay finished");
  if (options.json) {
    printJson(outcome);
  } else {
    const still = Object.entries(outcome.stillRejected)
      .map(([reason, n]) => `${reason}=${n}`)
      .join(", ");
    printLines(
      `examined        ${outcome.examined}`,
      `loaded          ${outcome.loaded}${options.dryRun ? " (dry run: rolled back)" : ""}`,
      `still rejected  ${outcome.examined - outcome.loaded - outcome.undecryptable}${still ? ` (${still})` : ""}`,
      ...(outcome.undecryptable > 0
        ? [
            `undecryptable   ${outcome.undecryptable} (quarantined under another PII_HASH_KEY; left as they are)`,
          ]
        : []),
    );
  }
  return outcome;
}
