// CPU profiles (`node --cpu-prof`) of login-etl and of the ceiling on the same N messages, summarised
// by category, so the two can be compared per 1,000 messages: what login-etl spends on top of
// the bare receive+delete loop is its own cost (transform, HMAC, pg, pipeline, GC).
import { mkdirSync, readdirSync } from "node:fs";
import { join, relative } from "node:path";
import type { BenchOptions } from "../lib/args.js";
import type { ContenderName } from "../lib/contenders.js";
import {
  ETL_CATEGORIES,
  ETL_PROBES,
  type ProfileSummary,
  summarizeProfile,
} from "../lib/cpuprofile.js";
import { REPO_ROOT, RESULTS_DIR } from "../lib/paths.js";
import { type BenchContext, runTrial, type TrialResult } from "../lib/trial.js";
import { workload } from "../lib/workload.js";

export interface ProfiledRun {
  contender: ContenderName;
  /** The .cpuprofile, relative to the repository (open it in Chrome DevTools → Performance). */
  file: string;
  run: TrialResult;
  profile: ProfileSummary;
}

export interface ProfileResult {
  messages: number;
  runs: ProfiledRun[];
}

export async function profileSection(
  ctx: BenchContext,
  options: BenchOptions,
  log: (line: string) => void,
): Promise<ProfileResult> {
  const load = workload(options.messages);
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const runs: ProfiledRun[] = [];
  for (const contender of ["ceiling", "etl"] as const) {
    if (!options.only.includes(contender)) continue;
    const dir = join(RESULTS_DIR, "profiles", `${stamp}-${contender}`);
    mkdirSync(dir, { recursive: true });
    const run = await runTrial(ctx, contender, load, {
      concurrency: options.concurrency,
      etlArgs: options.etlArgs,
      etlNodeArgs: options.etlNodeArgs,
      nodeOptions: ["--cpu-prof", `--cpu-prof-dir=${dir}`],
    });
    const name = readdirSync(dir).find((f) => f.endsWith(".cpuprofile"));
    if (!name) throw new Error(`no .cpuprofile written in ${dir}`);
    const file = join(dir, name);
    log(
      `  ${contender.padEnd(8)} profiled: ${run.wallSeconds.toFixed(2)} s → ${relative(REPO_ROOT, file)}`,
    );
    runs.push({
      contender,
      file: relative(REPO_ROOT, file),
      run,
      profile: summarizeProfile(file, ETL_CATEGORIES, ETL_PROBES, REPO_ROOT),
    });
  }
  return { messages: options.messages, runs };
}
