// `etl rotate-key`: record, on purpose and with a date, that the masks change from now on.
import { defineCommand } from "../command-spec.js";
import type { Config } from "../config.js";
import { ConfigError, ExitCode } from "../errors.js";
import type { Logger } from "../logger.js";
import { keyFingerprint } from "../pii-key.js";
import { rotateKeyEpoch } from "../sink/key-epochs.js";
import { printLines } from "./output.js";
import { withDatabase } from "./resources.js";

export const command = defineCommand({
  settings: ["database", "common"],
  requireKey: true,
  flags: {
    reason: {
      arg: "<text>",
      help: "why the key changes (kept in etl.key_epochs for analysts)",
      required: true,
    },
  },
  help: `Put the NEW key in PII_HASH_KEY, then run this once. From then on runs accept only the new key.
Masks made before and after the rotation do not compare (the same device gets another mask);
etl.key_epochs records the date so analysts can tell. Rotate only when the key may have leaked.`,
  examples: ['PII_HASH_KEY=$(cat new.key) npx etl rotate-key --reason "key exposed in a CI log"'],
  async handler({ config, logger, flags }) {
    await rotateKey(config, logger, flags.reason);
    return ExitCode.OK;
  },
});

export async function rotateKey(config: Config, logger: Logger, reason: string): Promise<void> {
  const key = config.piiHashKey;
  if (!key) throw new Error("rotate-key needs config.piiHashKey (loadConfig with requireKey)");
  if (reason.trim() === "") throw new ConfigError("--reason must say why the key changes.");
  const fingerprint = keyFingerprint(key);
  const rotated = await withDatabase(config, logger, 1, (pool) =>
    rotateKeyEpoch(pool, fingerprint, reason.trim()),
  );
  if (!rotated) {
    printLines(`key ${fingerprint} is already the current one; nothing to record`);
    return;
  }
  const { previous, started } = rotated;
  const day = started.startedAt.toISOString().slice(0, 10);
  logger.info(
    { epoch: started.epoch, fingerprint, previous: previous?.fingerprint },
    "started a new key epoch",
  );
  printLines(
    `key epoch ${started.epoch}: fingerprint ${fingerprint} from ${started.startedAt.toISOString()}`,
    previous
      ? `masks made before ${day} (key ${previous.fingerprint}) do not compare with masks made from now on`
      : "the first key recorded for this database",
  );
}
