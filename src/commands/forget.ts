// `etl forget`: erase one user (right to erasure), audited.
import { defineCommand } from "../command-spec.js";
import { ConfigError, ExitCode } from "../errors.js";
import { createBodyCipher } from "../sink/body-cipher.js";
import { missingIndexes } from "../sink/vault.js";
import { forgetUser } from "../sink/vault-forget.js";
import { AUDIT_FLAGS, actorOf } from "./audit-flags.js";
import { printLines } from "./output.js";
import { withDatabase } from "./resources.js";

export const command = defineCommand({
  settings: ["database", "common"],
  requireKey: "optional",
  flags: {
    userId: {
      arg: "<id>",
      help: "the user_id whose rows are erased",
      required: true,
      parse: (raw: string, flag: string) => {
        if (raw === "") throw new ConfigError(`${flag} must not be empty`);
        return raw;
      },
    },
    ...AUDIT_FLAGS,
  },
  help: `In one transaction: deletes the user's rows from user_logins, then every PII vault entry of
theirs that no other row uses, then (with PII_HASH_KEY set, which opens their sealed originals)
their rejected messages, and records the erasure in etl.pii_audit (counts and reason; not the
user id, which is what is being erased). Afterwards their masks open for nobody. Messages of
theirs still in the queue are not touched: erase after the queue is drained (README).`,
  examples: [
    'npx etl forget --user-id 424cdd21-063a-43a7-b91b-7ca1a833afae --reason "GDPR request 2026-118"',
  ],
  async handler({ config, logger, flags }) {
    const cipher = config.piiHashKey ? createBodyCipher(config.piiHashKey) : undefined;
    const request = { userId: flags.userId, actor: actorOf(flags.actor), reason: flags.reason };
    const outcome = await withDatabase(config, logger, 1, async (pool) => {
      const advice = await missingIndexes(pool, ["user_id", "masked_ip", "masked_device_id"]);
      if (advice.length > 0) {
        logger.warn(
          { statements: advice },
          "user_logins is large and not indexed for erasure: each forget scans it (runs wait for the last step); as the table owner, run the statements given",
        );
      }
      return forgetUser(pool, request, cipher && ((sealed, id) => cipher.open(sealed, id)));
    });
    logger.info(outcome, "erasure audited");
    const rejected = outcome.rejectedMessages ?? 0;
    printLines(
      outcome.rows + rejected === 0
        ? "no rows or rejected messages of that user_id; nothing erased (the request is audited)"
        : `erased ${outcome.rows} rows, ${outcome.vaultEntries} vault entries no other row uses and ${rejected} rejected messages`,
      ...(outcome.rejectedMessages === null
        ? [
            "rejected messages were not searched: set PII_HASH_KEY (it opens their sealed originals) and run again",
          ]
        : []),
      ...(outcome.rejectedUnopened > 0
        ? [
            `${outcome.rejectedUnopened} rejected messages are sealed under an earlier PII_HASH_KEY and were not searched`,
          ]
        : []),
    );
    return ExitCode.OK;
  },
});
