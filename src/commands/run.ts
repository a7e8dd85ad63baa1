// `etl run`: wire config to the four stages, run until drained or stopped, report, exit code.

import type { SQSClient } from "@aws-sdk/client-sqs";
import { defineCommand } from "../command-spec.js";
import type { Config } from "../config.js";
import { redactUrl } from "../config.js";
import { describeError, ExitCode, exitCodeOf } from "../errors.js";
import type { Logger } from "../logger.js";
import type { RunReport } from "../metrics/contract.js";
import { keyFingerprint } from "../pii-key.js";
import { runPipeline, type Stages } from "../pipeline.js";
import { loggedProgress, type Progress, terminalProgress } from "../progress.js";
import { createBodyCipher } from "../sink/body-cipher.js";
import { checkKeyEpoch } from "../sink/key-epochs.js";
import { PostgresSink } from "../sink/postgres-sink.js";
import { recordRun } from "../sink/runs.js";
import { startSealWorker } from "../sink/vault-sealer.js";
import { Deleter } from "../source/deleter.js";
import { getQueueDepth, getQueueInfo } from "../source/queue-info.js";
import { Receiver } from "../source/receiver.js";
import { endpointLabel } from "../source/sqs-client.js";
import { VisibilityKeeper } from "../source/visibility-keeper.js";
import { formatSummary, type RunSummary } from "../summary.js";
import { within } from "../time-limit.js";
import { createMasker, storedPayload, transformMessage } from "../transform/index.js";
import type { SinkItem, SinkOutcome } from "../types.js";
import { withDatabaseAndQueue } from "./resources.js";

export const command = defineCommand({
  settings: ["queue", "database", "run", "common"],
  requireKey: true,
  vaultKey: "optional",
  flags: {
    dryRun: { help: "receive and transform, but write and delete nothing" },
    fromDlq: {
      help: "drain the queue's dead-letter queue instead: messages keep their MessageIds there, so the ledger skips those already loaded (never redrive it from the console)",
    },
  },
  help: `PII_HASH_KEY must be set in the environment or .env (never a flag: flags show in \`ps\`).
With PII_VAULT_KEY set too, each distinct ip and device_id is also kept sealed in the PII vault
(README "PII vault"); once a database has a vault, every run needs that key.
Exit codes: 0 drained or stopped at a limit, everything committed and deleted;
            1 runtime failure (database/SQS unreachable, commit failed, deletes failed);
            2 usage or configuration error (nothing was received);
            130 a second SIGINT/SIGTERM (left at once; held messages return to the queue).`,
  examples: [
    "npx etl run",
    "npx etl run --endpoint http://localhost:4566 --max-runtime 300",
    "npx etl run --from-dlq",
    "LOG_LEVEL=debug npx etl run --dry-run --max-messages 50",
  ],
  async handler({ config, logger, flags }) {
    const stop = new AbortController();
    onSignals(() => stop.abort(), logger);
    const metrics = publishesMetrics(config, flags, logger);
    const startedAt = new Date();
    let outcome: RunOutcome;
    try {
      outcome = await runEtl(config, logger, {
        progress: process.stderr.isTTY ? "bar" : "log",
        stopSignal: stop.signal,
        dryRun: flags.dryRun,
        fromDlq: flags.fromDlq,
        readDepth: metrics,
      });
    } catch (err) {
      // It could not start (database, queue, key, schema): that is a run too, and a failed one.
      if (!metrics) throw err;
      // The cause is logged first: publishing may take its 10 s, and a second signal meanwhile
      // would leave without it.
      logger.error(describeError(err));
      await publishOutcome(config, logger, {
        queue: queueNameOf(config),
        startedAt,
        exitCode: exitCodeOf(err),
        summary: undefined,
        depth: "unknown",
        deadLetterDepth: "unknown",
      });
      return exitCodeOf(err);
    }
    const { exitCode, summary, queue } = outcome;
    if (metrics) await publishOutcome(config, logger, { ...queue, startedAt, exitCode, summary });
    if (summary && process.stdout.isTTY) process.stdout.write(`\n${formatSummary(summary)}\n`);
    return exitCode;
  },
});

