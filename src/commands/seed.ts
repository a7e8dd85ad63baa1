// `etl seed`: send sample events (or the lines of a file) to the configured queue.
import { readFileSync } from "node:fs";
import { defineCommand, wholeNumber } from "../command-spec.js";
import type { Config } from "../config.js";
import { ExitCode } from "../errors.js";
import type { Logger } from "../logger.js";
import { generateSample } from "../sample/generate.js";
import { sendBodies } from "../sample/send.js";
import { printLines } from "./output.js";
import { withQueue } from "./resources.js";

export const command = defineCommand({
  settings: ["queue", "common"],
  flags: {
    count: { arg: "<n>", help: "how many sample events", default: "1000", parse: wholeNumber(1) },
    file: { arg: "<path>", help: "send each non-blank line of this file as one message instead" },
    seed: {
      arg: "<n>",
      help: "random seed for the sample (same seed, same events)",
      default: "42",
      parse: wholeNumber(0),
    },
  },
  examples: [
    "npx etl seed --count 20000",
    "npx etl seed --file docker/localstack/sample-messages.jsonl",
  ],
  async handler({ config, logger, flags }) {
    await seed(config, logger, flags);
    return ExitCode.OK;
  },
});

export interface SeedOptions {
  count: number;
  /** One message body per line (JSON Lines); blank lines are skipped. */
  file: string | undefined;
  seed: number;
}

export function readBodies(file: string): string[] {
  return readFileSync(file, "utf8")
    .split(/\r?\n/)
    .filter((line) => line.trim() !== "");
}

export async function seed(config: Config, logger: Logger, options: SeedOptions): Promise<void> {
  const bodies = options.file
    ? readBodies(options.file)
    : generateSample({ count: options.count, seed: options.seed });
  await withQueue(config, logger, async (sqs, queueUrl) => {
    const sent = await sendBodies(sqs, queueUrl, bodies);
    printLines(`sent ${sent} message(s) to ${queueUrl}`);
  });
}
