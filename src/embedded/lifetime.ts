// Temporary services (embedded Postgres for the demo, tests and benchmark) must leave nothing
// behind, whether the process finishes, fails, is interrupted (Ctrl-C, SIGTERM) or is killed:
// - each live service registers a cleanup here; SIGINT/SIGTERM/SIGHUP run them all, then exit
//   with 128 + the signal's number, as a shell reports a signal;
// - a plain exit (an uncaught error included) runs their synchronous fallback;
// - SIGKILL cannot be caught, so every folder records its owner's pid and the next start sweeps
//   the folders of owners that are gone (see sweepStale in postgres.ts).

import { readFileSync } from "node:fs";

export interface Cleanup {
  /** Orderly: stop the service and remove its files. */
  stop(): Promise<void>;
  /** Last resort on process exit, when nothing asynchronous can run. */
  stopSync(): void;
}

const live = new Set<Cleanup>();
const beforeStopping: ((signal: NodeJS.Signals) => Promise<void>)[] = [];
let installed = false;

/** Work that must end before the services stop on a signal (a command still using them). */
export function onSignalFirst(hook: (signal: NodeJS.Signals) => Promise<void>): void {
  install();
  beforeStopping.push(hook);
}

const SIGNALS = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 } as const;

/** Register a live service; the returned function unregisters it (after an orderly stop). */
export function keepTidy(cleanup: Cleanup): () => void {
  install();
  live.add(cleanup);
  return () => {
    live.delete(cleanup);
  };
}

function install(): void {
  if (installed) return;
  installed = true;
  let stopping = false;
  for (const [signal, number] of Object.entries(SIGNALS)) {
    // `on`, not `once`: a second Ctrl-C while we clean up must not kill us halfway through.
    process.on(signal, () => {
      if (stopping) {
        process.stderr.write(`${signal}: still stopping the embedded services\n`);
        return;
      }
      stopping = true;
      process.stderr.write(`${signal}: stopping the embedded services and removing their files\n`);
      const first = beforeStopping.map((hook) => hook(signal as NodeJS.Signals).catch(() => {}));
      void Promise.all(first)
        .then(() => Promise.all([...live].map((c) => c.stop().catch(() => c.stopSync()))))
        .finally(() => process.exit(128 + number));
    });
  }
  process.on("exit", () => {
    for (const cleanup of live) {
      try {
        cleanup.stopSync();
      } catch {
        // Exiting anyway; the next start sweeps what is left.
      }
    }
  });
}

/** Whether a process with this pid exists (signal 0 tests without sending anything). */
export function isAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
  // A killed process whose parent has not reaped it yet is a zombie: it answers signal 0 but is
  // gone. Linux tells us in /proc (field 3 of stat, after the command name in parentheses).
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return true;
  }
}

/** Block the thread for `ms` (only used on the exit path, where nothing asynchronous runs). */
export function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