/**
 * Whether this run publishes metrics. A dry run did nothing a dashboard should count as a run. A
 * `--from-dlq` run is an operator's one-off recovery: published under the dead-letter queue's
 * name its success time would go stale and page, and written to the main queue's file it would
 * replace the main queue's metrics; the main queue's runs report the dead-letter depth anyway.
 */
function publishesMetrics(
  config: Config,
  flags: { dryRun: boolean; fromDlq: boolean },
  logger: Logger,
): boolean {
  if (!config.metricsFile && !config.pushgatewayUrl) return false;
  if (!flags.dryRun && !flags.fromDlq) return true;
  logger.info(`metrics are not published for a ${flags.dryRun ? "dry run" : "--from-dlq run"}`);
  return false;
}

/** The queue's name: the last segment of its URL, or the configured name. */
function queueNameOf(config: Pick<Config, "queueUrl" | "queueName">): string {
  const fromUrl =
    config.queueUrl && new URL(config.queueUrl).pathname.split("/").filter(Boolean).pop();
  return fromUrl || config.queueName;
}

async function publishOutcome(
  config: Config,
  logger: Logger,
  report: Omit<RunReport, "finishedAt">,
): Promise<void> {
  // Loaded only when asked for: prom-client is not worth its start-up time on every cron run.
  const { publishRunMetrics } = await import("../metrics/publish.js");
  await publishRunMetrics({ ...report, finishedAt: new Date() }, config, logger);
}

/** First SIGINT/SIGTERM: stop receiving and finish what is held. Second: leave at once. */
function onSignals(stop: () => void, logger: Logger): void {
  let count = 0;
  const handler = (signal: NodeJS.Signals) => {
    count++;
    if (count === 1) {
      logger.warn({ signal }, "stopping: finishing the messages already received (again to abort)");
      stop();
    } else {
      logger.error(
        { signal },
        "aborting; held messages will reappear after their visibility timeout",
      );
      process.exit(130);
    }
  };
  process.on("SIGINT", handler);
  process.on("SIGTERM", handler);
}

/** Tuning that is not worth a flag; documented in ARCHITECTURE.md. */
export const RUN_DEFAULTS = {
  writeConcurrency: 2,
  lingerMs: 50,
  /**
   * 8 M characters: at most ~16 MB of body text held (UTF-16), whatever the message size. Far
   * above what small messages reach (the count bound holds ~1,700 of them); for 256 KiB bodies
   * it lowered the hostile-body benchmark's peak RSS from 279 to 235 MB, at no cost for them.
   */
  maxHeldChars: 8 * 1024 * 1024,
  /** Longest wait to record the finished run in etl.runs. */
  recordRunTimeoutMs: 5_000,
  /** Longest wait to read the queue's depth after the run (for the metrics). */
  depthReadTimeoutMs: 5_000,
  /** How often a run that is not on a terminal logs a progress line. */
  progressLogIntervalMs: 30_000,
};

export interface RunOptions {
  /** A bar on a terminal, a periodic log line for cron/CI, or nothing (demo, tests). */
  progress?: "bar" | "log" | "none";
  /** SIGINT/SIGTERM: stop receiving, finish what is held. */
  stopSignal?: AbortSignal | undefined;
  /** Receive and transform, but write and delete nothing (messages reappear after the timeout). */
  dryRun?: boolean;
  /** Drain the queue's dead-letter queue (same MessageIds, so the ledger keeps exactly-once). */
  fromDlq?: boolean;
  /** Read the queue's depth (and its dead-letter queue's) after the run, for the metrics. */
  readDepth?: boolean;
}

export interface RunOutcome {
  exitCode: ExitCode;
  summary: RunSummary | undefined;
  /** The queue drained, and its depth after the run when asked for and readable. */
  queue: Pick<RunReport, "queue" | "depth" | "deadLetterDepth">;
}

