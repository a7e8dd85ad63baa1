// Publishing a run's metrics at its end: a textfile for node_exporter's textfile collector and/or
// a push to a Prometheus Pushgateway. Publishing is reporting, never part of the run's outcome: a
// failure is logged and the exit code stays what the run earned.
import { randomBytes } from "node:crypto";
import { readFile, rename, rm, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { Pushgateway } from "prom-client";
import { redactUrl } from "../config.js";
import { describeError } from "../errors.js";
import type { Logger } from "../logger.js";
import { within } from "../time-limit.js";
import { METRICS, type RunReport, runRegistry } from "./contract.js";

/** The Pushgateway job name; the queue is the grouping label. */
export const PUSH_JOB = "login-etl";
/** Longest a push may take: a Pushgateway that does not answer must not hold the cron slot. */
export const PUSH_TIMEOUT_MS = 10_000;

export interface MetricsTargets {
  metricsFile?: string | undefined;
  pushgatewayUrl?: string | undefined;
}

export async function publishRunMetrics(
  report: RunReport,
  targets: MetricsTargets,
  logger: Logger,
): Promise<void> {
  const { metricsFile, pushgatewayUrl } = targets;
  await Promise.all([
    metricsFile ? writeMetricsFile(report, metricsFile, logger) : undefined,
    pushgatewayUrl ? pushMetrics(report, pushgatewayUrl, logger) : undefined,
  ]);
}

/**
 * Written to a temporary file beside the target, then renamed over it: the collector reads
 * either the old file or the new one, never half of one. The temporary name does not end in
 * `.prom`, so the collector never reads it.
 */
async function writeMetricsFile(report: RunReport, path: string, logger: Logger): Promise<void> {
  const temporary = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  try {
    const carried = report.exitCode === 0 ? undefined : await lastSuccessIn(path, report.queue);
    const text = await runRegistry(report, carried).metrics();
    // 0644: node_exporter usually runs as its own user and must be able to read it.
    await writeFile(temporary, text, { mode: 0o644, flag: "wx" });
    await rename(temporary, path);
    logger.debug({ metricsFile: path }, "metrics file written");
  } catch (err) {
    await rm(temporary, { force: true }).catch(() => {});
    logger.warn(
      { metricsFile: path },
      `could not write the metrics file (the run's outcome is unchanged): ${describeError(err)}`,
    );
  }
}

/** The last success an earlier run wrote into the file, for a failed run to carry over. */
async function lastSuccessIn(path: string, queue: string): Promise<number | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch {
    return undefined; // no earlier file: never succeeded as far as this file knows
  }
  const name = METRICS.lastSuccessTimestamp.name;
  for (const line of text.split("\n")) {
    const match = /^(\S+?)(\{[^}]*\})? (\S+)$/.exec(line);
    if (match?.[1] !== name) continue;
    // prom-client escapes \, " and newlines in label values; queue names have none of them.
    if (!match[2]?.includes(`queue="${queue}"`)) continue;
    const value = Number(match[3]);
    return Number.isFinite(value) ? value : undefined;
  }
  return undefined;
}

/**
 * A run that exited 0 replaces its group (PUT); a failed run replaces only the metrics it sends
 * (POST) and sends no success time, so the Pushgateway keeps the last success it was given.
 */
async function pushMetrics(report: RunReport, url: string, logger: Logger): Promise<void> {
  const shown = redactUrl(url);
  try {
    const gateway = new Pushgateway(url, { timeout: PUSH_TIMEOUT_MS }, runRegistry(report));
    const params = { jobName: PUSH_JOB, groupings: { queue: report.queue } };
    const push = report.exitCode === 0 ? gateway.push(params) : gateway.pushAdd(params);
    const result = await within(push, PUSH_TIMEOUT_MS);
    if (result === "timed_out") throw new Error(`no answer in ${PUSH_TIMEOUT_MS / 1_000} s`);
    logger.debug({ pushgateway: shown }, "metrics pushed");
  } catch (err) {
    logger.warn(
      { pushgateway: shown },
      `could not push metrics to ${shown} (the run's outcome is unchanged): ${describeError(err)}`,
    );
  }
}
