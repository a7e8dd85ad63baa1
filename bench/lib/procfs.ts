// Reading /proc (Linux only): memory high-water marks and CPU times of the processes we measure.
import { readdirSync, readFileSync } from "node:fs";
import { availableParallelism } from "node:os";

/** Clock ticks per second for /proc/<pid>/stat times; 100 on every Linux we run on (getconf CLK_TCK). */
const CLK_TCK = 100;

/** VmHWM (peak resident set size) in bytes, or undefined once the process is gone. */
export function peakRss(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = /^VmHWM:\s+(\d+) kB/m.exec(status)?.[1];
    return kb === undefined ? undefined : Number(kb) * 1024;
  } catch {
    return undefined;
  }
}

export interface CpuTimes {
  /** utime + stime of the process itself, seconds. */
  self: number;
  /** cutime + cstime: CPU of its children that have exited and been reaped, seconds. */
  children: number;
  ppid: number;
}

export function cpuTimes(pid: number | "self"): CpuTimes | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // The command name (field 2) may contain spaces and parentheses: split after the last ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // After the name, fields are numbered from 3 (state); utime is field 14.
  const at = (n: number) => Number(fields[n - 3] ?? 0);
  return {
    self: (at(14) + at(15)) / CLK_TCK,
    children: (at(16) + at(17)) / CLK_TCK,
    ppid: at(4),
  };
}

/** Direct children of a process (scans /proc; cheap enough to call between runs). */
export function childPids(parent: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    if (cpuTimes(Number(name))?.ppid === parent) out.push(Number(name));
  }
  return out;
}

/**
 * Total CPU seconds of a process tree whose short-lived members are reaped by its root, like a
 * Postgres postmaster and its backends: root self + reaped children + live children.
 */
export function treeCpu(root: number): number {
  const rootTimes = cpuTimes(root);
  if (!rootTimes) return 0;
  let total = rootTimes.self + rootTimes.children;
  for (const child of childPids(root)) total += cpuTimes(child)?.self ?? 0;
  return total;
}

/** Cumulative CPU ticks of the whole machine (all cores), busy and total, from /proc/stat. */
export function machineTicks(): { busy: number; total: number } {
  const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0] ?? "";
  // cpu  user nice system idle iowait irq softirq steal guest guest_nice
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] =
    line.trim().split(/\s+/).slice(1).map(Number);
  const busy = user + nice + system + irq + softirq + steal;
  return { busy, total: busy + idle + iowait };
}

/** Cores the whole machine kept busy on average between two machineTicks() readings. */
export function busyCores(
  before: ReturnType<typeof machineTicks>,
  after: ReturnType<typeof machineTicks>,
): number {
  return ((after.busy - before.busy) / (after.total - before.total || 1)) * availableParallelism();
}
