// The metrics a run publishes: declared once here. The README's metrics table, the alert rules
// (ops/prometheus/alerts.yml) and the dashboard are checked against this list by the tests, so a
// renamed metric cannot silently break a dashboard.
//
// Prometheus' guidance for batch jobs: publish gauges describing the last run (not counters),
// with the time of the last success as its own gauge, so "has not succeeded for N hours" is one
// comparison with time().
import { Gauge, Registry } from "prom-client";
import type { QueueDepth } from "../source/queue-info.js";
import type { RunSummary } from "../summary.js";
import { REJECT_REASONS } from "../types.js";

/** What happened to the messages of the last run (`login_etl_last_run_messages{outcome}`). */
export const MESSAGE_OUTCOMES = [
  "received",
  "inserted",
  "duplicate",
  "quarantined",
  "deleted",
  "delete_failed",
  "abandoned",
] as const;
type Outcome = (typeof MESSAGE_OUTCOMES)[number];

/** `login_etl_queue_messages{state}`: each state and the depth field it reports. */
const DEPTH_STATES = {
  visible: "visible",
  in_flight: "inFlight",
  delayed: "delayed",
} as const satisfies Record<string, keyof QueueDepth>;

interface MetricSpec {
  name: `login_etl_${string}`;
  help: string;
  /** Labels besides `queue`, which every metric carries. */
  labels: readonly string[];
}

const metric = <const M extends MetricSpec>(spec: M) => spec;

export const METRICS = {
  lastRunTimestamp: metric({
    name: "login_etl_last_run_timestamp_seconds",
    help: "When the last run ended (Unix time), whatever its outcome.",
    labels: [],
  }),
  lastSuccessTimestamp: metric({
    name: "login_etl_last_success_timestamp_seconds",
    help: "When the last run that exited 0 ended (Unix time); a failed run leaves it unchanged.",
    labels: [],
  }),
  lastRunDuration: metric({
    name: "login_etl_last_run_duration_seconds",
    help: "How long the last run took, start-up waits included.",
    labels: [],
  }),
  lastRunExitCode: metric({
    name: "login_etl_last_run_exit_code",
    help: "Exit code of the last run: 0 ok, 1 runtime failure, 2 usage or configuration error.",
    labels: [],
  }),
  lastRunMessages: metric({
    name: "login_etl_last_run_messages",
    help: "Messages of the last run by outcome; quarantined = rejected into etl.rejected_messages.",
    labels: ["outcome"],
  }),
  lastRunQuarantined: metric({
    name: "login_etl_last_run_quarantined",
    help: "Messages the last run rejected into etl.rejected_messages, by reason.",
    labels: ["reason"],
  }),
  queueMessages: metric({
    name: "login_etl_queue_messages",
    help: "Approximate messages in the queue after the last run, by state (NaN if unknown).",
    labels: ["state"],
  }),
  deadLetterQueueMessages: metric({
    name: "login_etl_dead_letter_queue_messages",
    help: "Approximate messages in the queue's dead-letter queue after the last run (NaN if unknown).",
    labels: [],
  }),
} as const;

/** Everything one finished (or failed) run says about itself. */
export interface RunReport {
  /** The queue drained (its name): the `queue` label and the Pushgateway grouping key. */
  queue: string;
  startedAt: Date;
  finishedAt: Date;
  exitCode: number;
  /** Undefined when the run failed before receiving (nothing was received). */
  summary: RunSummary | undefined;
  /** Read after the run; "unknown" when it could not be (or the run never got that far). */
  depth: QueueDepth | "unknown";
  /** The dead-letter queue's depth; "none" when the queue has no redrive policy. */
  deadLetterDepth: QueueDepth | "none" | "unknown";
}

const seconds = (d: Date) => d.getTime() / 1_000;

/**
 * The run as a prom-client registry. `lastSuccess` is the success time to publish when this run
 * failed (the previous one, carried over); a run that exited 0 publishes its own end time.
 */
export function runRegistry(report: RunReport, lastSuccess?: number): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ queue: report.queue });
  const gauge = (spec: MetricSpec) =>
    new Gauge({ name: spec.name, help: spec.help, labelNames: spec.labels, registers: [registry] });

  gauge(METRICS.lastRunTimestamp).set(seconds(report.finishedAt));
  const success = report.exitCode === 0 ? seconds(report.finishedAt) : lastSuccess;
  if (success !== undefined) gauge(METRICS.lastSuccessTimestamp).set(success);
  gauge(METRICS.lastRunDuration).set(
    (report.finishedAt.getTime() - report.startedAt.getTime()) / 1_000,
  );
  gauge(METRICS.lastRunExitCode).set(report.exitCode);

  // Every series is written, zeros included: a series that appears only when non-zero breaks
  // rate-of-share alerts and leaves gaps in dashboards.
  const s = report.summary;
  const counts: Record<Outcome, number> = {
    received: s?.received ?? 0,
    inserted: s?.inserted ?? 0,
    duplicate: s?.duplicates ?? 0,
    quarantined: s?.rejectedTotal ?? 0,
    deleted: s?.deleted ?? 0,
    delete_failed: s?.deleteFailed ?? 0,
    abandoned: s?.abandoned ?? 0,
  };
  const messages = gauge(METRICS.lastRunMessages);
  for (const outcome of MESSAGE_OUTCOMES) messages.set({ outcome }, counts[outcome]);
  const quarantined = gauge(METRICS.lastRunQuarantined);
  for (const reason of REJECT_REASONS) quarantined.set({ reason }, s?.rejected[reason] ?? 0);

  // An unknown depth is NaN, not absent: a Pushgateway keeps what it was last given for a metric
  // that is not sent, so leaving it out would keep showing a depth read by an earlier run.
  const { depth, deadLetterDepth } = report;
  const queueMessages = gauge(METRICS.queueMessages);
  for (const [state, field] of Object.entries(DEPTH_STATES)) {
    queueMessages.set({ state }, depth === "unknown" ? Number.NaN : depth[field]);
  }
  if (deadLetterDepth !== "none") {
    gauge(METRICS.deadLetterQueueMessages).set(
      deadLetterDepth === "unknown" ? Number.NaN : deadLetterDepth.visible,
    );
  }
  return registry;
}
