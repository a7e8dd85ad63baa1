// `etl reveal`: the original ip or device_id behind a mask, from the PII vault, audited.
import { defineCommand, oneOf } from "../command-spec.js";
import { ConfigError, ExitCode } from "../errors.js";
import { keyFingerprint } from "../pii-key.js";
import { createVaultCipher, VAULT_FIELDS, type VaultField } from "../sink/vault-cipher.js";
import { type MaskCheck, reveal } from "../sink/vault-reveal.js";
import { createMasker } from "../transform/index.js";
import { AUDIT_FLAGS, actorOf } from "./audit-flags.js";
import { printLines } from "./output.js";
import { withDatabase } from "./resources.js";

export const command = defineCommand({
  settings: ["database", "common"],
  requireKey: "optional",
  vaultKey: "required",
  flags: {
    field: {
      arg: "<field>",
      help: "ip or device_id",
      required: true,
      parse: oneOf<VaultField>(VAULT_FIELDS),
    },
    mask: {
      arg: "<hex>",
      help: "the mask as user_logins holds it (64 hex digits)",
      required: true,
      parse: (raw: string, flag: string) => {
        const mask = raw.trim().toLowerCase();
        if (!/^[0-9a-f]{64}$/.test(mask)) {
          throw new ConfigError(
            `${flag} must be 64 hex digits, as in user_logins (got ${raw.length} characters)`,
          );
        }
        return mask;
      },
    },
    ...AUDIT_FLAGS,
  },
  help: `Needs PII_VAULT_KEY (PII_VAULT_KEY_PREVIOUS too while a vault key rotation is unfinished).
With PII_HASH_KEY set too, the value is checked against its mask first (an entry planted by
whoever can write the vault is refused); without it, the value is shown unchecked.
The value goes to stdout, after the audit record (time, actor, database user, reason, field,
mask; never the value) has been committed. Every attempt is audited, found or not.
Exit codes: 0 revealed; 1 no such mask in the vault, or an entry that does not open or match;
            2 usage (no vault key, no --reason, a malformed mask, a vault key not given).`,
  examples: [
    'npx etl reveal --field device_id --mask 3f1c…e9 --reason "fraud case 4711"',
    "npx etl reveal-audit",
  ],
  async handler({ config, logger, flags }) {
    const key = config.piiVaultKey;
    if (!key) throw new Error("reveal needs config.piiVaultKey (vaultKey: required)");
    const ciphers = [key, ...(config.previousVaultKey ? [config.previousVaultKey] : [])].map(
      createVaultCipher,
    );
    const request = {
      field: flags.field,
      mask: flags.mask,
      actor: actorOf(flags.actor),
      reason: flags.reason,
    };
    const check = config.piiHashKey ? maskCheck(config.piiHashKey) : undefined;
    const result = await withDatabase(
      config,
      logger,
      1,
      (pool) => reveal(pool, ciphers, request, check),
      { schema: "current" },
    );
    logger.info(
      { field: request.field, mask: request.mask, outcome: result.kind },
      "reveal audited",
    );
    switch (result.kind) {
      case "revealed":
        if (!result.verified) {
          logger.warn(
            "shown unchecked: with PII_HASH_KEY set (the key that made this mask), reveal checks the value against its mask",
          );
        }
        printLines(result.value);
        return ExitCode.OK;
      case "mismatch":
        logger.error(
          `the vault entry for ${request.field} mask ${request.mask} opens, but its value does not ` +
            "give that mask under PII_HASH_KEY: it was planted or corrupted by someone who can " +
            "write the vault. Not shown; investigate who wrote it (etl.pii_vault.added_at).",
        );
        return ExitCode.FAILURE;
      case "unknown":
        logger.error(
          `no ${request.field} with mask ${request.mask} in the PII vault: it was loaded before the ` +
            "vault was on, was erased by `etl forget`, or is a mask of another field or key",
        );
        return ExitCode.FAILURE;
      case "other-key":
        logger.error(
          `the ${request.field} with mask ${request.mask} is sealed under vault key ` +
            `${result.fingerprint}, which PII_VAULT_KEY is not (a vault key rotation not finished?): ` +
            "give that key as PII_VAULT_KEY_PREVIOUS",
        );
        return ExitCode.USAGE;
      case "damaged":
        logger.error(
          `the vault entry for ${request.field} mask ${request.mask} does not open with its own key: ` +
            "it is damaged, or was copied there from another mask",
        );
        return ExitCode.FAILURE;
    }
  },
});

/** The hash key's masks, to check a revealed value against the mask it was asked for. */
function maskCheck(hashKey: Buffer): MaskCheck {
  const masker = createMasker(hashKey);
  return {
    fingerprint: keyFingerprint(hashKey),
    mask: (field, value) => (field === "ip" ? masker.ip(value) : masker.deviceId(value)),
  };
}
