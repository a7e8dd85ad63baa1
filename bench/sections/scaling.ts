// Throughput against --concurrency when every SQS request pays ~20 ms of latency (a delaying
// proxy in front of the emulator), for login-etl and for the ceiling at the same concurrency.
// With latency, one poller is bound by round trips; N pollers should be ~N times faster until
// something (the client's CPU, the emulator, Postgres) saturates.
import type { BenchOptions } from "../lib/args.js";
import { drainCpuBusy, type FixedCost, fixedCost, netRate } from "../lib/net-rate.js";
import { startDelayProxy } from "../lib/services.js";
import { type BenchContext, runTrial, type TrialResult } from "../lib/trial.js";
import { workload } from "../lib/workload.js";

export interface ScalingRow {
  concurrency: number;
  /** Drain rates, msg/s: messages / (wall − wall of the same run on an empty queue). */
  ceiling: number | undefined;
  etl: number | undefined;
  /** Plain messages / wall, for reference. */
  ceilingWallRate: number | undefined;
  etlWallRate: number | undefined;
  /** login-etl msg/s ÷ ceiling msg/s at this concurrency. */
  etlToCeiling: number | undefined;
  /** Cores the machine kept busy during each run (emulator + proxy + contender + Postgres). */
  ceilingMachineBusy: number | undefined;
  etlMachineBusy: number | undefined;
  /** Share of one core login-etl used while draining: near 1.0, its main thread is saturated. */
  etlDrainCpuBusy: number | undefined;
  /** login-etl msg/s ÷ login-etl msg/s at the lowest concurrency. */
  etlSpeedup: number | undefined;
  ceilingSpeedup: number | undefined;
}

export interface ScalingResult {
  messages: number;
  latencyMs: number;
  /** login-etl's default --concurrency, for comparing with the baseline. */
  defaultConcurrency: number;
  rows: ScalingRow[];
  /** One sqs-consumer instance behind the same proxy (it has no concurrency setting). */
  baseline:
    | { messages: number; netMessagesPerSecond: number | undefined; correct: boolean }
    | undefined;
  runs: (TrialResult & {
    fixed: FixedCost;
    netMessagesPerSecond: number | undefined;
    drainCpuBusy: number | undefined;
  })[];
}

export async function scalingSection(
  ctx: BenchContext,
  options: BenchOptions,
  log: (line: string) => void,
): Promise<ScalingResult> {
  const load = workload(options.scalingMessages);
  const proxy = await startDelayProxy(ctx.emulator.url, options.latencyMs);
  const runs: ScalingResult["runs"] = [];
  let baseline: ScalingResult["baseline"];
  try {
    for (const concurrency of options.concurrencies) {
      for (const contender of ["ceiling", "etl"] as const) {
        if (!options.only.includes(contender)) continue;
        const contenderOptions = {
          concurrency,
          etlArgs: options.etlArgs,
          etlNodeArgs: options.etlNodeArgs,
          endpoint: proxy.url,
        };
        const fixed = await fixedCost(ctx, contender, contenderOptions);
        const result = await runTrial(ctx, contender, load, contenderOptions);
        const net = netRate(result.messages, result.wallSeconds, fixed.wallSeconds);
        log(
          `  c=${String(concurrency).padEnd(3)} ${contender.padEnd(8)} ${result.wallSeconds.toFixed(2)} s ` +
            `(empty queue ${fixed.wallSeconds.toFixed(2)} s)  drain ${Math.round(net ?? 0)} msg/s  ` +
            `${result.correct ? "ok" : `WRONG: ${result.check}`}`,
        );
        const drainCpu = drainCpuBusy(result, fixed);
        runs.push({ ...result, fixed, netMessagesPerSecond: net, drainCpuBusy: drainCpu });
      }
    }

    if (options.only.includes("baseline")) {
      // One consumer does receive → insert → delete in sequence: ~3 round trips per 10 messages,
      // so it is slow here; fewer messages give the same rate.
      const small = workload(Math.min(options.scalingMessages, 2_000));
      const contenderOptions = { concurrency: 1, endpoint: proxy.url };
      const fixed = await fixedCost(ctx, "baseline", contenderOptions);
      const result = await runTrial(ctx, "baseline", small, contenderOptions);
      const net = netRate(result.messages, result.wallSeconds, fixed.wallSeconds);
      log(`  baseline ${result.wallSeconds.toFixed(2)} s  drain ${Math.round(net ?? 0)} msg/s`);
      const drainCpu = drainCpuBusy(result, fixed);
      runs.push({ ...result, fixed, netMessagesPerSecond: net, drainCpuBusy: drainCpu });
      baseline = { messages: result.messages, netMessagesPerSecond: net, correct: result.correct };
    }
  } finally {
    await proxy.stop();
  }
  const run = (contender: string, c: number | undefined) =>
    runs.find((r) => r.contender === contender && r.concurrency === c);
  const rate = (contender: string, c: number | undefined) =>
    run(contender, c)?.netMessagesPerSecond;
  const first = options.concurrencies[0];
  const ratio = (a: number | undefined, b: number | undefined) =>
    a === undefined || b === undefined ? undefined : a / b;
  const rows = options.concurrencies.map((concurrency) => {
    const ceiling = rate("ceiling", concurrency);
    const etl = rate("etl", concurrency);
    return {
      concurrency,
      ceiling,
      etl,
      ceilingWallRate: run("ceiling", concurrency)?.messagesPerSecond,
      etlWallRate: run("etl", concurrency)?.messagesPerSecond,
      ceilingMachineBusy: run("ceiling", concurrency)?.machineBusyCores,
      etlMachineBusy: run("etl", concurrency)?.machineBusyCores,
      etlDrainCpuBusy: run("etl", concurrency)?.drainCpuBusy,
      etlToCeiling: ratio(etl, ceiling),
      etlSpeedup: ratio(etl, rate("etl", first)),
      ceilingSpeedup: ratio(ceiling, rate("ceiling", first)),
    };
  });
  return {
    messages: options.scalingMessages,
    latencyMs: options.latencyMs,
    defaultConcurrency: options.concurrency,
    rows,
    baseline,
    runs,
  };
}
