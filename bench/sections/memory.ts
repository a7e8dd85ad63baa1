// Peak RSS of `etl run` draining a deep queue, twice: plain (`node cli.js run`, as `npx etl run`
// starts it) and as deployed (with the heap flag the Dockerfile's ENTRYPOINT and the README's cron
// line pass). login-etl bounds what it holds (batch × 3 + pollers × 10 messages), so neither peak
// should depend on the depth of the queue; the difference between the two is V8's heap sizing.
import type { BenchOptions } from "../lib/args.js";
import { peakRss } from "../lib/procfs.js";
import { type BenchContext, runTrial, type TrialResult } from "../lib/trial.js";
import { hostileWorkload, workload } from "../lib/workload.js";

/** The node flags of the Dockerfile's ENTRYPOINT and the README's cron line. */
export const DEPLOYED_NODE_ARGS = ["--max-old-space-size=256"];

export interface MemoryRun {
  /** plain and deployed: the sample workload; hostile: bodies that grow nine-fold under masking. */
  label: "plain" | "deployed" | "hostile";
  etlNodeArgs: string[];
  run: TrialResult;
}

export interface MemoryResult {
  messages: number;
  hostileMessages: number;
  runs: MemoryRun[];
  /** The emulator's own peak RSS, for scale: it holds the whole queue. */
  emulatorPeakRssMB: number | undefined;
}

export async function memorySection(
  ctx: BenchContext,
  options: BenchOptions,
  log: (line: string) => void,
): Promise<MemoryResult> {
  // --etl-node-arg replaces "plain" with a run of the given flags.
  const variants: Pick<MemoryRun, "label" | "etlNodeArgs">[] = [
    { label: "plain", etlNodeArgs: options.etlNodeArgs },
    { label: "deployed", etlNodeArgs: DEPLOYED_NODE_ARGS },
  ];
  const runs: MemoryRun[] = [];
  for (const variant of variants) {
    log(
      `  ${variant.label}: seeding ${options.memoryMessages} messages (parallel SendMessageBatch)…`,
    );
    const run = await runTrial(ctx, "etl", workload(options.memoryMessages), {
      concurrency: options.concurrency,
      etlArgs: options.etlArgs,
      etlNodeArgs: variant.etlNodeArgs,
    });
    log(
      `  ${variant.label}: etl ${run.wallSeconds.toFixed(1)} s  peak RSS ${run.peakRssMB?.toFixed(1)} MB  ` +
        `${run.correct ? "ok" : `WRONG: ${run.check}`}`,
    );
    runs.push({ ...variant, run });
  }
  log(`  hostile: seeding ${options.hostileMessages} × 256 KiB bodies of "1.1.1.1."…`);
  const hostile = await runTrial(ctx, "etl", hostileWorkload(options.hostileMessages), {
    concurrency: options.concurrency,
    etlArgs: options.etlArgs,
    etlNodeArgs: DEPLOYED_NODE_ARGS,
  });
  log(
    `  hostile: etl ${hostile.wallSeconds.toFixed(1)} s  peak RSS ${hostile.peakRssMB?.toFixed(1)} MB  ` +
      `${hostile.correct ? "ok" : `WRONG: ${hostile.check}`}`,
  );
  runs.push({ label: "hostile", etlNodeArgs: DEPLOYED_NODE_ARGS, run: hostile });
  const emulatorPeak = peakRss(ctx.emulator.pid);
  return {
    messages: options.memoryMessages,
    hostileMessages: options.hostileMessages,
    runs,
    emulatorPeakRssMB: emulatorPeak === undefined ? undefined : emulatorPeak / 2 ** 20,
  };
}
