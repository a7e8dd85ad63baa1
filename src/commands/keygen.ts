// `etl keygen`: a new random PII_HASH_KEY.
import { randomBytes } from "node:crypto";
import { defineCommand } from "../command-spec.js";
import { ExitCode } from "../errors.js";

export const command = defineCommand({
  settings: [],
  flags: {},
  help: "Keep the key secret and stable: a new key gives every ip/device_id a new masked value.",
  examples: ['echo "PII_HASH_KEY=$(npx etl keygen)" >> .env'],
  async handler() {
    process.stdout.write(`${randomBytes(32).toString("hex")}\n`);
    return ExitCode.OK;
  },
});
