// PII vault on vs off: `etl run` on the same messages with the same PII_HASH_KEY, once without
// and once with PII_VAULT_KEY. On, every batch also takes the vault's writers lock (sent with its
// BEGIN), seals each distinct ip and device_id (AES-256-GCM) and inserts them into etl.pii_vault
// in the batch's statement: that is the cost measured here, with what the vault takes on disk per
// distinct value. Trials alternate off/on, each on a fresh queue and database, so a slow spell on
// the machine hits both alike; the summary takes medians.
import { randomBytes } from "node:crypto";
import type { BenchOptions } from "../lib/args.js";
import { type VaultStats, vaultStats } from "../lib/db.js";
import { drainCpuBusy, fixedCost, netRate } from "../lib/net-rate.js";
import { median } from "../lib/stats.js";
import { type BenchContext, runTrial, type TrialResult } from "../lib/trial.js";
import { workload } from "../lib/workload.js";

export const VAULT_MODES = ["off", "on"] as const;
export type VaultMode = (typeof VAULT_MODES)[number];

export interface VaultTrial {
  mode: VaultMode;
  round: number;
  run: TrialResult;
  /** The same mode on an empty queue: start-up, connections, key checks, one empty poll. */
  emptyQueueSeconds: number;
  /** messages / (wall − emptyQueueSeconds). */
  drainMessagesPerSecond: number | undefined;
  drainCpuBusy: number | undefined;
  /** Undefined when the run left no vault to read (it failed before creating its tables). */
  vault: VaultStats | undefined;
  /** The run's own check, and the vault's: one entry per distinct mask on, none off. */
  correct: boolean;
  check: string;
}

export interface VaultSummary {
  mode: VaultMode;
  /** Medians over the rounds. */
  wallSeconds: number;
  messagesPerSecond: number;
  emptyQueueSeconds: number;
  drainMessagesPerSecond: number | undefined;
  drainCpuBusy: number | undefined;
  cpuSeconds: number;
  postgresCpuSeconds: number;
  correct: boolean;
  /** The first wrong trial's check, or the first trial's. */
  check: string;
}

export interface VaultResult {
  messages: number;
  valid: number;
  rounds: number;
  concurrency: number;
  off: VaultSummary;
  on: VaultSummary;
  /** Median msg/s on ÷ median msg/s off, both messages / wall. */
  ratio: number;
  /** The same with drain rates (fixed costs removed), which the vault's cost weighs more in. */
  drainRatio: number | undefined;
  /**
   * Median over the rounds of each round's on ÷ off msg/s: the two trials of a round ran next to
   * each other, so a slow spell that spans a pair cancels out, one that hits a single trial does not.
   */
  pairedRatio: number;
  /** Each round's on ÷ off msg/s, in order. */
  roundRatios: number[];
  /** Of the last vault-on trial (every trial drains the same messages, so they agree). */
  vaultRows: number | undefined;
  /** pg_total_relation_size('etl.pii_vault') ÷ its rows: heap and indexes per distinct value. */
  bytesPerValue: number | undefined;
  /** The part of bytesPerValue in its indexes. */
  indexBytesPerValue: number | undefined;
  avgSealedBytes: number | undefined;
  trials: VaultTrial[];
}

