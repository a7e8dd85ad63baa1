// The one place where settings are defined, defaulted and validated.
// Precedence: CLI flag > environment > .env file (loaded by the CLI, never overriding the real
// environment) > the defaults below, which match docker-compose.yml.
// valibot rather than zod: same job here, but it loads in ~9 ms instead of ~60-90 ms, and every
// cron run pays start-up (README "Performance").
import * as v from "valibot";
import { parseDecimal } from "./command-spec.js";
import { ConfigError } from "./errors.js";
import { KEY_ENV, KEY_ENVS, PREVIOUS_VAULT_KEY_ENV, parseKey, VAULT_KEY_ENV } from "./pii-key.js";

const int = (min: number, max: number) => {
  const message = `must be a whole number from ${min} to ${max}`;
  return v.pipe(
    v.union([v.string(), v.number()], message),
    v.transform((raw) => (typeof raw === "string" ? parseDecimal(raw) : raw)),
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
 * Which commands take a setting: `queue` and `database` are connection settings for the
 * commands that talk to SQS or Postgres, `run` tunes `etl run`, `common` is every command's.
 */
export type SettingGroup = "queue" | "database" | "run" | "common";

interface SettingSpec<
  S extends v.GenericSchema,
  D extends v.InferOutput<S> | undefined = v.InferOutput<S> | undefined,
> {
  env: string;
  /** The command-line flag and its argument, e.g. `--batch-size <n>`. */
  flag: `--${string}`;
  arg: `<${string}>`;
  help: string;
  group: SettingGroup;
  schema: S;
  /** Already valid (the compiler checks it against the schema's output); undefined = unset. */
  default: D;
}

/** Declares one setting; the type parameters tie the default to the schema's output type. */
const setting = <S extends v.GenericSchema, const D extends v.InferOutput<S> | undefined>(
  spec: SettingSpec<S, D>,
) => spec;

/**
 * Every setting: its environment variable, flag, help, default and rule. `Config`, the flags of
 * every command and the help text are derived from this list; the README's configuration table
 * mirrors it (test/unit/config.test.ts checks that).
 */
export const SETTINGS = {
  sqsEndpoint: setting({
    env: "SQS_ENDPOINT",
    flag: "--endpoint",
    arg: "<url>",
    help: "SQS endpoint, e.g. http://localhost:4566",
    group: "queue",
    default: undefined,
    schema: url,
  }),
  queueName: setting({
    env: "SQS_QUEUE_NAME",
    flag: "--queue",
    arg: "<name>",
    help: "queue name, resolved with GetQueueUrl",
    group: "queue",
    default: "login-queue",
    schema: v.pipe(
      v.string(),
      v.regex(/^[A-Za-z0-9_-]{1,80}(\.fifo)?$/, "must be 1-80 letters, digits, - or _"),
    ),
  }),
  queueUrl: setting({
    env: "SQS_QUEUE_URL",
    flag: "--queue-url",
    arg: "<url>",
    help: "queue URL, skips GetQueueUrl",
    group: "queue",
    default: undefined,
    schema: url,
  }),
  region: setting({
    env: "AWS_REGION",
    flag: "--region",
    arg: "<region>",
    help: "AWS region",
    group: "queue",
    default: "us-east-1",
    schema: v.pipe(
      v.string(),
      v.regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, "must be an AWS region like us-east-1"),
    ),
  }),
  databaseUrl: setting({
    env: "DATABASE_URL",
    flag: "--database-url",
    arg: "<url>",
    help: "Postgres connection URL",
    group: "database",
    default: "postgres://postgres:postgres@localhost:5432/postgres",
    schema: v.pipe(
      v.string(),
      v.check(
        (s) => /^postgres(ql)?:\/\//.test(s) && URL.canParse(s),
        "must be a postgres:// URL, e.g. postgres://user:password@localhost:5432/dbname",
      ),
    ),
  }),
  // A database that stops answering must fail a statement, not hang the run: a silent network
  // path (a dropped NAT entry, a frozen proxy) otherwise leaves a query waiting forever.
  dbConnectTimeoutSeconds: setting({
    env: "ETL_DB_CONNECT_TIMEOUT",
    flag: "--db-connect-timeout",
    arg: "<s>",
    help: "give up on opening a database connection after this long",
    group: "database",
    default: 10,
    schema: int(1, 600),
  }),
  dbStatementTimeoutSeconds: setting({
    env: "ETL_DB_STATEMENT_TIMEOUT",
    flag: "--db-statement-timeout",
    arg: "<s>",
    help: "longest a statement (lock waits included) or an idle transaction may take",
    group: "database",
    default: 120,
    schema: int(1, 3600),
  }),
  // 8: throughput grows almost linearly with pollers up to 8 when SQS is 20 ms away, then the
  // main thread saturates (README "Performance").
  concurrency: setting({
    env: "ETL_CONCURRENCY",
    flag: "--concurrency",
    arg: "<n>",
    help: "concurrent long-pollers",
    group: "run",
    default: 8,
    schema: int(1, 64),
  }),
  batchSize: setting({
    env: "ETL_BATCH_SIZE",
    flag: "--batch-size",
    arg: "<n>",
    help: "messages per database transaction",
    group: "run",
    default: 200,
    schema: int(1, 5000),
  }),
  waitTimeSeconds: setting({
    env: "ETL_WAIT_TIME_SECONDS",
    flag: "--wait-time-seconds",
    arg: "<s>",
    help: "long-poll wait, 1-20",
    group: "run",
    default: 5,
    schema: int(1, 20),
  }),
  visibilityTimeout: setting({
    env: "ETL_VISIBILITY_TIMEOUT",
    flag: "--visibility-timeout",
    arg: "<s>",
    help: "seconds a received message stays hidden",
    group: "run",
    default: 120,
    schema: int(2, 43_200),
  }),
  maxMessages: setting({
    env: "ETL_MAX_MESSAGES",
    flag: "--max-messages",
    arg: "<n>",
    help: "stop receiving after this many messages",
    group: "run",
    default: undefined,
    schema: int(1, Number.MAX_SAFE_INTEGER),
  }),
  maxRuntimeSeconds: setting({
    env: "ETL_MAX_RUNTIME",
    flag: "--max-runtime",
    arg: "<s>",
    help: "stop receiving after this many seconds",
    group: "run",
    default: undefined,
    schema: int(1, 7 * 24 * 3600),
  }),
  stopGraceSeconds: setting({
    env: "ETL_STOP_GRACE",
    flag: "--stop-grace",
    arg: "<s>",
    help: "after --max-runtime, a signal or a failure: how long in-flight batches may finish",
    group: "run",
    default: 20,
    schema: int(0, 3600),
  }),
  // Monitoring (README "Monitoring"): published at the end of every run, success or failure.
  metricsFile: setting({
    env: "ETL_METRICS_FILE",
    flag: "--metrics-file",
    arg: "<path>",
    help: "write the run's Prometheus metrics here (atomically) for node_exporter's textfile collector",
    group: "run",
    default: undefined,
    schema: v.pipe(
      v.string(),
      v.regex(
        /\.prom$/,
        "must end in .prom (node_exporter's textfile collector reads only *.prom)",
      ),
    ),
  }),
  pushgatewayUrl: setting({
    env: "ETL_PUSHGATEWAY_URL",
    flag: "--pushgateway-url",
    arg: "<url>",
    help: "push the run's metrics to this Prometheus Pushgateway (job login-etl, grouped by queue)",
    group: "run",
    default: undefined,
    schema: v.pipe(
      url,
      v.check((s) => /^https?:\/\//i.test(s), "must be an http:// or https:// URL"),
    ),
  }),
  logLevel: setting({
    env: "LOG_LEVEL",
    flag: "--log-level",
    arg: "<level>",
    help: "fatal|error|warn|info|debug|trace|silent",
    group: "common",
    default: "info",
    schema: v.picklist(
      ["fatal", "error", "warn", "info", "debug", "trace", "silent"],
      "must be one of fatal, error, warn, info, debug, trace, silent",
    ),
  }),
  /** How long to wait for Postgres/SQS to come up before giving up (docker compose up races). */
  startupWaitSeconds: setting({
    env: "ETL_STARTUP_WAIT",
    flag: "--startup-wait",
    arg: "<seconds>",
    help: "wait this long for Postgres/SQS to come up",
    group: "common",
    default: 30,
    schema: int(0, 3600),
  }),
} as const;

export type SettingName = keyof typeof SETTINGS;

type SettingValue<K extends SettingName> =
  | v.InferOutput<(typeof SETTINGS)[K]["schema"]>
  | (undefined extends (typeof SETTINGS)[K]["default"] ? undefined : never);

/** Every setting's value, typed from SETTINGS: a setting exists in exactly one place. */
export type Settings = { -readonly [K in SettingName]: SettingValue<K> };

export interface Config extends Settings {
  /** HMAC key for masking; undefined for commands that do not mask. */
  piiHashKey: Buffer | undefined;
  /** The PII vault's key (PII_VAULT_KEY); undefined when the vault is off or not needed. */
  piiVaultKey: Buffer | undefined;
  /** The vault key being replaced (PII_VAULT_KEY_PREVIOUS), for rotation and reveal meanwhile. */
  previousVaultKey: Buffer | undefined;
}

/** Raw values given as flags (strings from commander), by setting name. */
export type CliFlags = Partial<Record<SettingName, string | number | undefined>>;

/** The settings of these groups, in declaration order. */
export function settingsOf(groups: readonly SettingGroup[]): SettingName[] {
  return (Object.keys(SETTINGS) as SettingName[]).filter((name) =>
    groups.includes(SETTINGS[name].group),
  );
}

export interface LoadOptions {
  /** Commands that mask (run, demo, replay) need the key; the others never read it. */
  requireKey: boolean | "optional";
  /**
   * PII_VAULT_KEY (and PII_VAULT_KEY_PREVIOUS): "optional" for commands that write rows (the vault
   * is on when it is set), "required" for those that read the vault; otherwise never read.
   */
  vaultKey?: "optional" | "required";
  /** The settings this command takes; the others keep their defaults and are not read. */
  groups?: readonly SettingGroup[];
  /** The command's own defaults, e.g. the demo's quieter log level. */
  defaults?: Partial<Settings>;
}

export function loadConfig(
  flags: CliFlags,
  env: NodeJS.ProcessEnv,
  options: LoadOptions = { requireKey: true },
): Config {
  const values: Record<string, unknown> = {};
  const taken = new Set(settingsOf(options.groups ?? ["queue", "database", "run", "common"]));
  for (const name of Object.keys(SETTINGS) as SettingName[]) {
    const setting: SettingSpec<v.GenericSchema> = SETTINGS[name];
    const fallback = options.defaults?.[name] ?? setting.default;
    const fromFlag = taken.has(name) ? flags[name] : undefined;
    const fromEnv = taken.has(name) ? env[setting.env] : undefined;
    const raw = fromFlag ?? (fromEnv === undefined || fromEnv === "" ? undefined : fromEnv);
    if (raw === undefined) {
      values[name] = fallback;
      continue;
    }
    const parsed = v.safeParse(setting.schema, raw);
    if (!parsed.success) {
      const source = fromFlag !== undefined ? setting.flag : setting.env;
      const why = parsed.issues[0]?.message ?? "is invalid";
      // A URL that may hold a password is never echoed.
      const shown = URL_SETTINGS_WITH_PASSWORDS.includes(name)
        ? ""
        : ` (got "${String(raw).slice(0, 80)}")`;
      throw new ConfigError(
        `Invalid configuration: ${source} ${why}${shown}. Fix ${setting.flag} or ${setting.env}.`,
      );
    }
    values[name] = parsed.output;
  }
  const wantsHash =
    options.requireKey === true || (options.requireKey === "optional" && env[KEY_ENV]);
  const piiHashKey = wantsHash ? parseKey(env[KEY_ENV], KEY_ENV) : undefined;
  const wantsVault = options.vaultKey === "required" || (options.vaultKey && env[VAULT_KEY_ENV]);
  const piiVaultKey = wantsVault ? parseKey(env[VAULT_KEY_ENV], VAULT_KEY_ENV) : undefined;
  const previousVaultKey =
    wantsVault && env[PREVIOUS_VAULT_KEY_ENV]
      ? parseKey(env[PREVIOUS_VAULT_KEY_ENV], PREVIOUS_VAULT_KEY_ENV)
      : undefined;
  if (piiVaultKey && piiHashKey?.equals(piiVaultKey)) {
    // One leaked secret must not give both the masks and the way back from them.
    throw new ConfigError(
      `Invalid configuration: ${VAULT_KEY_ENV} is the same as ${KEY_ENV}. The vault key must be ` +
        "a key of its own, kept apart from the hash key: generate one with `npx etl keygen`.",
    );
  }
  if (piiVaultKey && previousVaultKey?.equals(piiVaultKey)) {
    throw new ConfigError(
      `Invalid configuration: ${PREVIOUS_VAULT_KEY_ENV} is the same as ${VAULT_KEY_ENV}: put the ` +
        `old key in ${PREVIOUS_VAULT_KEY_ENV} and the new one in ${VAULT_KEY_ENV}.`,
    );
  }
  // Every key of Settings was filled from its own schema's output just above.
  return { ...(values as Settings), piiHashKey, piiVaultKey, previousVaultKey };
}

/** Settings whose URL may carry a password: never echoed, redacted in logs, warned about as flags. */
const URL_SETTINGS_WITH_PASSWORDS: readonly SettingName[] = ["databaseUrl", "pushgatewayUrl"];

/**
 * Query parameters of a connection URL whose values are shown as they are. pg reads every
 * parameter (`?password=`, `?sslpassword=`, `?sslkey=` all work), so redaction is by allowlist:
 * a parameter not known to be harmless is shown as `***`.
 */
const SHOWN_URL_PARAMS = new Set([
  "application_name",
  "client_encoding",
  "connect_timeout",
  "host",
  "port",
  "ssl",
  "sslmode",
  "target_session_attrs",
]);

/**
 * The URL with every secret it can carry replaced by `***`: password, query parameters,
 * fragment, and with `hideUser` the user name too (a bare token may be given as one).
 */
export function redactUrl(value: string, options: { hideUser?: boolean } = {}): string {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    return "<unparseable url>";
  }
  if (u.password) u.password = "***";
  if (options.hideUser && u.username) u.username = "***";
  // A password with an unencoded '/' ("app:/Kx9+…@db") ends the authority early, so URL and pg
  // both read the rest as the path: whatever precedes an '@' in the path is hidden too.
  const at = u.pathname.lastIndexOf("@");
  if (at >= 0) u.pathname = `/***${u.pathname.slice(at)}`;
  for (const key of [...new Set(u.searchParams.keys())]) {
    if (!SHOWN_URL_PARAMS.has(key.toLowerCase())) u.searchParams.set(key, "***");
  }
  if (u.hash) u.hash = "***";
  return u.toString().replaceAll("%2A%2A%2A", "***");
}

/**
 * True if a URL carries a password: in the user info or as a query parameter; with
 * `hideUser` (a URL where a bare token may stand as the user name, or in any parameter), also a
 * user name or any query parameter redactUrl would hide.
 */
export function urlCarriesPassword(value: string, options: { hideUser?: boolean } = {}): boolean {
  try {
    const u = new URL(value);
    const keys = [...u.searchParams.keys()];
    return (
      u.password !== "" ||
      u.pathname.includes("@") ||
      keys.some((k) => /pass/i.test(k)) ||
      (options.hideUser === true &&
        (u.username !== "" || keys.some((k) => !SHOWN_URL_PARAMS.has(k.toLowerCase()))))
    );
  } catch {
    return false;
  }
}

/**
 * Advice about how settings were given (not errors): a password in --database-url is visible in
 * `ps` to every user of the machine, the reason PII_HASH_KEY has no flag at all.
 */
export function configWarnings(flags: CliFlags): string[] {
  return URL_SETTINGS_WITH_PASSWORDS.flatMap((name) => {
    const url = flags[name];
    const hideUser = name === "pushgatewayUrl";
    if (url === undefined || !urlCarriesPassword(String(url), { hideUser })) return [];
    const { flag, env } = SETTINGS[name];
    return [
      `${flag} carries a password, which every user of this machine can read in \`ps\`: ` +
        `set ${env} in the environment or .env instead` +
        (name === "databaseUrl" ? " (or use ~/.pgpass / PGPASSWORD)." : "."),
    ];
  });
}

/**
 * One rule for an empty variable (`SQS_QUEUE_NAME=`): it is unset. dotenv never overrides a
 * variable that exists, even an empty one, so empty settings are removed before .env is read:
 * then .env, or else the default, applies, exactly as if the variable were absent.
 */
export function clearEmptySettings(env: NodeJS.ProcessEnv): void {
  for (const name of [...Object.values(SETTINGS).map((s) => s.env), ...KEY_ENVS]) {
    if (env[name] === "") delete env[name];
  }
}
