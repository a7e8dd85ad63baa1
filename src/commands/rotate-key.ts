// `etl rotate-key`: record, on purpose and with a date, that the masks change from now on; with
// the PII vault, `--remask` gives the existing rows the new key's masks too, so they still compare.
import { defineCommand, wholeNumber } from "../command-spec.js";
import type { Config } from "../config.js";
import { ConfigError, ExitCode } from "../errors.js";
import type { Logger } from "../logger.js";
import { keyFingerprint, VAULT_KEY_ENV } from "../pii-key.js";
import { checkVaultKeyEpoch, rotateKeyEpoch } from "../sink/key-epochs.js";
import { lockVaultExclusive, missingIndexes } from "../sink/vault.js";
import { createVaultCipher } from "../sink/vault-cipher.js";
import {
  countPending,
  countUnvaultedRows,
  remaskVault,
  sealedUnder,
} from "../sink/vault-rotation.js";
import { createMasker } from "../transform/index.js";
import { AUDIT_FLAGS, actorOf } from "./audit-flags.js";
import { printLines } from "./output.js";
import { withDatabase } from "./resources.js";

/**
 * Vault entries per re-mask transaction. Each batch finds the rows carrying its masks with one
 * scan of user_logins per field (unless the mask columns are indexed), so fewer, larger batches
 * cost less in total; each holds the vault's writers lock (runs wait) for about two scans.
 */
const DEFAULT_BATCH = "20000";

export const command = defineCommand({
  settings: ["database", "common"],
  requireKey: true,
  vaultKey: "optional",
  flags: {
    reason: { ...AUDIT_FLAGS.reason, help: "why the key changes (kept in etl.key_epochs)" },
    remask: {
      help: "with the PII vault: re-mask the existing rows under the new key, in batches (rerun to resume)",
    },
    batchSize: {
      arg: "<n>",
      help: "vault entries re-masked per transaction",
      default: DEFAULT_BATCH,
      parse: wholeNumber(1, 100_000),
    },
    actor: AUDIT_FLAGS.actor,
  },
  help: `Put the NEW key in PII_HASH_KEY, then run this once. From then on runs accept only the new key;
a run still going with the old one stops at its next batch (exit 2).
Without a vault, masks made before and after the rotation do not compare (the same device gets
another mask); etl.key_epochs records the date so analysts can tell.
With a vault (PII_VAULT_KEY set), --remask re-computes masked_ip and masked_device_id of every
row the vault holds the originals of, a batch per transaction, while runs keep loading; after a
crash, run the same command again and it goes on. Rotate only when the key may have leaked.`,
  examples: [
    'PII_HASH_KEY=$(cat new.key) npx etl rotate-key --reason "key exposed in a CI log"',
    'PII_HASH_KEY=$(cat new.key) npx etl rotate-key --remask --reason "yearly rotation"',
  ],
  async handler({ config, logger, flags }) {
    await rotateKey(config, logger, flags);
    return ExitCode.OK;
  },
});

export interface RotateKeyOptions {
  reason: string;
  remask?: boolean;
  batchSize?: number;
  actor?: string | undefined;
}

export async function rotateKey(
  config: Config,
  logger: Logger,
  options: RotateKeyOptions,
): Promise<void> {
  const key = config.piiHashKey;
  if (!key) throw new Error("rotate-key needs config.piiHashKey (loadConfig with requireKey)");
  const reason = options.reason.trim();
  if (reason === "") throw new ConfigError("--reason must say why the key changes.");
  if (options.remask && !config.piiVaultKey) {
    throw new ConfigError(
      `--remask needs the PII vault (${VAULT_KEY_ENV}): without it the original values are gone ` +
        "and nothing can be re-masked. Rotate without --remask to start a new epoch.",
    );
  }
  const fingerprint = keyFingerprint(key);
  const vault = config.piiVaultKey ? createVaultCipher(config.piiVaultKey) : undefined;
  const previousVault = config.previousVaultKey
    ? createVaultCipher(config.previousVaultKey)
    : undefined;
  await withDatabase(config, logger, 1, async (pool) => {
    // The vault key must be the vault's: re-masking seals every entry again under it.
    await checkVaultKeyEpoch(pool, vault?.fingerprint, { record: false });
    // Before the new epoch is committed: every entry must open with the keys given.
    if (options.remask && vault) {
      const unopenable = await sealedUnder(pool, [vault, previousVault]);
      if (unopenable.length > 0) {
        throw new ConfigError(
          `Vault entries are sealed under vault key ${unopenable.join(", ")}, which neither ` +
            `${VAULT_KEY_ENV} nor PII_VAULT_KEY_PREVIOUS is (a vault key rotation not finished?). ` +
            "Finish `etl rotate-vault-key` first, or give that key as PII_VAULT_KEY_PREVIOUS. " +
            "Nothing was changed.",
        );
      }
    }
    // Under the writers lock: no batch is half way through when the epoch changes, and each
    // later batch sees the new epoch (src/sink/vault.ts).
    const rotated = await rotateKeyEpoch(pool, fingerprint, reason, { inside: lockVaultExclusive });
    if (rotated) {
      const { previous, started } = rotated;
      logger.info(
        { epoch: started.epoch, fingerprint, previous: previous?.fingerprint },
        "started a new key epoch",
      );
      printLines(
        `key epoch ${started.epoch}: fingerprint ${fingerprint} from ${started.startedAt.toISOString()}`,
      );
      if (!previous) printLines("the first key recorded for this database");
    } else {
      printLines(`key ${fingerprint} is already the current one`);
    }
    const pending = vault ? await countPending(pool, "hash", fingerprint) : 0;
    if (options.remask && pending > 0) {
      const advice = await missingIndexes(pool, ["masked_ip", "masked_device_id"]);
      if (advice.length > 0) {
        logger.warn(
          { statements: advice },
          "user_logins is large and its mask columns are not indexed: each re-mask batch scans it twice while runs wait; as the table owner, run the statements given (the re-mask goes on meanwhile)",
        );
      }
    }
    if (!options.remask || !vault) {
      if (rotated?.previous) {
        const day = rotated.started.startedAt.toISOString().slice(0, 10);
        printLines(
          `masks made before ${day} (key ${rotated.previous.fingerprint}) do not compare with masks made from now on`,
        );
      }
      if (pending > 0) {
        printLines(
          `the PII vault holds ${pending} values masked with an earlier key: \`etl rotate-key --remask\` re-masks them and their rows`,
        );
      }
      return;
    }
    printLines(`re-masking ${pending} vault entries and the rows that carry them`);
    const progress = await remaskVault(
      pool,
      {
        batchSize: options.batchSize ?? Number(DEFAULT_BATCH),
        actor: actorOf(options.actor),
        reason,
        afterBatch: (p) => logger.info(p, "re-mask batch committed"),
      },
      {
        hashFingerprint: fingerprint,
        masker: createMasker(key),
        vault,
        previousVault,
      },
    );
    const unvaulted = await countUnvaultedRows(pool);
    logger.info({ ...progress, unvaulted }, "re-mask finished");
    printLines(
      `re-masked ${progress.entries} vault entries in ${progress.batches} batches (${progress.rowUpdates} mask columns of user_logins rewritten)`,
      unvaulted > 0
        ? `${unvaulted} rows carry masks the vault does not hold (loaded before it was on): they keep their old masks`
        : "every row's masks are the current key's",
    );
  });
}
