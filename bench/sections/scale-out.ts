// Scale-out: 1, 2 and 4 `etl run` processes at once on one queue and one database, every SQS
// request ~20 ms away (the delaying proxy), as several cron hosts, a Kubernetes Job with
// `parallelism` or ECS tasks would run them. SQS hides each received message from the other
// processes and the ledger's primary key commits each MessageId once, so the rows must come out
// exactly once whatever the number of processes; what this measures is what that costs and buys.

import { sendBodies } from "../../src/sample/send.js";
import type { BenchOptions } from "../lib/args.js";
import { contenderSpec } from "../lib/contenders.js";
import { counts, freshDatabase } from "../lib/db.js";
import { CLI } from "../lib/paths.js";
import { type Measured, runMeasured } from "../lib/proc.js";
import { busyCores, cpuTimes, machineTicks } from "../lib/procfs.js";
import { startDelayProxy } from "../lib/services.js";
import { createQueue, deleteQueue, queueDepth } from "../lib/sqs.js";
import type { BenchContext, Workload } from "../lib/trial.js";
import { workload } from "../lib/workload.js";

/** What one process said about itself in its `run finished` record. */
interface ProcessSummary {
  exitCode: number | null;
  received: number | undefined;
  inserted: number | undefined;
  duplicates: number | undefined;
}

export interface ScaleOutRow {
  processes: number;
  /** --concurrency of each process. */
  concurrency: number;
  /** Pollers in all processes together (each process runs --concurrency pollers). */
  pollers: number;
  messages: number;
  /** First spawn to last exit. */
  wallSeconds: number;
  /** The same number of processes on an empty queue: start-up, connections, one empty poll. */
  emptyQueueSeconds: number;
  /** messages / (wall − empty-queue wall). */
  drainMessagesPerSecond: number | undefined;
  /** Drain rate ÷ the drain rate of the fewest processes at the same --concurrency. */
  speedup: number | undefined;
  /** Deliveries the ledger turned away: a message received by two processes is loaded once. */
  duplicates: number;
  machineBusyCores: number;
  emulatorBusy: number;
  perProcess: ProcessSummary[];
  correct: boolean;
  check: string;
}

export interface ScaleOutResult {
  messages: number;
  latencyMs: number;
  rows: ScaleOutRow[];
}

let serial = 0;

export async function scaleOutSection(
  ctx: BenchContext,
  options: BenchOptions,
  log: (line: string) => void,
): Promise<ScaleOutResult> {
  const load = workload(options.scaleOutMessages);
  const proxy = await startDelayProxy(ctx.emulator.url, options.latencyMs);
  const rows: ScaleOutRow[] = [];
  try {
    for (const concurrency of options.scaleOutConcurrencies) {
      const first = rows.length;
      for (const processes of options.scaleOutProcesses) {
        const shape = { endpoint: proxy.url, processes, concurrency };
        const empty = await together(ctx, options, shape, { bodies: [], valid: 0 });
        if (!empty.correct) throw new Error(`${processes} processes, empty queue: ${empty.check}`);
        const run = await together(ctx, options, shape, load);
        const drain = run.wallSeconds - empty.wallSeconds;
        const rate = drain > 0 ? load.bodies.length / drain : undefined;
        const base = rows[first]?.drainMessagesPerSecond ?? rate;
        rows.push({
          ...run,
          processes,
          concurrency,
          pollers: processes * concurrency,
          messages: load.bodies.length,
          emptyQueueSeconds: empty.wallSeconds,
          drainMessagesPerSecond: rate,
          speedup: rate === undefined || base === undefined ? undefined : rate / base,
        });
        log(
          `  ${processes} process(es) × ${concurrency} pollers: ${run.wallSeconds.toFixed(2)} s ` +
            `(empty queue ${empty.wallSeconds.toFixed(2)} s)  drain ${Math.round(rate ?? 0)} msg/s  ` +
            `${run.duplicates} duplicate deliveries  ${run.correct ? "ok" : `WRONG: ${run.check}`}`,
        );
      }
    }
  } finally {
    await proxy.stop();
  }
  return { messages: options.scaleOutMessages, latencyMs: options.latencyMs, rows };
}