export async function runEtl(
  config: Config,
  logger: Logger,
  options: RunOptions = {},
): Promise<RunOutcome> {
  const key = config.piiHashKey;
  if (!key) throw new Error("runEtl needs config.piiHashKey (loadConfig with requireKey)");
  const masker = createMasker(key);
  const fingerprint = keyFingerprint(key);
  const cipher = createBodyCipher(key);
  const vaultKey = config.piiVaultKey;
  const vaultFingerprint = vaultKey && keyFingerprint(vaultKey);
  const endpoint = endpointLabel(config);
  const dryRun = options.dryRun === true;
  const startedAt = new Date();
  logger.info(
    {
      endpoint,
      queue: config.queueUrl ?? config.queueName,
      database: redactUrl(config.databaseUrl),
      concurrency: config.concurrency,
      batchSize: config.batchSize,
      dryRun,
      fromDlq: options.fromDlq === true,
      keyFingerprint: fingerprint,
      vaultKeyFingerprint: vaultFingerprint,
    },
    "starting run",
  );

  // If the database is down, nothing is received, so nothing is hidden in the queue.
  const poolSize = RUN_DEFAULTS.writeConcurrency + 1;
  // A dry run writes nothing, not even the schema: it never touches the tables.
  const schema = dryRun ? "as-is" : "migrate";
  // A run that writes seals its vault entries on a thread of its own (vault-sealer.ts), started
  // now so it is ready while the database connects; a failure to start surfaces where it is used.
  const sealing = vaultKey && !dryRun ? startSealWorker(vaultKey) : undefined;
  sealing?.catch(() => {});
  return withDatabaseAndQueue(
    config,
    logger,
    poolSize,
    async (pool, sqs, queueUrl) => {
      // A sealing thread that cannot start fails the run here: nothing received, no key recorded.
      const sealer = await sealing;
      // Before anything is received: masks made with another key would not compare.
      await checkKeyEpoch(pool, fingerprint, {
        record: !dryRun,
        opens: (sealed, messageId) => cipher.open(sealed, messageId) !== null,
        vault: { fingerprint: vaultFingerprint, record: !dryRun },
      });
      const receiver = new Receiver(sqs, {
        queueUrl,
        endpoint,
        waitTimeSeconds: config.waitTimeSeconds,
        visibilityTimeout: config.visibilityTimeout,
      });
      const progress = await startProgress(options.progress ?? "none", sqs, queueUrl, logger);
      const sink = new PostgresSink(pool, {
        cipher,
        maskPayload: (body) => storedPayload(body, masker),
        keys: { hash: fingerprint, vault: sealer },
        logger,
      });
      const deleter = new Deleter(sqs, { queueUrl, endpoint }, logger);
      const keeper = new VisibilityKeeper(
        sqs,
        { queueUrl, endpoint, visibilityTimeout: config.visibilityTimeout },
        logger,
      );
      const stages: Stages = {
        receive: (max, signal) => receiver.receive(max, signal),
        transform: (m) => transformMessage(m, masker),
        write: dryRun ? async (items) => dryRunOutcome(items) : (items) => sink.write(items),
        delete: dryRun
          ? async () => ({ deleted: 0, failed: 0, stale: 0 })
          : (messages) => deleter.delete(messages),
        hold: keeper,
      };

      const { summary: counted, error } = await runPipeline(
        stages,
        {
          concurrency: config.concurrency,
          batchSize: config.batchSize,
          writeConcurrency: RUN_DEFAULTS.writeConcurrency,
          lingerMs: RUN_DEFAULTS.lingerMs,
          maxHeldChars: RUN_DEFAULTS.maxHeldChars,
          maxMessages: config.maxMessages,
          maxRuntimeSeconds: config.maxRuntimeSeconds,
          stopGraceMs: config.stopGraceSeconds * 1_000,
          dryRun,
          onProgress: progress?.update,
          progressIntervalMs: options.progress === "bar" ? 250 : RUN_DEFAULTS.progressLogIntervalMs,
        },
        logger,
        options.stopSignal,
      );
      progress?.stop();
      keeper.stop();
      const summary = { ...counted, visibilityExtensions: keeper.extended };

      let exitCode: ExitCode = ExitCode.OK;
      if (error !== undefined) {
        exitCode = exitCodeOf(error);
        logger.error({ err: errorFields(error) }, `run failed: ${describeError(error)}`);
      } else if (summary.deleteFailed > 0) {
        exitCode = ExitCode.FAILURE;
        logger.error(
          { deleteFailed: summary.deleteFailed },
          "some deletes failed after retries; those messages are committed and will be skipped when redelivered",
        );
      }
      logger.info({ summary, exitCode }, "run finished");
      if (!dryRun) await recordRunOrWarn(pool, { startedAt, exitCode, summary }, logger);
      const queue = {
        queue: queueNameOf({ queueUrl, queueName: config.queueName }),
        ...(options.readDepth
          ? await depthAfterRun(sqs, queueUrl, logger)
          : { depth: "unknown" as const, deadLetterDepth: "unknown" as const }),
      };
      return { exitCode, summary, queue };
    },
    { schema, deadLetter: options.fromDlq === true },
  ).finally(() =>
    sealing?.then(
      (worker) => worker.close(),
      () => {},
    ),
  );
}

