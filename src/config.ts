// The one place where settings are defined, defaulted and validated.
// Precedence: CLI flag > environment > .env file (loaded by the CLI, never overriding the real
// environment) > the defaults below, which match docker-compose.yml.
// valibot rather than zod: same job here, but it loads in ~9 ms instead of ~60-90 ms, and every
// cron run pays start-up (README "Performance").
import * as v from "valibot";
import { ConfigError } from "./errors.js";
import { MIN_KEY_BYTES } from "./transform/mask.js";

export interface Config {
  sqsEndpoint: string | undefined;
  queueUrl: string | undefined;
  queueName: string;
  region: string;
  databaseUrl: string;
  /** HMAC key for masking; undefined only for commands that do not mask. */
  piiHashKey: Buffer | undefined;
  logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
  /** Concurrent long-pollers. */
  concurrency: number;
  /** Messages per database transaction. */
  batchSize: number;
  waitTimeSeconds: number;
  visibilityTimeout: number;
  maxMessages: number | undefined;
  maxRuntimeSeconds: number | undefined;
  /** How long to wait for Postgres/SQS to come up before giving up (docker compose up races). */
  startupWaitSeconds: number;
  dryRun: boolean;
}

const int = (min: number, max: number) => {
  const message = `must be a whole number from ${min} to ${max}`;
  return v.pipe(
    v.union([v.string(), v.number()], message),
    v.transform((raw) => (typeof raw === "string" && raw.trim() === "" ? Number.NaN : Number(raw))),
    v.integer(message),
    v.minValue(min, message),
    v.maxValue(max, message),
  );
};

const url = v.pipe(
  v.string(),
  v.trim(),
  v.check((s) => URL.canParse(s), "must be a URL, e.g. http://localhost:4566"),
);

/**
 * Every setting: its environment variable, its flag, its default and its rule. The README's
 * configuration table mirrors this list.
 */
export const SETTINGS = {
  sqsEndpoint: { env: "SQS_ENDPOINT", flag: "--endpoint", default: undefined, schema: url },
  queueUrl: { env: "SQS_QUEUE_URL", flag: "--queue-url", default: undefined, schema: url },
  queueName: {
    env: "SQS_QUEUE_NAME",
    flag: "--queue",
    default: "login-queue",
    schema: v.pipe(
      v.string(),
      v.regex(/^[A-Za-z0-9_-]{1,80}(\.fifo)?$/, "must be 1-80 letters, digits, - or _"),
    ),
  },
  region: {
    env: "AWS_REGION",
    flag: "--region",
    default: "us-east-1",
    schema: v.pipe(
      v.string(),
      v.regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, "must be an AWS region like us-east-1"),
    ),
  },
  databaseUrl: {
    env: "DATABASE_URL",
    flag: "--database-url",
    default: "postgres://postgres:postgres@localhost:5432/postgres",
    schema: v.pipe(
      v.string(),
      v.check(
        (s) => /^postgres(ql)?:\/\//.test(s) && URL.canParse(s),
        "must be a postgres:// URL, e.g. postgres://user:password@localhost:5432/dbname",
      ),
    ),
  },
  logLevel: {
    env: "LOG_LEVEL",
    flag: "--log-level",
    default: "info",
    schema: v.picklist(
      ["fatal", "error", "warn", "info", "debug", "trace", "silent"],
      "must be one of fatal, error, warn, info, debug, trace, silent",
    ),
  },
  // 8: throughput grows almost linearly with pollers up to 8 when SQS is 20 ms away, then the
  // main thread saturates (README "Performance").
  concurrency: { env: "ETL_CONCURRENCY", flag: "--concurrency", default: 8, schema: int(1, 64) },
  batchSize: { env: "ETL_BATCH_SIZE", flag: "--batch-size", default: 200, schema: int(1, 5000) },
  waitTimeSeconds: {
    env: "ETL_WAIT_TIME_SECONDS",
    flag: "--wait-time-seconds",
    default: 5,
    schema: int(1, 20),
  },
  visibilityTimeout: {
    env: "ETL_VISIBILITY_TIMEOUT",
    flag: "--visibility-timeout",
    default: 120,
    schema: int(2, 43_200),
  },
  maxMessages: {
    env: "ETL_MAX_MESSAGES",
    flag: "--max-messages",
    default: undefined,
    schema: int(1, Number.MAX_SAFE_INTEGER),
  },
  maxRuntimeSeconds: {
    env: "ETL_MAX_RUNTIME",
    flag: "--max-runtime",
    default: undefined,
    schema: int(1, 7 * 24 * 3600),
  },
  startupWaitSeconds: {
    env: "ETL_STARTUP_WAIT",
    flag: "--startup-wait",
    default: 30,
    schema: int(0, 3600),
  },
} as const;

