// `etl status`: one look at the queue and the tables, for the operator asking "is it working?".
// Each side is reported even when the other is unreachable.
import type { Pool } from "pg";
import { defineCommand } from "../command-spec.js";
import type { Config } from "../config.js";
import { describeError, ExitCode } from "../errors.js";
import type { Logger } from "../logger.js";
import { currentKeyEpoch, type KeyEpoch, listKeyEpochs } from "../sink/key-epochs.js";
import { countLoginRows } from "../sink/login-stats.js";
import { versionOf } from "../sink/migrations/index.js";
import { countRejectedByReason } from "../sink/rejected-store.js";
import { lastRun, type RecordedRun } from "../sink/runs.js";
import { describeMigration, schemaState } from "../sink/schema.js";
import { getQueueInfo, type QueueInfo } from "../source/queue-info.js";
import { formatTable, printJson, printLines } from "./output.js";
import { withDatabase, withQueue } from "./resources.js";

export const command = defineCommand({
  settings: ["queue", "database", "common"],
  flags: { json: { help: "machine-readable output" } },
  examples: ["npx etl status", "npx etl status --json | jq .queue"],
  handler: ({ config, logger, flags }) => status(config, logger, flags),
});

interface DatabaseStatus {
  /** Schema migrations applied, and those missing (`etl init-db` applies them). */
  schema: { version: number; pending: string[]; unknown: number[] };
  /** False until the first `etl run` or `etl init-db` has created the tables. */
  initialised: boolean;
  rowsLoaded: { count: number; exact: boolean };
  rejected: { reason: string; count: number; newest: Date }[];
  lastRun: RecordedRun | undefined;
  /** Which key fingerprint made the masks since when (etl rotate-key adds one); oldest first. */
  keyEpochs: KeyEpoch[];
  /** The PII vault's current key epoch; undefined while the vault is off. */
  vault: KeyEpoch | undefined;
}

type Outcome<T> = { ok: true; value: T } | { ok: false; error: string };

async function attempt<T>(body: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await body() };
  } catch (err) {
    return { ok: false, error: describeError(err) };
  }
}

async function databaseStatus(pool: Pool): Promise<DatabaseStatus> {
  const state = await schemaState(pool);
  const schema = {
    version: Math.max(0, ...state.applied),
    pending: state.pending.map(describeMigration),
    unknown: state.unknown,
  };
  if (state.applied.length === 0) {
    return {
      schema,
      initialised: false,
      rowsLoaded: { count: 0, exact: true },
      rejected: [],
      lastRun: undefined,
      keyEpochs: [],
      vault: undefined,
    };
  }
  return {
    schema,
    initialised: true,
    rowsLoaded: await countLoginRows(pool),
    rejected: await countRejectedByReason(pool),
    lastRun: await lastRun(pool),
    keyEpochs: state.applied.includes(versionOf("key-epochs")) ? await listKeyEpochs(pool) : [],
    vault: await currentKeyEpoch(pool, "vault"),
  };
}

export async function status(
  config: Config,
  logger: Logger,
  options: { json: boolean },
): Promise<number> {
  const queue = await attempt(() =>
    withQueue(config, logger, (sqs, url) => getQueueInfo(sqs, url)),
  );
  const database = await attempt(() =>
    withDatabase(config, logger, 2, databaseStatus, { schema: "as-is" }),
  );

  if (options.json) {
    printJson({ queue, database });
  } else {
    printLines(...queueLines(queue), "", ...databaseLines(database));
  }
  return queue.ok && database.ok ? ExitCode.OK : ExitCode.FAILURE;
}

function queueLines(queue: Outcome<QueueInfo>): string[] {
  if (!queue.ok) return ["queue: unreachable", `  ${queue.error}`];
  const { depth, deadLetter } = queue.value;
  const lines = [
    `queue ${queue.value.url}`,
    `  waiting (approx.)     ${depth.visible}`,
    `  in flight (approx.)   ${depth.inFlight}`,
    `  delayed (approx.)     ${depth.delayed}`,
    `  retention             ${(queue.value.retentionSeconds / 86_400).toFixed(1)} days`,
  ];
  if (deadLetter) {
    lines.push(
      `  dead-letter queue     ${deadLetter.depth.visible} message(s) after ${deadLetter.maxReceiveCount} receives (${deadLetter.url})`,
    );
    if (deadLetter.depth.visible + deadLetter.depth.inFlight > 0) {
      lines.push(
        "                        load them with `etl run --from-dlq` (exactly once: they keep their",
        "                        MessageIds); never redrive them from the console or API, which gives",
        "                        them new MessageIds, so those already loaded would load twice",
      );
    }
  } else {
    lines.push("  dead-letter queue     none configured");
  }
  return lines;
}

function databaseLines(database: Outcome<DatabaseStatus>): string[] {
  if (!database.ok) return ["database: unreachable", `  ${database.error}`];
  const { schema, initialised, rowsLoaded, rejected, lastRun, keyEpochs, vault } = database.value;
  if (!initialised) {
    return [
      "database",
      "  not initialised yet: `etl init-db` (or the first `etl run`) creates the tables",
    ];
  }
  const lines = [
    "database",
    `  schema version        ${schema.version}${schemaNote(schema)}`,
    `  user_logins rows      ${rowsLoaded.exact ? "" : "≈ "}${rowsLoaded.count}`,
    `  rejected              ${rejected.reduce((a, r) => a + r.count, 0)}`,
  ];
  if (rejected.length > 0) {
    const table = formatTable(
      ["reason", "messages", "newest"],
      rejected.map((r) => [r.reason, String(r.count), r.newest.toISOString()]),
    );
    lines.push(...table.split("\n").map((l) => `    ${l}`));
  }
  if (lastRun) {
    const s = lastRun.summary;
    lines.push(
      `  last run              ${lastRun.finishedAt.toISOString()}, exit ${lastRun.exitCode}, ` +
        `received ${s.received}, inserted ${s.inserted}, rejected ${s.rejectedTotal}, ` +
        `${s.drained ? "drained" : `stopped: ${s.stopReason}`}`,
    );
  } else {
    lines.push("  last run              none recorded");
  }
  const current = keyEpochs.at(-1);
  lines.push(
    current
      ? `  key                   fingerprint ${current.fingerprint} since ${current.startedAt.toISOString()} ` +
          `(epoch ${current.epoch}${keyEpochs.length > 1 ? `; masks before that do not compare with later ones` : ""})`
      : "  key                   none recorded yet (the first run records its fingerprint)",
  );
  lines.push(
    vault
      ? `  PII vault             on: vault key ${vault.fingerprint} since ${vault.startedAt.toISOString()} (epoch ${vault.epoch})`
      : "  PII vault             off (PII_VAULT_KEY not used yet)",
  );
  return lines;
}

function schemaNote(schema: DatabaseStatus["schema"]): string {
  if (schema.unknown.length > 0) {
    return ` (version ${schema.unknown.join(", ")} unknown to this login-etl: upgrade it)`;
  }
  if (schema.pending.length > 0)
    return ` (missing ${schema.pending.join(", ")}: run \`etl init-db\`)`;
  return "";
}