/** Depth of the queue and its dead-letter queue; bounded, and nothing when it cannot be read. */
async function depthAfterRun(
  sqs: SQSClient,
  queueUrl: string,
  logger: Logger,
): Promise<Pick<RunReport, "depth" | "deadLetterDepth">> {
  try {
    const info = await within(getQueueInfo(sqs, queueUrl), RUN_DEFAULTS.depthReadTimeoutMs);
    if (info === "timed_out") throw new Error("no answer from SQS in time");
    return { depth: info.depth, deadLetterDepth: info.deadLetter?.depth ?? "none" };
  } catch (err) {
    logger.warn(`queue depth not read for the metrics: ${describeError(err)}`);
    return { depth: "unknown", deadLetterDepth: "unknown" };
  }
}

async function startProgress(
  kind: "bar" | "log" | "none",
  sqs: SQSClient,
  queueUrl: string,
  logger: Logger,
): Promise<Progress | undefined> {
  if (kind === "log") return loggedProgress(logger);
  if (kind === "none") return undefined;
  // The bar's total is the depth seen now; without GetQueueAttributes permission it just grows.
  const depth = await getQueueDepth(sqs, queueUrl).then(
    (d) => d.visible,
    () => 0,
  );
  return terminalProgress(depth);
}

/** What the sink would have reported, without touching the database (--dry-run). */
function dryRunOutcome(items: readonly SinkItem[]): SinkOutcome {
  const rejected: SinkOutcome["rejected"] = {};
  let inserted = 0;
  for (const { result } of items) {
    if (result.kind === "row") inserted++;
    else rejected[result.reason] = (rejected[result.reason] ?? 0) + 1;
  }
  return { inserted, duplicates: 0, rejected };
}

/** The fields of an error worth logging; never the cause's full object (it may hold a query). */
export function errorFields(err: unknown): Record<string, unknown> {
  if (!(err instanceof Error)) return { message: String(err) };
  const fields: Record<string, unknown> = { type: err.name, message: err.message };
  for (const k of ["code", "context"] as const) {
    const v = (err as unknown as Record<string, unknown>)[k];
    if (v !== undefined) fields[k] = v;
  }
  return fields;
}

async function recordRunOrWarn(
  pool: import("pg").Pool,
  run: Parameters<typeof recordRun>[1],
  logger: Logger,
): Promise<void> {
  try {
    // Bounded: after a run gave up on a silent database, recording it must not hang instead.
    const recorded = await within(recordRun(pool, run), RUN_DEFAULTS.recordRunTimeoutMs);
    if (recorded === "timed_out") throw new Error("no answer from the database in time");
  } catch (err) {
    // The run's outcome is already committed; failing to record it must not change the exit code.
    logger.warn(`could not record the run in etl.runs: ${describeError(err)}`);
  }
}
