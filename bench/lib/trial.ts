// One measured run of one contender: fresh queue seeded with the given bodies, fresh database,
// run the contender process, then check what it did (queue empty, right number of rows).
import { randomBytes } from "node:crypto";
import type { SQSClient } from "@aws-sdk/client-sqs";
import { sendBodies } from "../../src/sample/send.js";
import { type ContenderName, type ContenderOptions, contenderSpec } from "./contenders.js";
import { counts, freshDatabase } from "./db.js";
import { type Measured, runMeasured } from "./proc.js";
import { busyCores, cpuTimes, machineTicks, treeCpu } from "./procfs.js";
import type { Service } from "./services.js";
import { createQueue, deleteQueue, queueDepth } from "./sqs.js";

export interface BenchContext {
  /** Orchestrator's client, straight to the emulator (seeding and checks never go through the proxy). */
  sqs: SQSClient;
  emulator: Service;
  postgres: Service;
  piiHashKey: string;
}

export function newContext(sqs: SQSClient, emulator: Service, postgres: Service): BenchContext {
  return { sqs, emulator, postgres, piiHashKey: randomBytes(32).toString("hex") };
}

export interface Workload {
  bodies: readonly string[];
  /** Bodies that must become rows; the rest must be rejected (login-etl) or skipped. */
  valid: number;
}

export interface TrialResult {
  contender: ContenderName;
  concurrency: number;
  messages: number;
  wallSeconds: number;
  messagesPerSecond: number;
  peakRssMB: number | undefined;
  cpuSeconds: number;
  /** CPU seconds the emulator spent during the run; / wallSeconds = cores it kept busy. */
  emulatorCpuSeconds: number;
  postgresCpuSeconds: number;
  /** Cores the whole machine kept busy on average during the run (of availableParallelism()). */
  machineBusyCores: number;
  correct: boolean;
  /** What was checked, and what was found when something is wrong. */
  check: string;
  exitCode: number | null;
  stderrTail?: string;
}

let serial = 0;

export async function runTrial(
  ctx: BenchContext,
  contender: ContenderName,
  workload: Workload,
  options: ContenderOptions & {
    endpoint?: string;
    /** Reads what the run left in its database, after the checks and before the database is dropped. */
    inspect?: (databaseUrl: string) => Promise<void>;
  },
): Promise<TrialResult> {
  const queueName = `bench-${contender}-${process.pid}-${++serial}`;
  const queueUrl = await createQueue(ctx.sqs, queueName);
  const db = contender === "ceiling" ? undefined : await freshDatabase(ctx.postgres.url);
  try {
    await sendBodies(ctx.sqs, queueUrl, workload.bodies, 16);
    const spec = contenderSpec(
      contender,
      {
        endpoint: options.endpoint ?? ctx.emulator.url,
        queueName,
        queueUrl,
        databaseUrl: db?.url ?? "",
        piiHashKey: ctx.piiHashKey,
      },
      options,
    );
    const emulatorBefore = cpuTimes(ctx.emulator.pid)?.self ?? 0;
    const postgresBefore = treeCpu(ctx.postgres.pid);
    const machineBefore = machineTicks();
    const measured = await runMeasured(spec);
    const machineAfter = machineTicks();
    const emulatorCpuSeconds = (cpuTimes(ctx.emulator.pid)?.self ?? 0) - emulatorBefore;
    const postgresCpuSeconds = treeCpu(ctx.postgres.pid) - postgresBefore;

    const { correct, check } = await verify(ctx, contender, workload, queueUrl, db?.url, measured);
    if (db && options.inspect) await options.inspect(db.url);
    const n = workload.bodies.length;
    const wallSeconds = measured.wallMs / 1000;
    return {
      contender,
      concurrency: options.concurrency,
      messages: n,
      wallSeconds,
      messagesPerSecond: n / wallSeconds,
      peakRssMB: measured.peakRssBytes === undefined ? undefined : measured.peakRssBytes / 2 ** 20,
      cpuSeconds: measured.cpuSeconds,
      emulatorCpuSeconds,
      postgresCpuSeconds,
      machineBusyCores: busyCores(machineBefore, machineAfter),
      correct,
      check,
      exitCode: measured.exitCode,
      ...(correct ? {} : { stderrTail: measured.stderrTail.slice(-4000) }),
    };
  } finally {
    await deleteQueue(ctx.sqs, queueUrl).catch(() => {});
    await db?.drop().catch(() => {});
  }
}

async function verify(
  ctx: BenchContext,
  contender: ContenderName,
  workload: Workload,
  queueUrl: string,
  databaseUrl: string | undefined,
  measured: Measured,
): Promise<{ correct: boolean; check: string }> {
  const problems: string[] = [];
  if (measured.exitCode !== 0) {
    problems.push(
      `exit ${measured.exitCode ?? measured.signal}${measured.timedOut ? " (timeout)" : ""}`,
    );
  }
  const depth = await queueDepth(ctx.sqs, queueUrl);
  if (depth.visible !== 0 || depth.inFlight !== 0) {
    problems.push(`queue not empty: ${depth.visible} visible, ${depth.inFlight} in flight`);
  }
  const invalid = workload.bodies.length - workload.valid;
  if (contender === "ceiling") {
    const out = lastJsonLine(measured.stdout);
    if (out?.deleted !== workload.bodies.length) {
      problems.push(`deleted ${String(out?.deleted)} of ${workload.bodies.length}`);
    }
  } else if (databaseUrl) {
    const found = await counts(databaseUrl);
    if (found.rows !== workload.valid)
      problems.push(`${found.rows} rows, expected ${workload.valid}`);
    if (contender === "etl" && found.rejected !== invalid) {
      problems.push(`${found.rejected} rejected, expected ${invalid}`);
    }
  }
  const expected =
    contender === "ceiling"
      ? "queue empty, all deleted"
      : contender === "etl"
        ? `queue empty, ${workload.valid} rows + ${invalid} rejected`
        : `queue empty, ${workload.valid} rows`;
  return problems.length === 0
    ? { correct: true, check: expected }
    : { correct: false, check: problems.join("; ") };
}

function lastJsonLine(stdout: string): Record<string, unknown> | undefined {
  const line = stdout.trim().split("\n").pop();
  if (!line) return undefined;
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}
