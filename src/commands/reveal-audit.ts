// `etl reveal-audit`: the PII audit trail, newest first.
import { defineCommand, wholeNumber } from "../command-spec.js";
import { ExitCode } from "../errors.js";
import { listAudit } from "../sink/vault-reveal.js";
import { formatTable, oneLine, printJson, printLines } from "./output.js";
import { withDatabase } from "./resources.js";

export const command = defineCommand({
  settings: ["database", "common"],
  flags: {
    limit: {
      arg: "<n>",
      help: "the newest n records",
      default: "50",
      parse: wholeNumber(1, 100_000),
    },
    json: { help: "machine-readable output" },
  },
  help: "Reveals, erasures and rotations: when, who, why, which field and mask, what changed.",
  examples: ["npx etl reveal-audit", "npx etl reveal-audit --limit 1000 --json"],
  async handler({ config, logger, flags }) {
    const rows = await withDatabase(config, logger, 1, (pool) => listAudit(pool, flags.limit), {
      schema: "current",
    });
    if (flags.json) {
      printJson(rows);
      return ExitCode.OK;
    }
    if (rows.length === 0) {
      printLines("no reveals, erasures or rotations recorded");
      return ExitCode.OK;
    }
    printLines(
      formatTable(
        ["at", "actor", "db user", "action", "field", "mask", "counts", "reason"],
        rows.map((r) => [
          r.at.toISOString(),
          oneLine(r.actor),
          oneLine(`${r.dbUser}${r.clientAddr ? `@${r.clientAddr}` : ""}`),
          r.action,
          r.field ?? "",
          r.mask ?? "",
          oneLine(JSON.stringify(r.counts)),
          oneLine(r.reason),
        ]),
      ),
    );
    return ExitCode.OK;
  },
});
