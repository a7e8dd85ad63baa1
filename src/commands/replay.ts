// `etl replay`: after a fix to the transform (or to the producer's data contract), run the
// rejected messages through the current transform; those that now pass are loaded once.
import { defineCommand, oneOf } from "../command-spec.js";
import type { Config } from "../config.js";
import { ExitCode } from "../errors.js";
import type { Logger } from "../logger.js";
import { keyFingerprint } from "../pii-key.js";
import { createBodyCipher } from "../sink/body-cipher.js";
import { checkKeyEpoch } from "../sink/key-epochs.js";
import { type ReplayOutcome, replayRejected } from "../sink/rejected-store.js";
import { createVaultCipher } from "../sink/vault-cipher.js";
import { sealInPlace } from "../sink/vault-sealer.js";
import { createMasker, transformMessage } from "../transform/index.js";
import { REJECT_REASONS, type RejectReason } from "../types.js";
import { printJson, printLines } from "./output.js";
import { withDatabase } from "./resources.js";

export const command = defineCommand({
  settings: ["database", "common"],
  requireKey: true,
  vaultKey: "optional",
  flags: {
    reason: {
      arg: "<reason>",
      help: "only messages rejected for this reason",
      parse: oneOf<RejectReason>(REJECT_REASONS),
    },
    dryRun: { help: "report what would be loaded, then roll back" },
    json: { help: "machine-readable output" },
  },
  help: `Needs the same PII_HASH_KEY as the run that rejected the messages, and PII_VAULT_KEY when the
database keeps a PII vault (the rows it loads get their vault entries).`,
  examples: [
    "npx etl replay --reason invalid_app_version --dry-run",
    "npx etl replay --reason invalid_app_version",
  ],
  async handler({ config, logger, flags }) {
    await replay(config, logger, flags);
    return ExitCode.OK;
  },
});

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
  const vault = config.piiVaultKey ? createVaultCipher(config.piiVaultKey) : undefined;
  const outcome = await withDatabase(
    config,
    logger,
    1,
    async (pool) => {
      // Rows loaded now must carry masks of the key the table's masks were made with.
      // Only a run records a first key: replay with a wrong one loads nothing (its bodies do not
      // open), and must not make the wrong key the recorded one.
      await checkKeyEpoch(pool, keyFingerprint(key), {
        record: false,
        vault: { fingerprint: vault?.fingerprint, record: !options.dryRun },
      });
      return replayRejected(
        pool,
        options,
        (body, sentTimestamp) => transformMessage({ body, sentTimestamp }, masker),
        createBodyCipher(key),
        { hash: keyFingerprint(key), vault: vault && sealInPlace(vault) },
      );
    },
    // A dry run changes nothing, not even the schema.
    { schema: options.dryRun ? "current" : "migrate" },
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
            `undecryptable   ${outcome.undecryptable} (rejected under another PII_HASH_KEY; left as they are)`,
          ]
        : []),
    );
  }
  return outcome;
}
