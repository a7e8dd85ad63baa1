// `etl rotate-vault-key`: seal the whole PII vault again under a new vault key, in batches.
import { defineCommand, wholeNumber } from "../command-spec.js";
import { ConfigError, ExitCode } from "../errors.js";
import { PREVIOUS_VAULT_KEY_ENV, VAULT_KEY_ENV } from "../pii-key.js";
import { currentKeyEpoch, rotateKeyEpoch } from "../sink/key-epochs.js";
import { lockVaultExclusive } from "../sink/vault.js";
import { createVaultCipher } from "../sink/vault-cipher.js";
import { countPending, reencryptVault } from "../sink/vault-rotation.js";
import { AUDIT_FLAGS, actorOf } from "./audit-flags.js";
import { printLines } from "./output.js";
import { withDatabase } from "./resources.js";

export const command = defineCommand({
  settings: ["database", "common"],
  vaultKey: "required",
  flags: {
    reason: { ...AUDIT_FLAGS.reason, help: "why the vault key changes (kept in etl.pii_audit)" },
    batchSize: {
      arg: "<n>",
      help: "vault entries sealed again per transaction",
      default: "5000",
      parse: wholeNumber(1, 100_000),
    },
    actor: AUDIT_FLAGS.actor,
  },
  help: `Put the NEW key in PII_VAULT_KEY and the old one in PII_VAULT_KEY_PREVIOUS, then run this.
From then on runs accept only the new vault key (one still going with the old key stops at its
next batch). The entries are sealed again a batch per transaction while runs keep loading;
after a crash, run the same command again and it goes on. Each run is one audit record whose
counts every batch updates. Masks do not change.`,
  examples: [
    'PII_VAULT_KEY=$(cat new-vault.key) PII_VAULT_KEY_PREVIOUS=$(cat old-vault.key) npx etl rotate-vault-key --reason "custodian left"',
  ],
  async handler({ config, logger, flags }) {
    const key = config.piiVaultKey;
    if (!key) throw new Error("rotate-vault-key needs config.piiVaultKey (vaultKey: required)");
    const current = createVaultCipher(key);
    const previous = config.previousVaultKey
      ? createVaultCipher(config.previousVaultKey)
      : undefined;
    await withDatabase(config, logger, 1, async (pool) => {
      const epoch = await currentKeyEpoch(pool, "vault");
      if (!epoch) {
        throw new ConfigError(
          `This database has no PII vault yet: a run with ${VAULT_KEY_ENV} set starts one; there is nothing to rotate.`,
        );
      }
      if (
        epoch.fingerprint !== current.fingerprint &&
        previous?.fingerprint !== epoch.fingerprint
      ) {
        throw new ConfigError(
          `The vault is sealed under vault key ${epoch.fingerprint}; put that key in ` +
            `${PREVIOUS_VAULT_KEY_ENV} (and the new one in ${VAULT_KEY_ENV}) so its entries can be opened.`,
        );
      }
      const rotated = await rotateKeyEpoch(pool, current.fingerprint, flags.reason, {
        kind: "vault",
        inside: lockVaultExclusive,
      });
      if (rotated) {
        printLines(
          `vault key epoch ${rotated.started.epoch}: fingerprint ${current.fingerprint} (was ${rotated.previous?.fingerprint ?? "none"})`,
        );
      } else {
        printLines(`vault key ${current.fingerprint} is already the current one`);
      }
      const pending = await countPending(pool, "vault", current.fingerprint);
      printLines(`sealing ${pending} vault entries again under the new key`);
      const progress = await reencryptVault(
        pool,
        {
          batchSize: flags.batchSize,
          actor: actorOf(flags.actor),
          reason: flags.reason,
          afterBatch: (p) => logger.info(p, "vault batch sealed again"),
        },
        { current, previous },
      );
      logger.info(progress, "vault key rotation finished");
      printLines(
        `sealed ${progress.entries} vault entries again in ${progress.batches} batches; ` +
          `${PREVIOUS_VAULT_KEY_ENV} is no longer needed`,
      );
    });
    return ExitCode.OK;
  },
});