type SettingName = keyof typeof SETTINGS;

/** Raw flag values as commander hands them over (strings, or booleans for switches). */
export type CliFlags = Partial<Record<SettingName, string | number | undefined>> & {
  dryRun?: boolean | undefined;
};

/**
 * Commander's parsed flags (keyed by the camelCase of each flag, `--queue` → queue) → setting
 * names (queueName). Derived from SETTINGS so a flag can never be wired to the wrong setting.
 */
export function settingsFromFlags(flags: Record<string, unknown>): CliFlags {
  const out: CliFlags = { dryRun: flags.dryRun === true };
  for (const [name, setting] of Object.entries(SETTINGS) as [SettingName, { flag: string }][]) {
    const key = setting.flag.slice(2).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    const value = flags[key];
    if (typeof value === "string" || typeof value === "number") out[name] = value;
  }
  return out;
}

export interface LoadOptions {
  /** Commands that mask (run, demo, replay) need the key; status or init-db do not. */
  requireKey: boolean;
}

export function loadConfig(
  flags: CliFlags,
  env: NodeJS.ProcessEnv,
  options: LoadOptions = { requireKey: true },
): Config {
  const values: Record<string, unknown> = {};
  for (const [name, setting] of Object.entries(SETTINGS) as [
    SettingName,
    (typeof SETTINGS)[SettingName],
  ][]) {
    const fromFlag = flags[name];
    const fromEnv = env[setting.env];
    const raw = fromFlag ?? (fromEnv === undefined || fromEnv === "" ? undefined : fromEnv);
    if (raw === undefined) {
      values[name] = setting.default;
      continue;
    }
    const parsed = v.safeParse(setting.schema, raw);
    if (!parsed.success) {
      const source = fromFlag !== undefined ? setting.flag : setting.env;
      const why = parsed.issues[0]?.message ?? "is invalid";
      // The database URL may hold a password: never echo it.
      const shown = name === "databaseUrl" ? "" : ` (got "${String(raw).slice(0, 80)}")`;
      throw new ConfigError(
        `Invalid configuration: ${source} ${why}${shown}. Fix ${setting.flag} or ${setting.env}.`,
      );
    }
    values[name] = parsed.output;
  }
  return {
    ...(values as Omit<Config, "piiHashKey" | "dryRun">),
    piiHashKey: loadKey(env.PII_HASH_KEY, options.requireKey),
    dryRun: flags.dryRun === true,
  };
}

function loadKey(raw: string | undefined, required: boolean): Buffer | undefined {
  if (raw === undefined || raw === "") {
    if (!required) return undefined;
    throw new ConfigError(
      "Invalid configuration: PII_HASH_KEY is not set. Generate one with `npx etl keygen` and put it " +
        "in the environment or in .env (it is deliberately not a flag: flags show up in `ps`).",
    );
  }
  const key = Buffer.from(raw, "utf8");
  if (key.length < MIN_KEY_BYTES) {
    throw new ConfigError(
      `Invalid configuration: PII_HASH_KEY is ${key.length} bytes; it must be at least ${MIN_KEY_BYTES}. ` +
        "Generate one with `npx etl keygen`.",
    );
  }
  return key;
}

/** The database URL with its password replaced, safe to log. */
export function redactUrl(value: string): string {
  try {
    const u = new URL(value);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "<unparseable url>";
  }
}
