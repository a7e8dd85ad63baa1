// Side by side on the same N messages: ceiling (raw receive+delete), login-etl, and the common
// sqs-consumer approach. With --repeat, contenders take turns each round, so a slow spell on the
// machine hits all of them alike; the summary takes medians.
import type { BenchOptions } from "../lib/args.js";
import type { ContenderName } from "../lib/contenders.js";
import { drainCpuBusy, fixedCost, netRate } from "../lib/net-rate.js";
import { max, median } from "../lib/stats.js";
import { type BenchContext, runTrial, type TrialResult } from "../lib/trial.js";
import { workload } from "../lib/workload.js";

export interface ContenderSummary {
  contender: ContenderName;
  runs: number;
  wallSeconds: number;
  messagesPerSecond: number;
  /** Median throughput / the ceiling's median throughput. */
  ratioToCeiling: number | undefined;
  /** Wall time of the same contender on an empty queue: start-up, connections, one empty poll. */
  fixedSeconds: number;
  /** messages / (wall − fixedSeconds): the drain rate without the fixed costs. */
  netMessagesPerSecond: number | undefined;
  netRatioToCeiling: number | undefined;
  /** Share of one core the contender used while draining (net of its empty-queue run). */
  drainCpuBusy: number | undefined;
  peakRssMB: number | undefined;
  cpuSeconds: number;
  emulatorCpuSeconds: number;
  /** Emulator CPU / wall: 1.0 means the emulator kept one core fully busy (it is single-threaded). */
  emulatorBusy: number;
  postgresCpuSeconds: number;
  /** Cores the whole machine kept busy during the run. */
  machineBusyCores: number;
  correct: boolean;
  check: string;
}

export interface CompareResult {
  messages: number;
  valid: number;
  concurrency: number;
  etlArgs: string[];
  etlNodeArgs: string[];
  summary: ContenderSummary[];
  runs: TrialResult[];
}

export async function compareSection(
  ctx: BenchContext,
  options: BenchOptions,
  log: (line: string) => void,
): Promise<CompareResult> {
  const load = workload(options.messages);
  const contenderOptions = {
    concurrency: options.concurrency,
    etlArgs: options.etlArgs,
    etlNodeArgs: options.etlNodeArgs,
  };
  // Each round: the contender on an empty queue (its fixed cost), then on the N messages.
  const fixed = new Map<ContenderName, number[]>();
  const drainCpu = new Map<ContenderName, number[]>();
  const runs: TrialResult[] = [];
  for (let round = 1; round <= options.repeat; round++) {
    for (const contender of options.only) {
      const emptyRun = await fixedCost(ctx, contender, contenderOptions);
      const empty = emptyRun.wallSeconds;
      fixed.set(contender, [...(fixed.get(contender) ?? []), empty]);
      const result = await runTrial(ctx, contender, load, contenderOptions);
      const busy = drainCpuBusy(result, emptyRun);
      if (busy !== undefined) drainCpu.set(contender, [...(drainCpu.get(contender) ?? []), busy]);
      log(
        `  round ${round} ${contender.padEnd(8)} ${result.wallSeconds.toFixed(2)} s  ` +
          `${Math.round(result.messagesPerSecond)} msg/s  (empty queue ${empty.toFixed(2)} s)  ` +
          `${result.correct ? "ok" : `WRONG: ${result.check}`}`,
      );
      runs.push(result);
    }
  }
  const summarize = (contender: ContenderName): ContenderSummary => {
    const mine = runs.filter((r) => r.contender === contender);
    const wall = median(mine.map((r) => r.wallSeconds));
    const emulatorCpu = median(mine.map((r) => r.emulatorCpuSeconds));
    const fixedSeconds = median(fixed.get(contender) ?? []);
    return {
      contender,
      runs: mine.length,
      wallSeconds: wall,
      messagesPerSecond: options.messages / wall,
      ratioToCeiling: undefined,
      fixedSeconds,
      netMessagesPerSecond: netRate(options.messages, wall, fixedSeconds),
      netRatioToCeiling: undefined,
      drainCpuBusy: drainCpu.has(contender) ? median(drainCpu.get(contender) ?? []) : undefined,
      peakRssMB: max(mine.map((r) => r.peakRssMB)),
      cpuSeconds: median(mine.map((r) => r.cpuSeconds)),
      emulatorCpuSeconds: emulatorCpu,
      emulatorBusy: emulatorCpu / wall,
      postgresCpuSeconds: median(mine.map((r) => r.postgresCpuSeconds)),
      machineBusyCores: median(mine.map((r) => r.machineBusyCores)),
      correct: mine.every((r) => r.correct),
      check: mine.find((r) => !r.correct)?.check ?? mine[0]?.check ?? "",
    };
  };
  const summary = options.only.map(summarize);
  const ceiling = summary.find((s) => s.contender === "ceiling");
  for (const s of summary) {
    if (!ceiling) continue;
    s.ratioToCeiling = s.messagesPerSecond / ceiling.messagesPerSecond;
    if (s.netMessagesPerSecond !== undefined && ceiling.netMessagesPerSecond !== undefined) {
      s.netRatioToCeiling = s.netMessagesPerSecond / ceiling.netMessagesPerSecond;
    }
  }
  return {
    messages: options.messages,
    valid: load.valid,
    concurrency: options.concurrency,
    etlArgs: options.etlArgs,
    etlNodeArgs: options.etlNodeArgs,
    summary,
    runs,
  };
}
