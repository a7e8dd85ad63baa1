// Peak RSS of `etl run` draining a deep queue. login-etl bounds what it holds (batch × 3 +
// pollers × 10 messages), so its peak should not depend on the depth of the queue.
import type { BenchOptions } from "../lib/args.js";
import { peakRss } from "../lib/procfs.js";
import { type BenchContext, runTrial, type TrialResult } from "../lib/trial.js";
import { workload } from "../lib/workload.js";

export interface MemoryResult {
  messages: number;
  etlNodeArgs: string[];
  run: TrialResult;
  /** The emulator's own peak RSS, for scale: it holds the whole queue. */
  emulatorPeakRssMB: number | undefined;
}

export async function memorySection(
  ctx: BenchContext,
  options: BenchOptions,
  log: (line: string) => void,
): Promise<MemoryResult> {
  log(`  seeding ${options.memoryMessages} messages (parallel SendMessageBatch)…`);
  const run = await runTrial(ctx, "etl", workload(options.memoryMessages), {
    concurrency: options.concurrency,
    etlArgs: options.etlArgs,
    etlNodeArgs: options.etlNodeArgs,
  });
  const emulatorPeak = peakRss(ctx.emulator.pid);
  log(
    `  etl ${run.wallSeconds.toFixed(1)} s  peak RSS ${run.peakRssMB?.toFixed(1)} MB  ` +
      `${run.correct ? "ok" : `WRONG: ${run.check}`}`,
  );
  return {
    messages: options.memoryMessages,
    etlNodeArgs: options.etlNodeArgs,
    run,
    emulatorPeakRssMB: emulatorPeak === undefined ? undefined : emulatorPeak / 2 ** 20,
  };
}
