// The printed report: one table per section, then the targets.
import type { CompareResult } from "../sections/compare.js";
import type { MemoryResult } from "../sections/memory.js";
import type { ProfiledRun, ProfileResult } from "../sections/profile.js";
import type { ScaleOutResult } from "../sections/scale-out.js";
import type { ScalingResult } from "../sections/scaling.js";
import type { StartupResult } from "../sections/startup.js";
import type { VaultResult } from "../sections/vault.js";
import type { ProfileSummary } from "./cpuprofile.js";
import { fmt } from "./stats.js";
import type { Target } from "./targets.js";

export interface Sections {
  compare?: CompareResult;
  profile?: ProfileResult;
  scaling?: ScalingResult;
  scaleOut?: ScaleOutResult;
  vault?: VaultResult;
  memory?: MemoryResult;
  startup?: StartupResult;
}

function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join("  ");
  return [line(head), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

const passFail = (pass: boolean) => (pass ? "PASS" : "FAIL");

export function formatReport(s: Sections, targets: Target[]): string {
  const out: string[] = [];
  if (s.compare) {
    const c = s.compare;
    out.push(
      `\n== Side by side: ${c.messages} messages (${c.valid} valid), ${c.concurrency} pollers for ceiling and login-etl` +
        (c.etlArgs.length > 0 ? `, etl run ${c.etlArgs.join(" ")}` : "") +
        (c.etlNodeArgs.length > 0 ? `, node ${c.etlNodeArgs.join(" ")} for login-etl` : ""),
      table(
        [
          "contender",
          "wall s",
          "msg/s",
          "× ceiling",
          "empty-queue s",
          "drain msg/s",
          "× ceiling",
          "peak RSS MB",
          "CPU s",
          "drain CPU",
          "emulator busy",
          "pg CPU s",
          "cores busy",
          "check",
        ],
        c.summary.map((r) => [
          r.contender === "etl" ? "login-etl" : r.contender,
          fmt(r.wallSeconds, 2),
          fmt(r.messagesPerSecond),
          fmt(r.ratioToCeiling, 2),
          fmt(r.fixedSeconds, 2),
          fmt(r.netMessagesPerSecond),
          fmt(r.netRatioToCeiling, 2),
          fmt(r.peakRssMB, 1),
          fmt(r.cpuSeconds, 2),
          fmt(r.drainCpuBusy, 2),
          `${fmt(r.emulatorBusy * 100)}%`,
          fmt(r.postgresCpuSeconds, 2),
          fmt(r.machineBusyCores, 2),
          `${r.correct ? "ok" : "WRONG"}: ${r.check}`,
        ]),
      ),
      "Wall time is process start to exit, including start-up, connections and one final empty 1 s long poll",
      "(all contenders use WaitTimeSeconds=1 and stop at their first empty poll). msg/s = messages / wall.",
      "empty-queue s = the same contender on an empty queue (its fixed cost); drain msg/s = messages / (wall − that).",
      "Baseline = ONE sqs-consumer instance (the common approach: batchSize 10, multi-row INSERT, HMAC-SHA-256",
      "masking, wrong-shape messages dropped). Emulator busy = emulator CPU / wall (100% = one core, its limit).",
      "drain CPU = contender CPU ÷ wall, both net of its empty-queue run, in cores: ≥ 1.0 means its main",
      "thread is saturated (V8's GC threads add the rest). Cores busy = the whole machine, run average.",
    );
    if (c.runs.length > c.summary.length)
      out.push(`Medians of ${c.runs.length / c.summary.length} rounds.`);
  }
  if (s.profile) out.push(formatProfiles(s.profile));
  if (s.scaleOut) out.push(formatScaleOut(s.scaleOut));
  if (s.vault) out.push(formatVault(s.vault));
  if (s.scaling) {
    const sc = s.scaling;
    out.push(
      `\n== Scaling: ${sc.messages} messages, +${sc.latencyMs} ms on every SQS request (delaying proxy)`,
      table(
        [
          "concurrency",
          "ceiling drain msg/s",
          "login-etl drain msg/s",
          "etl ÷ ceiling",
          "etl speedup",
          "ceiling speedup",
          "ceiling msg/s (wall)",
          "etl msg/s (wall)",
          "cores busy (ceiling/etl)",
          "etl drain CPU",
        ],
        sc.rows.map((r) => [
          String(r.concurrency),
          fmt(r.ceiling),
          fmt(r.etl),
          fmt(r.etlToCeiling, 2),
          r.etlSpeedup === undefined ? "-" : `${fmt(r.etlSpeedup, 2)} ×`,
          r.ceilingSpeedup === undefined ? "-" : `${fmt(r.ceilingSpeedup, 2)} ×`,
          fmt(r.ceilingWallRate),
          fmt(r.etlWallRate),
          `${fmt(r.ceilingMachineBusy, 2)} / ${fmt(r.etlMachineBusy, 2)}`,
          fmt(r.etlDrainCpuBusy, 2),
        ]),
      ),
      "drain msg/s = messages / (wall − wall of the same contender and concurrency on an empty queue);",
      "speedups and ratios use drain rates. msg/s (wall) = messages / wall, fixed costs included.",
      "cores busy = the whole machine (emulator + proxy + contender + Postgres) during the run;",
      "etl drain CPU = login-etl's CPU ÷ wall, both net of its empty-queue run, in cores: ≥ 1.0 means its",
      "main thread is saturated (V8's GC threads add the rest).",
    );
    if (sc.baseline) {
      const etlDefault = sc.rows.find((r) => r.concurrency === sc.defaultConcurrency)?.etl;
      out.push(
        `baseline (one sqs-consumer) behind the same proxy: drain ${fmt(sc.baseline.netMessagesPerSecond)} msg/s ` +
          `on ${sc.baseline.messages} messages${sc.baseline.correct ? "" : " (WRONG)"}` +
          (etlDefault !== undefined && sc.baseline.netMessagesPerSecond
            ? `; login-etl at its default ${sc.defaultConcurrency} pollers: ${fmt(etlDefault / sc.baseline.netMessagesPerSecond, 1)} × that.`
            : "."),
      );
    }
  }
  if (s.memory) {
    const m = s.memory;
    out.push(
      `\n== Memory: etl run draining ${m.messages} messages (hostile: ${m.hostileMessages} × 256 KiB bodies that grow nine-fold under masking)`,
    );
    for (const { label, etlNodeArgs, run } of m.runs) {
      const flags = etlNodeArgs.length > 0 ? `node ${etlNodeArgs.join(" ")}` : "no node flags";
      out.push(
        `${label.padEnd(8)} (${flags}): peak RSS ${fmt(run.peakRssMB, 1)} MB, ${fmt(run.wallSeconds, 1)} s, ` +
          `${fmt(run.messagesPerSecond)} msg/s, ${run.correct ? "ok" : "WRONG"}: ${run.check}`,
      );
    }
    out.push(`(emulator peak RSS ${fmt(m.emulatorPeakRssMB)} MB: it holds the whole queue)`);
  }
  if (s.startup) {
    const st = s.startup;
    out.push(
      `\n== Start-up: etl --version, ${st.runs} runs`,
      `median ${fmt(st.medianMs)} ms (min ${fmt(st.minMs)}, max ${fmt(st.maxMs)})`,
    );
  }
  out.push(
    "\n== Targets",
    table(
      ["target", "value", "result"],
      targets.map((t) => [t.target, t.value, passFail(t.pass)]),
    ),
  );
  return out.join("\n");
}

/** Ceiling and login-etl side by side, per 1,000 messages, so their difference is the ETL's work. */
function formatProfiles(p: ProfileResult): string {
  const perK = 1000 / p.messages;
  const ceiling = p.runs.find((r) => r.contender === "ceiling");
  const etl = p.runs.find((r) => r.contender === "etl");
  const columns = [ceiling, etl].filter((r): r is ProfiledRun => r !== undefined);
  const names = (r: ProfiledRun) => (r.contender === "etl" ? "login-etl" : r.contender);
  const cell = (
    r: ProfiledRun,
    pick: (x: ProfileSummary) => { name: string; ms: number }[],
    key: string,
  ) => fmt((pick(r.profile).find((x) => x.name === key)?.ms ?? 0) * perK, 1);
  const categories = (x: ProfileSummary) =>
    x.byCategory.map((c) => ({ name: c.category, ms: c.ms }));
  const probes = (x: ProfileSummary) => x.probes.map((c) => ({ name: c.probe, ms: c.ms }));
  const keys = (pick: (x: ProfileSummary) => { name: string; ms: number }[]) => [
    ...new Set(
      columns.flatMap((r) =>
        pick(r.profile)
          .filter((x) => x.ms * perK >= 0.5)
          .map((x) => x.name),
      ),
    ),
  ];
  const lines = [
    `\n== CPU profiles (node --cpu-prof), ${p.messages} messages: ms of samples per 1,000 messages`,
    `wall while profiled: ${columns.map((r) => `${names(r)} ${fmt(r.run.wallSeconds, 2)} s`).join(", ")}; ` +
      "idle includes the final 1 s empty poll and start-up waits.",
    table(
      ["category (self time, owner found up the stack)", ...columns.map(names)],
      keys(categories).map((k) => [k, ...columns.map((r) => cell(r, categories, k))]),
    ),
    "",
    table(
      ["inclusive probe (overlapping)", ...columns.map(names)],
      keys(probes).map((k) => [k, ...columns.map((r) => cell(r, probes, k))]),
    ),
  ];
  if (etl) {
    lines.push(
      "\nTop self time, login-etl:",
      table(
        ["function", "where", "self ms", "share"],
        etl.profile.topFunctions.map((f) => [
          f.fn,
          f.where,
          fmt(f.selfMs),
          `${fmt(f.share * 100, 1)}%`,
        ]),
      ),
    );
  }
  return lines.join("\n");
}

function formatVault(v: VaultResult): string {
  return [
    `\n== PII vault: etl run on ${v.messages} messages (${v.valid} valid), ${v.concurrency} pollers, without and with PII_VAULT_KEY, medians of ${v.rounds} alternating rounds`,
    table(
      [
        "vault",
        "wall s",
        "msg/s",
        "empty-queue s",
        "drain msg/s",
        "CPU s",
        "drain CPU",
        "pg CPU s",
        "check",
      ],
      [v.off, v.on].map((r) => [
        r.mode,
        fmt(r.wallSeconds, 2),
        fmt(r.messagesPerSecond),
        fmt(r.emptyQueueSeconds, 2),
        fmt(r.drainMessagesPerSecond),
        fmt(r.cpuSeconds, 2),
        fmt(r.drainCpuBusy, 2),
        fmt(r.postgresCpuSeconds, 2),
        `${r.correct ? "ok" : "WRONG"}: ${r.check}`,
      ]),
    ),
    `on ÷ off: ${fmt(v.ratio, 3)} × (median msg/s), ${fmt(v.drainRatio, 3)} × (drain msg/s), ` +
      `${fmt(v.pairedRatio, 3)} × (median of each round's on ÷ off: ` +
      `${v.roundRatios.map((r) => fmt(r, 2)).join(", ")})`,
    `vault: ${fmt(v.vaultRows)} rows (one per distinct masked ip and device id), ` +
      `${fmt(v.bytesPerValue)} bytes per value on disk (of which indexes ${fmt(v.indexBytesPerValue)}), ` +
      `sealed value ${fmt(v.avgSealedBytes, 1)} bytes on average`,
    "Both modes mask with the same PII_HASH_KEY; on adds PII_VAULT_KEY (another random key). Rounds run off",
    "then on, each trial on a fresh queue and database. Check on = vault rows equal count(DISTINCT",
    "masked_ip) + count(DISTINCT masked_device_id) of user_logins; off = the vault stays empty.",
  ].join("\n");
}

function formatScaleOut(so: ScaleOutResult): string {
  return [
    `\n== Scale-out: ${so.messages} messages, N × \`etl run --concurrency C\` at once on one queue and one database, +${so.latencyMs} ms on every SQS request`,
    table(
      [
        "C",
        "processes",
        "pollers",
        "wall s",
        "empty-queue s",
        "drain msg/s",
        "speedup",
        "duplicate deliveries",
        "cores busy",
        "emulator busy",
        "check",
      ],
      so.rows.map((r) => [
        String(r.concurrency),
        String(r.processes),
        String(r.pollers),
        fmt(r.wallSeconds, 2),
        fmt(r.emptyQueueSeconds, 2),
        fmt(r.drainMessagesPerSecond),
        r.speedup === undefined ? "-" : `${fmt(r.speedup, 2)} ×`,
        String(r.duplicates),
        fmt(r.machineBusyCores, 2),
        `${fmt(r.emulatorBusy * 100)}%`,
        `${r.correct ? "ok" : "WRONG"}: ${r.check}`,
      ]),
    ),
    "wall = first spawn to last exit; empty-queue s = the same processes on an empty queue; drain msg/s =",
    "messages / (wall − that). Duplicate deliveries = messages a process received that the ledger had",
    "already committed (another process loaded them): skipped, never a second row. Speedup is against",
    "one process at the same C. Here every process shares the same 2 cores with the emulator and Postgres.",
  ].join("\n");
}
