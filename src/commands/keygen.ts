// `etl keygen`: a new random key, for PII_HASH_KEY or PII_VAULT_KEY (each its own).
import { randomBytes } from "node:crypto";
import { defineCommand } from "../command-spec.js";
import { ExitCode } from "../errors.js";

export const command = defineCommand({
  settings: [],
  flags: {},
  help: `Keep the key secret and stable: a new hash key gives every ip/device_id a new masked value.
Run it once per key: PII_VAULT_KEY must be another key, kept away from the database (README).`,
  examples: [
    'echo "PII_HASH_KEY=$(npx etl keygen)" >> .env',
    "npx etl keygen > vault.key   # PII_VAULT_KEY: store it in the secret manager, not in .env",
  ],
  async handler() {
    process.stdout.write(`${randomBytes(32).toString("hex")}\n`);
    return ExitCode.OK;
  },
});
