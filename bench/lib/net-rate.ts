// Fixed costs: a contender run on an empty queue pays everything but the draining (process
// start, imports, connections, schema, queue lookup, one empty 1 s long poll). Subtracting it
// from a real run's wall time gives the drain rate, which is what scaling is about; with a few
// thousand messages the fixed second or two would otherwise flatten every curve.
import type { ContenderName, ContenderOptions } from "./contenders.js";
import { type BenchContext, runTrial, type TrialResult } from "./trial.js";

export interface FixedCost {
  wallSeconds: number;
  cpuSeconds: number;
}

export async function fixedCost(
  ctx: BenchContext,
  contender: ContenderName,
  options: ContenderOptions & { endpoint?: string },
): Promise<FixedCost> {
  const run = await runTrial(ctx, contender, { bodies: [], valid: 0 }, options);
  if (!run.correct) throw new Error(`${contender} failed on an empty queue: ${run.check}`);
  return { wallSeconds: run.wallSeconds, cpuSeconds: run.cpuSeconds };
}

/**
 * Fraction of one core the contender used while draining (its fixed cost removed): near 1.0
 * means its main thread was saturated.
 */
export function drainCpuBusy(run: TrialResult, fixed: FixedCost): number | undefined {
  const wall = run.wallSeconds - fixed.wallSeconds;
  return wall > 0 ? (run.cpuSeconds - fixed.cpuSeconds) / wall : undefined;
}

/** Messages per second of draining alone; undefined if the run was not longer than its fixed cost. */
export function netRate(
  messages: number,
  wallSeconds: number,
  fixedSeconds: number,
): number | undefined {
  const drain = wallSeconds - fixedSeconds;
  return drain > 0 ? messages / drain : undefined;
}
