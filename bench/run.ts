// `npm run bench`: login-etl against the raw-drain ceiling and the common sqs-consumer approach,
// then scaling under latency, the PII vault's cost, memory on a deep queue, start-up time and a
// CPU profile.
// Every contender and service runs in a process of its own; see bench/README.md.
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, loadavg, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { type BenchOptions, parseBenchArgs, USAGE } from "./lib/args.js";
import { REPO_ROOT, RESULTS_DIR } from "./lib/paths.js";
import { formatReport, type Sections } from "./lib/report.js";
import { type Service, startFauxqs, startPostgres } from "./lib/services.js";
import { localSqsClient } from "./lib/sqs.js";
import { evaluateTargets } from "./lib/targets.js";
import { newContext, runTrial } from "./lib/trial.js";
import { workload } from "./lib/workload.js";
import { compareSection } from "./sections/compare.js";
import { memorySection } from "./sections/memory.js";
import { profileSection } from "./sections/profile.js";
import { scaleOutSection } from "./sections/scale-out.js";
import { scalingSection } from "./sections/scaling.js";
import { startupSection } from "./sections/startup.js";
import { vaultSection } from "./sections/vault.js";

const log = (line: string) => process.stderr.write(`${line}\n`);

function machine() {
  let commit: string | undefined;
  try {
    commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: REPO_ROOT })
      .toString()
      .trim();
  } catch {
    commit = undefined;
  }
  return {
    cpu: cpus()[0]?.model ?? "unknown",
    cores: availableParallelism(),
    memoryGB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    date: new Date().toISOString(),
    // Other work on the machine skews every number; this says how busy it was at the start.
    loadAverage1m: loadavg()[0],
    commit,
  };
}

async function main(options: BenchOptions): Promise<void> {
  const info = machine();
  log(
    `bench: ${info.cpu}, ${info.cores} cores, node ${info.node}, load ${info.loadAverage1m?.toFixed(2)}`,
  );
  const sections: Sections = {};
  if (options.startup) {
    log("start-up: etl --version ×10");
    sections.startup = await startupSection(10);
  }

  const services: Service[] = [];
  const stopAll = () => Promise.all(services.map((s) => s.stop().catch(() => {})));
  const onSignal = () => {
    void stopAll().finally(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    log("starting embedded Postgres and the fauxqs emulator (separate processes)");
    const postgres = await startPostgres();
    services.push(postgres);
    const emulator = await startFauxqs();
    services.push(emulator);
    const ctx = newContext(localSqsClient(emulator.url), emulator, postgres);
    // A fresh emulator runs its receive/delete code unoptimised at first; without a warm-up the
    // first contender measured would pay for the emulator's JIT.
    log("warm-up: ceiling on 5000 messages (not reported)");
    await runTrial(ctx, "ceiling", workload(5_000), { concurrency: options.concurrency });

    if (options.compare) {
      log(`side by side: ${options.messages} messages, ${options.only.join(", ")}`);
      sections.compare = await compareSection(ctx, options, log);
    }
    if (options.profile) {
      log(`CPU profiles: ${options.messages} messages`);
      sections.profile = await profileSection(ctx, options, log);
    }
    if (options.scaling) {
      log(`scaling: ${options.scalingMessages} messages, +${options.latencyMs} ms per request`);
      sections.scaling = await scalingSection(ctx, options, log);
    }
    if (options.scaleOut && options.only.includes("etl")) {
      log(
        `scale-out: ${options.scaleOutMessages} messages, ${options.scaleOutProcesses.join("/")} ` +
          `etl run processes at once, +${options.latencyMs} ms per request`,
      );
      sections.scaleOut = await scaleOutSection(ctx, options, log);
    }
    if (options.vault && options.only.includes("etl")) {
      log(
        `PII vault: ${options.vaultMessages} messages, etl run without/with PII_VAULT_KEY, ` +
          `${options.vaultRounds} rounds`,
      );
      sections.vault = await vaultSection(ctx, options, log);
    }
    if (options.memory && options.only.includes("etl")) {
      log(`memory: ${options.memoryMessages} messages`);
      sections.memory = await memorySection(ctx, options, log);
    }
  } finally {
    await stopAll();
  }

  const targets = evaluateTargets(sections);
  process.stdout.write(`${formatReport(sections, targets)}\n`);
  const out = options.out ?? join(RESULTS_DIR, "latest.json");
  mkdirSync(dirname(out), { recursive: true });
  const parameters = { ...options, waitTimeSeconds: 1 };
  writeFileSync(
    out,
    `${JSON.stringify({ machine: info, parameters, targets, ...sections }, null, 2)}\n`,
  );
  log(`\nresults written to ${out}`);
}

let options: BenchOptions | "help";
try {
  options = parseBenchArgs(process.argv.slice(2));
} catch (err) {
  log(`bench: ${(err as Error).message}\n\n${USAGE}`);
  process.exit(2);
}
if (options === "help") {
  log(USAGE);
} else {
  // A benchmark that ran reports and exits 0 whatever the targets say; only a crash exits 1.
  await main(options).catch((err: unknown) => {
    log(`bench crashed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exitCode = 1;
  });
}
