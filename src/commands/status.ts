// `etl status`: one look at the queue and the tables, for the operator asking "is it working?".
// Each side is reported even when the other is unreachable.
import type { Pool } from "pg";
import type { Config } from "../config.js";
import { describeError, ExitCode } from "../errors.js";
import type { Logger } from "../logger.js";
import { countRejectedByReason } from "../sink/quarantine-store.js";
import { getQueueInfo, type QueueInfo } from "../source/queue-info.js";
import { formatTable, printJson, printLines } from "./output.js";
import { withDatabase, withQueue } from "./resources.js";

interface DatabaseStatus {
  /** False until the first `etl run` or `etl init-db` has created the tables. */
  initialised: boolean;
  rowsLoaded: { count: number; exact: boolean };
  rejected: { reason: string; count: number; newest: Date }[];
  lastRun: { finishedAt: Date; exitCode: number; summary: Record<string, unknown> } | undefined;
}

type Outcome<T> = { ok: true; value: T } | { ok: false; error: string };

async function attempt<T>(body: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await body() };
  } catch (err) {
    return { ok: false, error: describeError(err) };
  }
}

/** Exact when cheap enough; on a huge table, the planner's estimate after 5 s. */
async function countRows(pool: Pool): Promise<{ count: number; exact: boolean }> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    await client.query("SET LOCAL statement_timeout = '5s'");
    const exact = await client.query<{ n: string }>("SELECT count(*) AS n FROM user_logins");
    await client.query("COMMIT");
    return { count: Number(exact.rows[0]?.n ?? 0), exact: true };
  } catch {
    await client.query("ROLLBACK").catch(() => {});
    const estimate = await client.query<{ n: number }>(
      "SELECT greatest(reltuples, 0)::float8 AS n FROM pg_class WHERE oid = 'user_logins'::regclass",
    );
    return { count: Math.round(estimate.rows[0]?.n ?? 0), exact: false };
  } finally {
    client.release();
  }
}

async function databaseStatus(pool: Pool): Promise<DatabaseStatus> {
  const exists = await pool.query<{ ok: boolean }>(
    "SELECT to_regclass('etl.runs') IS NOT NULL AND to_regclass('user_logins') IS NOT NULL AS ok",
  );
  if (exists.rows[0]?.ok !== true) {
    return {
      initialised: false,
      rowsLoaded: { count: 0, exact: true },
      rejected: [],
      lastRun: undefined,
    };
  }
  const last = await pool.query(
    "SELECT finished_at, exit_code, summary FROM etl.runs ORDER BY run_id DESC LIMIT 1",
  );
  const run = last.rows[0];
  return {
    initialised: true,
    rowsLoaded: await countRows(pool),
    rejected: await countRejectedByReason(pool),
    lastRun: run
      ? { finishedAt: run.finished_at, exitCode: run.exit_code, summary: run.summary }
      : undefined,
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
    withDatabase(config, logger, 2, databaseStatus, { createSchema: false }),
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
  } else {
    lines.push("  dead-letter queue     none configured");
  }
  return lines;
}

function databaseLines(database: Outcome<DatabaseStatus>): string[] {
  if (!database.ok) return ["database: unreachable", `  ${database.error}`];
  const { initialised, rowsLoaded, rejected, lastRun } = database.value;
  if (!initialised) {
    return ["database", "  not initialised yet: `etl run` or `etl init-db` creates the tables"];
  }
  const lines = [
    "database",
    `  user_logins rows      ${rowsLoaded.exact ? "" : "≈ "}${rowsLoaded.count}`,
    `  quarantined           ${rejected.reduce((a, r) => a + r.count, 0)}`,
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
        `received ${s.received}, inserted ${s.inserted}, quarantined ${s.rejectedTotal}, ` +
        `${s.drained ? "drained" : `stopped: ${s.stopReason}`}`,
    );
  } else {
    lines.push("  last run              none recorded");
  }
  return lines;
}
