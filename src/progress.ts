// Progress during long runs: a bar on a terminal, a periodic log line everywhere else (so a
// cron job draining a backlog still shows it is alive in the shipped logs).
import type { Logger } from "./logger.js";
import type { RunSummary } from "./summary.js";

export interface Progress {
  update(summary: RunSummary): void;
  stop(): void;
}

/** A bar whose total is the queue depth seen at the start (it grows if the queue does). */
export async function terminalProgress(initialDepth: number): Promise<Progress> {
  // Loaded only for a terminal: a cron run has no use for it and would pay ~7 ms to load it.
  const { default: cliProgress } = await import("cli-progress");
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format:
        "draining |{bar}| {value}/{total} messages · {rate} msg/s · {inserted} loaded · {rejected} rejected",
      hideCursor: true,
      clearOnComplete: true,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  let total = Math.max(initialDepth, 1);
  bar.start(total, 0, { rate: 0, inserted: 0, rejected: 0 });
  return {
    update(s) {
      if (s.received > total) {
        total = s.received;
        bar.setTotal(total);
      }
      bar.update(s.received, {
        rate: s.messagesPerSecond,
        inserted: s.inserted,
        rejected: s.rejectedTotal,
      });
    },
    stop: () => bar.stop(),
  };
}

export function loggedProgress(logger: Logger): Progress {
  return {
    update(s) {
      logger.info(
        {
          received: s.received,
          inserted: s.inserted,
          duplicates: s.duplicates,
          rejected: s.rejectedTotal,
          deleted: s.deleted,
          messagesPerSecond: s.messagesPerSecond,
        },
        "progress",
      );
    },
    stop: () => {},
  };
}
