// Command-line options of `npm run bench -- …`.
import { parseArgs } from "node:util";
import { SETTINGS } from "../../src/config.js";
import { CONTENDERS, type ContenderName } from "./contenders.js";

export interface BenchOptions {
  messages: number;
  only: ContenderName[];
  compare: boolean;
  repeat: number;
  /** login-etl's default pollers; the ceiling uses the same. */
  concurrency: number;
  etlArgs: string[];
  etlNodeArgs: string[];
  scaling: boolean;
  scalingMessages: number;
  concurrencies: number[];
  latencyMs: number;
  scaleOut: boolean;
  scaleOutMessages: number;
  scaleOutProcesses: number[];
  scaleOutConcurrencies: number[];
  vault: boolean;
  vaultMessages: number;
  vaultRounds: number;
  memory: boolean;
  memoryMessages: number;
  hostileMessages: number;
  startup: boolean;
  profile: boolean;
  out: string | undefined;
}

export const USAGE = `npm run bench -- [options]

  --messages N            messages for the side-by-side run (default 20000)
  --only LIST             contenders, comma-separated: ceiling,etl,baseline (default all)
  --skip-compare          skip the side-by-side run
  --repeat N              side-by-side rounds; the table shows medians (default 1)
  --etl-arg ARG           extra argument for \`etl run\`, repeatable (e.g. --etl-arg=--batch-size=500)
  --etl-node-arg ARG      node flag for login-etl only, repeatable (e.g. --etl-node-arg=--max-old-space-size=256)
  --skip-scaling          skip throughput vs --concurrency behind a delaying proxy
  --scaling-messages N    messages per scaling run (default 6000)
  --concurrencies LIST    default 1,2,4,8,16
  --latency-ms N          delay the proxy adds to every SQS request (default 20)
  --skip-scale-out        skip several etl run processes on one queue behind the proxy
  --scale-out-messages N  messages per scale-out run (default 12000)
  --scale-out-processes LIST  concurrent etl run processes (default 1,2,4)
  --scale-out-concurrencies LIST  --concurrency of each of them (default 2,8: latency-bound, and
                          the default)
  --skip-vault            skip etl run with the PII vault on vs off (PII_VAULT_KEY set or not)
  --vault-messages N      messages per vault run (default 20000)
  --vault-rounds N        off/on pairs; the table shows medians (default 5)
  --skip-memory           skip peak RSS of etl run on a deep queue
  --memory-messages N     default 200000
  --hostile-messages N    256 KiB bodies that grow nine-fold under masking, run with the
                          deployed heap flag (default 1000)
  --skip-startup          skip the \`etl --version\` timing
  --skip-profile          skip the CPU profiles of etl run and of the ceiling
  --out FILE              JSON results (default bench/results/latest.json)`;

function positive(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`--${name} must be a whole number ≥ 1`);
  return n;
}

function list(raw: string | undefined): string[] | undefined {
  return raw
    ?.split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

export function parseBenchArgs(argv: string[]): BenchOptions | "help" {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      messages: { type: "string" },
      only: { type: "string" },
      "skip-compare": { type: "boolean" },
      repeat: { type: "string" },
      "etl-arg": { type: "string", multiple: true },
      "etl-node-arg": { type: "string", multiple: true },
      "skip-scaling": { type: "boolean" },
      "scaling-messages": { type: "string" },
      concurrencies: { type: "string" },
      "latency-ms": { type: "string" },
      "skip-scale-out": { type: "boolean" },
      "scale-out-messages": { type: "string" },
      "scale-out-processes": { type: "string" },
      "scale-out-concurrencies": { type: "string" },
      "skip-vault": { type: "boolean" },
      "vault-messages": { type: "string" },
      "vault-rounds": { type: "string" },
      "skip-memory": { type: "boolean" },
      "memory-messages": { type: "string" },
      "hostile-messages": { type: "string" },
      "skip-startup": { type: "boolean" },
      "skip-profile": { type: "boolean" },
      out: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return "help";
  const only = list(values.only) ?? [...CONTENDERS];
  for (const name of only) {
    if (!(CONTENDERS as readonly string[]).includes(name)) {
      throw new Error(`--only: unknown contender "${name}" (ceiling, etl, baseline)`);
    }
  }
  const concurrencies = (list(values.concurrencies) ?? ["1", "2", "4", "8", "16"]).map((c) =>
    positive("concurrencies", c, 1),
  );
  const scaleOutProcesses = (list(values["scale-out-processes"]) ?? ["1", "2", "4"]).map((c) =>
    positive("scale-out-processes", c, 1),
  );
  // "--etl-arg=--batch-size=500" style, so npm does not eat the inner flag.
  const etlArgs = (values["etl-arg"] ?? []).flatMap((a) => {
    const eq = a.indexOf("=");
    return a.startsWith("--") && eq > 0 ? [a.slice(0, eq), a.slice(eq + 1)] : [a];
  });
  return {
    messages: positive("messages", values.messages, 20_000),
    only: only as ContenderName[],
    compare: !values["skip-compare"],
    repeat: positive("repeat", values.repeat, 1),
    concurrency: SETTINGS.concurrency.default,
    etlArgs,
    etlNodeArgs: values["etl-node-arg"] ?? [],
    scaling: !values["skip-scaling"],
    scalingMessages: positive("scaling-messages", values["scaling-messages"], 6_000),
    concurrencies,
    latencyMs: positive("latency-ms", values["latency-ms"], 20),
    scaleOut: !values["skip-scale-out"],
    scaleOutMessages: positive("scale-out-messages", values["scale-out-messages"], 12_000),
    scaleOutProcesses,
    scaleOutConcurrencies: (list(values["scale-out-concurrencies"]) ?? ["2", "8"]).map((c) =>
      positive("scale-out-concurrencies", c, 1),
    ),
    vault: !values["skip-vault"],
    vaultMessages: positive("vault-messages", values["vault-messages"], 20_000),
    vaultRounds: positive("vault-rounds", values["vault-rounds"], 5),
    memory: !values["skip-memory"],
    memoryMessages: positive("memory-messages", values["memory-messages"], 200_000),
    hostileMessages: positive("hostile-messages", values["hostile-messages"], 1_000),
    startup: !values["skip-startup"],
    profile: !values["skip-profile"],
    out: values.out,
  };
}