/** `processes` × `etl run` started together on one fresh queue and one migrated database. */
async function together(
  ctx: BenchContext,
  options: BenchOptions,
  shape: { endpoint: string; processes: number; concurrency: number },
  load: Workload,
) {
  const { endpoint, processes, concurrency } = shape;
  const queueName = `bench-scale-out-${process.pid}-${++serial}`;
  const queueUrl = await createQueue(ctx.sqs, queueName);
  const db = await freshDatabase(ctx.postgres.url);
  try {
    const target = {
      endpoint,
      queueName,
      queueUrl,
      databaseUrl: db.url,
      piiHashKey: ctx.piiHashKey,
    };
    const spec = contenderSpec("etl", target, {
      concurrency,
      etlArgs: options.etlArgs,
      etlNodeArgs: options.etlNodeArgs,
    });
    // Migrated first, as a deployment's database is: the runs measure draining, not the one-off
    // race for the migration lock.
    const init = await runMeasured({ ...spec, args: [CLI, "init-db"] });
    if (init.exitCode !== 0) throw new Error(`init-db failed: ${init.stderrTail.slice(-2000)}`);
    await sendBodies(ctx.sqs, queueUrl, load.bodies, 16);

    const emulatorBefore = cpuTimes(ctx.emulator.pid)?.self ?? 0;
    const machineBefore = machineTicks();
    const started = performance.now();
    const runs = await Promise.all(Array.from({ length: processes }, () => runMeasured(spec)));
    const wallSeconds = (performance.now() - started) / 1_000;
    const machineAfter = machineTicks();
    const emulatorCpu = (cpuTimes(ctx.emulator.pid)?.self ?? 0) - emulatorBefore;

    const perProcess = runs.map(summaryOf);
    const duplicates = perProcess.reduce((n, p) => n + (p.duplicates ?? 0), 0);
    const { correct, check } = await verify(ctx, queueUrl, db.url, load, runs, perProcess);
    return {
      wallSeconds,
      duplicates,
      perProcess,
      correct,
      check,
      emulatorBusy: emulatorCpu / wallSeconds,
      machineBusyCores: busyCores(machineBefore, machineAfter),
    };
  } finally {
    await deleteQueue(ctx.sqs, queueUrl).catch(() => {});
    await db.drop().catch(() => {});
  }
}

function summaryOf(run: Measured): ProcessSummary {
  const finished = run.stderrTail
    .split("\n")
    .reverse()
    .map((line) => {
      try {
        return JSON.parse(line) as { msg?: string; summary?: Record<string, number> };
      } catch {
        return undefined;
      }
    })
    .find((record) => record?.msg === "run finished");
  return {
    exitCode: run.exitCode,
    received: finished?.summary?.received,
    inserted: finished?.summary?.inserted,
    duplicates: finished?.summary?.duplicates,
  };
}

/** Exactly once: every process exited 0, the queue is empty, one ledger row per message. */
async function verify(
  ctx: BenchContext,
  queueUrl: string,
  databaseUrl: string,
  load: Workload,
  runs: Measured[],
  perProcess: ProcessSummary[],
): Promise<{ correct: boolean; check: string }> {
  const problems: string[] = [];
  const failed = runs.filter((r) => r.exitCode !== 0);
  if (failed.length > 0) {
    problems.push(
      `${failed.length} process(es) exited non-zero: ${failed[0]?.stderrTail.slice(-500)}`,
    );
  }
  const depth = await queueDepth(ctx.sqs, queueUrl);
  if (depth.visible !== 0 || depth.inFlight !== 0) {
    problems.push(`queue not empty: ${depth.visible} visible, ${depth.inFlight} in flight`);
  }
  const n = load.bodies.length;
  const invalid = n - load.valid;
  const found = await counts(databaseUrl);
  if (found.rows !== load.valid) problems.push(`${found.rows} rows, expected ${load.valid}`);
  if (found.rejected !== invalid) problems.push(`${found.rejected} rejected, expected ${invalid}`);
  if (found.ledger !== n) problems.push(`${found.ledger} ledger rows, expected ${n}`);
  const inserted = perProcess.reduce((sum, p) => sum + (p.inserted ?? 0), 0);
  if (inserted !== load.valid) problems.push(`the processes report ${inserted} inserted`);
  return problems.length === 0
    ? {
        correct: true,
        check: `queue empty, ${load.valid} rows + ${invalid} rejected, ${n} ledger rows`,
      }
    : { correct: false, check: problems.join("; ") };
}
