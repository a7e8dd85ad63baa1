// Publishing a run's metrics at its end: a textfile for node_exporter's textfile collector and/or
// a push to a Prometheus Pushgateway. Publishing is reporting, never part of the run's outcome: a
// failure is logged and the exit code stays what the run earned.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { redactUrl } from "../config.js";
import { describeError } from "../errors.js";
import type { Logger } from "../logger.js";
import { within } from "../time-limit.js";
import { type RunReport, runRegistry } from "./contract.js";
import { pushToGateway } from "./pushgateway.js";

/**
 * Longest each target may take: a Pushgateway that does not answer, or a metrics file on a hung
 * network mount, must not hold the cron slot.
 */
const PUBLISH_TIMEOUT_MS = 10_000;

const TEXTFILE_CHILD = fileURLToPath(new URL("./textfile-child.js", import.meta.url));

interface MetricsTargets {
  metricsFile?: string | undefined;
  pushgatewayUrl?: string | undefined;
}

export async function publishRunMetrics(
  report: RunReport,
  targets: MetricsTargets,
  logger: Logger,
): Promise<void> {
  const { metricsFile, pushgatewayUrl } = targets;
  const shown = pushgatewayUrl && redactUrl(pushgatewayUrl, { hideUser: true });
  await Promise.all([
    metricsFile &&
      bounded(
        (signal) => writeInChild(report, metricsFile, signal),
        { metricsFile },
        "could not write the metrics file",
        logger,
      ),
    pushgatewayUrl &&
      bounded(
        (signal) =>
          pushToGateway(
            pushgatewayUrl,
            { queue: report.queue },
            runRegistry(report),
            // A failed run sends no success time and replaces only what it sends (POST), so
            // the Pushgateway keeps the last success it was given.
            report.exitCode === 0 ? "PUT" : "POST",
            signal,
          ),
        { pushgateway: shown || "" },
        `could not push metrics to ${shown}`,
        logger,
      ),
  ]);
}

/**
 * Waits at most PUBLISH_TIMEOUT_MS, then aborts the work; a failure or a timeout is one
 * warning, never thrown.
 */
async function bounded(
  work: (signal: AbortSignal) => Promise<void>,
  where: Record<string, string>,
  failed: string,
  logger: Logger,
): Promise<void> {
  const abort = new AbortController();
  try {
    const done = await within(work(abort.signal), PUBLISH_TIMEOUT_MS);
    if (done === "timed_out") throw new Error(`no answer in ${PUBLISH_TIMEOUT_MS / 1_000} s`);
    logger.debug(where, "metrics published");
  } catch (err) {
    // Cut: a Pushgateway's error answer is quoted in the message, and it may be anything.
    const why = describeError(err).slice(0, 300);
    logger.warn(where, `${failed} (the run's outcome is unchanged): ${why}`);
  } finally {
    abort.abort();
  }
}

/** The file is written by a child process (textfile.ts says why); aborted, it is left behind. */
function writeInChild(report: RunReport, path: string, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    // Nothing inherited but PATH: the child needs no secret, and a NODE_OPTIONS preload meant
    // for the run (an APM agent) has no business in it. Its stderr is only Node's warnings.
    const child = spawn(process.execPath, ["--no-warnings", TEXTFILE_CHILD], {
      stdio: ["pipe", "pipe", "ignore"],
      env: { PATH: process.env.PATH ?? "" },
    });
    let reason = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      reason = `${reason}${chunk}`.slice(0, 2_000);
    });
    child.on("error", reject);
    // Decided by the exit, not by the pipes closing: a grandchild holding them open (a hook of
    // the environment's) must not make a written file look like a failure.
    child.on("exit", (code, killedBy) => {
      if (code === 0) return resolve();
      const ended = killedBy ? `was killed by ${killedBy}` : `exited with ${code}`;
      // The reason may still be in the pipe: give it the moment it takes to arrive.
      child.stdout.once("end", () => reject(new Error(reason.trim() || `the writer ${ended}`)));
      setTimeout(() => reject(new Error(reason.trim() || `the writer ${ended}`)), 200).unref();
    });
    signal.addEventListener("abort", () => {
      // Stuck in the kernel it may not even die; either way it must not keep us alive.
      child.kill("SIGKILL");
      child.unref();
      child.stdout.destroy();
    });
    child.stdin.on("error", () => {}); // a writer that died early: its exit says why
    child.stdin.end(JSON.stringify({ path, report }));
  });
}
