// How long `etl --version` takes, process start to exit: what every cron invocation pays before
// doing anything, and a check that commands stay lazily imported.
import { tmpdir } from "node:os";
import { CLI } from "../lib/paths.js";
import { runMeasured } from "../lib/proc.js";
import { median } from "../lib/stats.js";

export interface StartupResult {
  runs: number;
  medianMs: number;
  minMs: number;
  maxMs: number;
}

export async function startupSection(runs = 10): Promise<StartupResult> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const m = await runMeasured({
      command: process.execPath,
      args: [CLI, "--version"],
      env: { PATH: process.env.PATH ?? "" },
      cwd: tmpdir(),
    });
    if (m.exitCode !== 0) throw new Error(`etl --version exited ${m.exitCode}: ${m.stderrTail}`);
    times.push(m.wallMs);
  }
  return {
    runs,
    medianMs: median(times),
    minMs: Math.min(...times),
    maxMs: Math.max(...times),
  };
}
