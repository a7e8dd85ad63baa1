// `etl seed`: send sample events (or the lines of a file) to the configured queue.
import { readFileSync } from "node:fs";
import type { Config } from "../config.js";
import type { Logger } from "../logger.js";
import { generateSample } from "../sample/generate.js";
import { sendBodies } from "../sample/send.js";
import { printLines } from "./output.js";
import { withQueue } from "./resources.js";

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