export async function vaultSection(
  ctx: BenchContext,
  options: BenchOptions,
  log: (line: string) => void,
): Promise<VaultResult> {
  const load = workload(options.vaultMessages);
  // A key of its own, as `etl keygen` makes it; `etl run` refuses one equal to PII_HASH_KEY.
  const vaultKey = randomBytes(32).toString("hex");
  const contenderOptions = (mode: VaultMode) => ({
    concurrency: options.concurrency,
    etlArgs: options.etlArgs,
    etlNodeArgs: options.etlNodeArgs,
    etlEnv: mode === "on" ? { PII_VAULT_KEY: vaultKey } : {},
  });
  const trials: VaultTrial[] = [];
  for (let round = 1; round <= options.vaultRounds; round++) {
    for (const mode of VAULT_MODES) {
      const empty = await fixedCost(ctx, "etl", contenderOptions(mode));
      let vault: VaultStats | undefined;
      let unreadable = "the run left no database to inspect";
      const run = await runTrial(ctx, "etl", load, {
        ...contenderOptions(mode),
        // A failed run may have no tables: that makes the trial wrong, not the benchmark crash.
        inspect: async (url) => {
          vault = await vaultStats(url).catch((err: Error) => {
            unreadable = `vault not readable: ${err.message}`;
            return undefined;
          });
        },
      });
      const problems = vault ? vaultProblems(mode, vault) : [unreadable];
      const correct = run.correct && problems.length === 0;
      const check = [
        run.check,
        ...(vault && problems.length === 0 ? [vaultCheck(mode, vault)] : problems),
      ];
      const drain = netRate(run.messages, run.wallSeconds, empty.wallSeconds);
      trials.push({
        mode,
        round,
        run,
        emptyQueueSeconds: empty.wallSeconds,
        drainMessagesPerSecond: drain,
        drainCpuBusy: drainCpuBusy(run, empty),
        vault,
        correct,
        check: check.join("; "),
      });
      log(
        `  round ${round} vault ${mode.padEnd(3)} ${run.wallSeconds.toFixed(2)} s  ` +
          `${Math.round(run.messagesPerSecond)} msg/s  (empty queue ${empty.wallSeconds.toFixed(2)} s, ` +
          `drain ${Math.round(drain ?? 0)} msg/s)  ${vault?.rows ?? "-"} vault rows  ` +
          `${correct ? "ok" : `WRONG: ${check.join("; ")}`}`,
      );
    }
  }
  const off = summarize(trials, "off");
  const on = summarize(trials, "on");
  const last = trials.filter((t) => t.mode === "on").pop()?.vault;
  const rate = (round: number, mode: VaultMode) =>
    trials.find((t) => t.round === round && t.mode === mode)?.run.messagesPerSecond ?? Number.NaN;
  const rounds = [...new Set(trials.map((t) => t.round))];
  const roundRatios = rounds.map((r) => rate(r, "on") / rate(r, "off"));
  return {
    messages: load.bodies.length,
    valid: load.valid,
    rounds: options.vaultRounds,
    concurrency: options.concurrency,
    off,
    on,
    ratio: on.messagesPerSecond / off.messagesPerSecond,
    drainRatio:
      on.drainMessagesPerSecond === undefined || off.drainMessagesPerSecond === undefined
        ? undefined
        : on.drainMessagesPerSecond / off.drainMessagesPerSecond,
    pairedRatio: median(roundRatios),
    roundRatios,
    vaultRows: last?.rows,
    bytesPerValue: last && last.rows > 0 ? last.totalBytes / last.rows : undefined,
    indexBytesPerValue: last && last.rows > 0 ? last.indexBytes / last.rows : undefined,
    avgSealedBytes: last?.avgSealedBytes,
    trials,
  };
}

/** On: exactly one entry per distinct masked ip and device id in user_logins. Off: none. */
function vaultProblems(mode: VaultMode, vault: VaultStats): string[] {
  const expected = mode === "on" ? vault.distinctMasks : 0;
  if (vault.rows === expected) return [];
  return [`${vault.rows} vault rows, expected ${expected}`];
}

function vaultCheck(mode: VaultMode, vault: VaultStats): string {
  return mode === "on" ? `${vault.rows} vault rows = distinct masks` : "vault empty";
}

/** Medians of one mode's trials; rates from the median wall, as the side-by-side section does. */
function summarize(trials: readonly VaultTrial[], mode: VaultMode): VaultSummary {
  const mine = trials.filter((t) => t.mode === mode);
  const messages = mine[0]?.run.messages ?? 0;
  const wall = median(mine.map((t) => t.run.wallSeconds));
  const emptyQueueSeconds = median(mine.map((t) => t.emptyQueueSeconds));
  const busy = mine.map((t) => t.drainCpuBusy).filter((x): x is number => x !== undefined);
  return {
    mode,
    wallSeconds: wall,
    messagesPerSecond: messages / wall,
    emptyQueueSeconds,
    drainMessagesPerSecond: netRate(messages, wall, emptyQueueSeconds),
    drainCpuBusy: busy.length > 0 ? median(busy) : undefined,
    cpuSeconds: median(mine.map((t) => t.run.cpuSeconds)),
    postgresCpuSeconds: median(mine.map((t) => t.run.postgresCpuSeconds)),
    correct: mine.every((t) => t.correct),
    check: mine.find((t) => !t.correct)?.check ?? mine[0]?.check ?? "",
  };
}
