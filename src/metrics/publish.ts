// Publishing a run's metrics at its end: a textfile for node_exporter's textfile collector and/or
// a push to a Prometheus Pushgateway. Publishing is reporting, never part of the run's outcome: a
// failure is logged and the exit code stays what the run earned.
import { randomBytes } from "node:crypto";
import { readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { Pushgateway } from "prom-client";
import { redactUrl } from "../config.js";
import { describeError } from "../errors.js";
import type { Logger } from "../logger.js";
import { within } from "../time-limit.js";
import { METRICS, type RunReport, runRegistry } from "./contract.js";

/** The Pushgateway job name; the queue is the grouping label. */
export const PUSH_JOB = "login-etl";
/**
 * Longest each target may take: a Pushgateway that does not answer, or a metrics file on a hung
 * network mount, must not hold the cron slot.
 */
export const PUBLISH_TIMEOUT_MS = 10_000;
/** A previous metrics file larger than this is not read for its success time (ours are ~4 KiB). */
const MAX_PREVIOUS_FILE_BYTES = 1024 * 1024;

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
    metricsFile
      ? bounded(
          writeMetricsFile(report, metricsFile),
          { metricsFile },
          "could not write the metrics file",
          logger,
        )
      : undefined,
    pushgatewayUrl
      ? bounded(
          pushMetrics(report, pushgatewayUrl),
          { pushgateway: redactUrl(pushgatewayUrl) },
          `could not push metrics to ${redactUrl(pushgatewayUrl)}`,
          logger,
        )
      : undefined,
  ]);
}

/** Waits at most PUBLISH_TIMEOUT_MS; a failure or a timeout is one warning, never thrown. */
async function bounded(
  work: Promise<void>,
  where: Record<string, string>,
  failed: string,
  logger: Logger,
): Promise<void> {
  try {
    const done = await within(work, PUBLISH_TIMEOUT_MS);
    if (done === "timed_out") throw new Error(`no answer in ${PUBLISH_TIMEOUT_MS / 1_000} s`);
    logger.debug(where, "metrics published");
  } catch (err) {
    // Cut: a Pushgateway's error body is quoted in the message, and it may be anything.
    const why = describeError(err).slice(0, 300);
    logger.warn(where, `${failed} (the run's outcome is unchanged): ${why}`);
  }
}

/**
 * Written to a temporary file beside the target, then renamed over it: the collector reads
 * either the old file or the new one, never half of one. The temporary name does not end in
 * `.prom`, so the collector never reads it.
 */
async function writeMetricsFile(report: RunReport, path: string): Promise<void> {
  const temporary = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  try {
    const carried = report.exitCode === 0 ? undefined : await lastSuccessIn(path, report.queue);
    const text = await runRegistry(report, carried).metrics();
    // 0644: node_exporter usually runs as its own user and must be able to read it.
    await writeFile(temporary, text, { mode: 0o644, flag: "wx" });
    await rename(temporary, path);
  } catch (err) {
    await rm(temporary, { force: true }).catch(() => {});
    throw err;
  }
}

/** The last success an earlier run wrote into the file, for a failed run to carry over. */
async function lastSuccessIn(path: string, queue: string): Promise<number | undefined> {
  let text: string;
  try {
    if ((await stat(path)).size > MAX_PREVIOUS_FILE_BYTES) return undefined;
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
async function pushMetrics(report: RunReport, url: string): Promise<void> {
  const gateway = new Pushgateway(url, { timeout: PUBLISH_TIMEOUT_MS }, runRegistry(report));
  const params = { jobName: PUSH_JOB, groupings: { queue: report.queue } };
  await (report.exitCode === 0 ? gateway.push(params) : gateway.pushAdd(params));
}
