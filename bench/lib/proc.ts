// Running one contender as its own process and measuring it from the outside: wall time from
// spawn to exit, peak RSS (VmHWM polled every 50 ms), CPU seconds, and its output.
import { spawn } from "node:child_process";
import { performance } from "node:perf_hooks";
import { cpuTimes, peakRss } from "./procfs.js";

export interface RunSpec {
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  cwd?: string;
  /** Kill the process after this long (a hung contender must not hang the benchmark). */
  timeoutMs?: number;
}

export interface Measured {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  wallMs: number;
  /** VmHWM of the process; undefined only if it exited before the first sample. */
  peakRssBytes: number | undefined;
  /** User + system CPU of the process (and anything it reaped), seconds. */
  cpuSeconds: number;
  stdout: string;
  /** The last 64 KiB of stderr, for diagnosing a failed run. */
  stderrTail: string;
  timedOut: boolean;
}

const SAMPLE_MS = 50;
const STDERR_KEEP = 64 * 1024;

export function runMeasured(spec: RunSpec): Promise<Measured> {
  // Our own cutime/cstime grow by exactly the child's CPU once it is reaped; the long-lived
  // services (Postgres, emulator, proxy) are not reaped during a run, so the delta is the child's.
  const reapedBefore = cpuTimes("self")?.children ?? 0;
  const started = performance.now();
  const child = spawn(spec.command, spec.args, {
    env: spec.env,
    cwd: spec.cwd,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let peak: number | undefined;
  const sample = () => {
    if (child.pid === undefined) return;
    const hwm = peakRss(child.pid);
    if (hwm !== undefined) peak = Math.max(peak ?? 0, hwm);
  };
  sample();
  const sampler = setInterval(sample, SAMPLE_MS);

  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk;
  });
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
    stderr = (stderr + chunk).slice(-STDERR_KEEP);
  });

  let timedOut = false;
  const killer =
    spec.timeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          timedOut = true;
          child.kill("SIGKILL");
        }, spec.timeoutMs);

  let wallMs = 0;
  child.on("exit", () => {
    wallMs = performance.now() - started;
    clearInterval(sampler);
    clearTimeout(killer);
  });
  return new Promise((resolve, reject) => {
    child.on("error", (err) => {
      clearInterval(sampler);
      clearTimeout(killer);
      reject(err);
    });
    // 'close' comes after 'exit' once stdout/stderr are drained.
    child.on("close", (exitCode, signal) => {
      const reapedAfter = cpuTimes("self")?.children ?? reapedBefore;
      resolve({
        exitCode,
        signal,
        wallMs,
        peakRssBytes: peak,
        cpuSeconds: reapedAfter - reapedBefore,
        stdout,
        stderrTail: stderr,
        timedOut,
      });
    });
  });
}
