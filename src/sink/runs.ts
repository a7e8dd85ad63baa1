// etl.runs: one row per finished run, written at its end and read by `etl status`.
import type { Pool } from "pg";
import type { RunSummary } from "../summary.js";

export interface RecordedRun {
  startedAt: Date;
  finishedAt: Date;
  exitCode: number;
  summary: RunSummary;
}

export async function recordRun(
  pool: Pool,
  run: Pick<RecordedRun, "startedAt" | "exitCode" | "summary">,
): Promise<void> {
  await pool.query(
    "INSERT INTO etl.runs (started_at, exit_code, summary) VALUES ($1, $2, $3::jsonb)",
    [run.startedAt, run.exitCode, JSON.stringify(run.summary)],
  );
}

export async function lastRun(pool: Pool): Promise<RecordedRun | undefined> {
  const result = await pool.query<{
    started_at: Date;
    finished_at: Date;
    exit_code: number;
    summary: RunSummary; // only recordRun writes this column, from a RunSummary
  }>(
    "SELECT started_at, finished_at, exit_code, summary FROM etl.runs ORDER BY run_id DESC LIMIT 1",
  );
  const row = result.rows[0];
  return row
    ? {
        startedAt: row.started_at,
        finishedAt: row.finished_at,
        exitCode: row.exit_code,
        summary: row.summary,
      }
    : undefined;
}
