// Counters for one run and the summary printed at its end.
import type { RejectReason } from "./types.js";

export type StopReason = "drained" | "max_messages" | "max_runtime" | "signal" | "error";

export interface RunSummary {
  received: number;
  inserted: number;
  /** Messages whose outcome an earlier delivery or run had already committed. */
  duplicates: number;
  rejected: Partial<Record<RejectReason, number>>;
  rejectedTotal: number;
  deleted: number;
  /** Deletes given up on after retries (the messages will be redelivered and skipped). */
  deleteFailed: number;
  /** Receipt handles that had expired: the message was received again elsewhere. */
  staleReceipts: number;
  /**
   * Still held when the stop grace ran out (their batch never finished): no longer extended, so
   * they return to the queue after their visibility timeout and the next run takes them.
   */
  abandoned: number;
  /** Fields present in bodies but not columns, by name (at most MAX_FIELD_NAMES names). */
  droppedFields: Record<string, number>;
  seconds: number;
  /** Received per second from the start to the last batch (the final empty poll left out). */
  messagesPerSecond: number;
  drained: boolean;
  stopReason: StopReason;
  dryRun: boolean;
  /** Held messages whose visibility timeout was extended (slow batches). */
  visibilityExtensions?: number;
}

// Field names come from untrusted bodies: cap how many distinct ones we keep and how long.
const MAX_FIELD_NAMES = 20;
const MAX_FIELD_NAME_LENGTH = 64;

export class RunStats {
  received = 0;
  inserted = 0;
  duplicates = 0;
  deleted = 0;
  deleteFailed = 0;
  staleReceipts = 0;
  abandoned = 0;
  readonly rejected: Partial<Record<RejectReason, number>> = {};
  readonly droppedFields = new Map<string, number>();
  private readonly startedAt = performance.now();
  /** When the last batch finished: the rate leaves out the final empty long poll. */
  private lastBatchAt: number | undefined;

  batchDone(): void {
    this.lastBatchAt = performance.now();
  }

  addRejected(byReason: Partial<Record<RejectReason, number>>): void {
    for (const [reason, n] of Object.entries(byReason) as [RejectReason, number][]) {
      this.rejected[reason] = (this.rejected[reason] ?? 0) + n;
    }
  }

  addDroppedFields(names: readonly string[]): void {
    for (const raw of names) {
      let name = raw.slice(0, MAX_FIELD_NAME_LENGTH);
      if (!this.droppedFields.has(name) && this.droppedFields.size >= MAX_FIELD_NAMES) {
        name = "(other)";
      }
      this.droppedFields.set(name, (this.droppedFields.get(name) ?? 0) + 1);
    }
  }

  get rejectedTotal(): number {
    return Object.values(this.rejected).reduce((a, b) => a + (b ?? 0), 0);
  }

  summarize(stopReason: StopReason, dryRun: boolean): RunSummary {
    const seconds = (performance.now() - this.startedAt) / 1_000;
    const busySeconds = ((this.lastBatchAt ?? performance.now()) - this.startedAt) / 1_000;
    return {
      received: this.received,
      inserted: this.inserted,
      duplicates: this.duplicates,
      rejected: { ...this.rejected },
      rejectedTotal: this.rejectedTotal,
      deleted: this.deleted,
      deleteFailed: this.deleteFailed,
      staleReceipts: this.staleReceipts,
      abandoned: this.abandoned,
      droppedFields: Object.fromEntries(this.droppedFields),
      seconds: Math.round(seconds * 1_000) / 1_000,
      messagesPerSecond: busySeconds > 0 ? Math.round(this.received / busySeconds) : 0,
      drained: stopReason === "drained",
      stopReason,
      dryRun,
    };
  }
}

/** A few aligned lines for a person at a terminal; cron gets the JSON log line instead. */
export function formatSummary(s: RunSummary): string {
  const reasons = Object.entries(s.rejected)
    .map(([reason, n]) => `${reason}=${n}`)
    .join(", ");
  // A dry run wrote nothing: it says what a real run would have done.
  const line = (done: string, dryRun: string, value: string) =>
    `${(s.dryRun ? dryRun : done).padEnd(13)}${value}`;
  const lines = [
    line("received", "received", String(s.received)),
    line("inserted", "would insert", String(s.inserted)),
    line("duplicates", "duplicates", `${s.duplicates} (already loaded earlier; skipped)`),
    line("rejected", "would reject", `${s.rejectedTotal}${reasons ? ` (${reasons})` : ""}`),
    line(
      "deleted",
      "deleted",
      `${s.deleted}${s.deleteFailed ? ` (${s.deleteFailed} failed; they will be redelivered)` : ""}`,
    ),
    ...(s.abandoned > 0
      ? [
          line(
            "abandoned",
            "abandoned",
            `${s.abandoned} (their batch did not finish in time; they return to the queue)`,
          ),
        ]
      : []),
    line("time", "time", `${s.seconds.toFixed(1)} s, ${s.messagesPerSecond} msg/s`),
    line(
      "stopped",
      "stopped",
      `${s.drained ? "queue drained" : s.stopReason}${s.dryRun ? " (dry run: nothing written or deleted)" : ""}`,
    ),
  ];
  return lines.join("\n");
}
