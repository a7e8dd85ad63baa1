// `etl forget`: erase one user (right to erasure), audited.
import { defineCommand } from "../command-spec.js";
import { ConfigError, ExitCode } from "../errors.js";
import { forgetUser } from "../sink/vault-forget.js";
import { AUDIT_FLAGS, actorOf } from "./audit-flags.js";
import { printLines } from "./output.js";
import { withDatabase } from "./resources.js";

export const command = defineCommand({
  settings: ["database", "common"],
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
theirs that no other row uses, and records the erasure in etl.pii_audit (counts and reason; not
the user id, which is what is being erased). Afterwards their masks open for nobody. No key needed.
Messages of theirs still in the queue, or in etl.rejected_messages, are not touched (README).`,
  examples: [
    'npx etl forget --user-id 424cdd21-063a-43a7-b91b-7ca1a833afae --reason "GDPR request 2026-118"',
  ],
  async handler({ config, logger, flags }) {
    const outcome = await withDatabase(config, logger, 1, (pool) =>
      forgetUser(pool, { userId: flags.userId, actor: actorOf(flags.actor), reason: flags.reason }),
    );
    logger.info(outcome, "erasure audited");
    printLines(
      outcome.rows === 0
        ? "no rows of that user_id; nothing erased (the request is audited)"
        : `erased ${outcome.rows} rows and ${outcome.vaultEntries} vault entries no other row uses`,
    );
    return ExitCode.OK;
  },
});
