// Real services for integration tests: an embedded Postgres server (a separate process) and the
// fauxqs SQS emulator over HTTP. No mocks: the code under test talks to them as it would to RDS
// and SQS. One harness per test file; each test gets its own database and queue.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { createHmac, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  type ReceiveMessageResult,
  SQSClient,
} from "@aws-sdk/client-sqs";
import pg from "pg";
import { keepTidy } from "../../src/embedded/lifetime.js";
import { type RunningPostgres, startEmbeddedPostgres } from "../../src/embedded/postgres.js";
import { sendBodies } from "../../src/sample/send.js";
import { type SqsTarget, startSqsTarget } from "./sqs-target.js";

export const CLI = fileURLToPath(new URL("../../src/cli.js", import.meta.url));

export interface CliResult {
  code: number | null;
  /** The signal that ended the process, if one did (e.g. SIGKILL from a fault test). */
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** stderr lines that are pino JSON records. */
  logs: Record<string, unknown>[];
}

export interface QueueDepth {
  visible: number;
  inFlight: number;
}

export class Harness {
  readonly key = randomBytes(32).toString("hex");
  private readonly scratchDir = tidyTempDir("login-etl-test-");
  /** A private folder for files a test writes (removed on stop, signal or exit). */
  readonly scratch = this.scratchDir.dir;
  readonly sqs: SQSClient;
  private dbCounter = 0;
  private queueCounter = 0;
  private readonly pools: pg.Pool[] = [];

  private constructor(
    readonly postgres: RunningPostgres,
    readonly sqsServer: SqsTarget,
  ) {
    this.sqs = new SQSClient({
      region: "us-east-1",
      endpoint: sqsServer.endpoint,
      credentials: { accessKeyId: "test", secretAccessKey: "test" },
    });
  }

  static async start(): Promise<Harness> {
    const postgres = await startEmbeddedPostgres();
    const sqsServer = await startSqsTarget().catch(async (err: unknown) => {
      await postgres.stop();
      throw err;
    });
    return new Harness(postgres, sqsServer);
  }

  async stop(): Promise<void> {
    await Promise.all(this.pools.map((p) => p.end().catch(() => {})));
    this.sqs.destroy();
    await this.sqsServer.stop();
    await this.postgres.stop();
    this.scratchDir.remove();
  }

  /** A new empty database; returns its URL and a pool for assertions. */
  async freshDatabase(): Promise<{ url: string; pool: pg.Pool }> {
    const name = `t${process.pid}_${++this.dbCounter}`;
    const admin = new pg.Client({ connectionString: this.postgres.url });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    const url = this.postgres.url.replace(/\/postgres$/, `/${name}`);
    const pool = new pg.Pool({ connectionString: url, max: 2 });
    // An idle connection dies when a fault test restarts the server; the pool replaces it. Without
    // a listener that would be an uncaught exception (and fail the file, as it should).
    pool.on("error", () => {});
    this.pools.push(pool);
    return { url, pool };
  }

  /** A new database with login-etl's tables (`etl init-db`), so a test can alter them first. */
  async initialisedDatabase(): Promise<{ url: string; pool: pg.Pool }> {
    const db = await this.freshDatabase();
    const init = await runCli(["init-db"], { DATABASE_URL: db.url });
    assert.equal(init.code, 0, init.stderr);
    return db;
  }

  /** A queue name no other test uses. */
  queueName(): string {
    return `login-queue-${process.pid}-${++this.queueCounter}`;
  }

  /** The queue's ARN as the server reports it (account ids differ between implementations). */
  async queueArn(queueUrl: string): Promise<string> {
    const out = await this.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["QueueArn"] }),
    );
    const arn = out.Attributes?.QueueArn;
    if (!arn) throw new Error(`no QueueArn for ${queueUrl}`);
    return arn;
  }

  async createQueue(
    attributes: Record<string, string> = {},
  ): Promise<{ name: string; url: string }> {
    const name = this.queueName();
    const out = await this.sqs.send(
      new CreateQueueCommand({ QueueName: name, Attributes: attributes }),
    );
    if (!out.QueueUrl) throw new Error("CreateQueue returned no URL");
    return { name, url: out.QueueUrl };
  }

  send(queueUrl: string, bodies: readonly string[]): Promise<number> {
    return sendBodies(this.sqs, queueUrl, bodies);
  }

  async depth(queueUrl: string): Promise<QueueDepth> {
    const out = await this.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: queueUrl,
        AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
      }),
    );
    return {
      visible: Number(out.Attributes?.ApproximateNumberOfMessages ?? Number.NaN),
      inFlight: Number(out.Attributes?.ApproximateNumberOfMessagesNotVisible ?? Number.NaN),
    };
  }

  /** Until no message of the queue is in flight (their visibility timeouts ran out). */
  async waitUntilNoneInFlight(queueUrl: string, timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs;
    while ((await this.depth(queueUrl)).inFlight > 0) {
      if (Date.now() > until) throw new Error(`messages still in flight after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  /** Receive (and so hide) up to `max` messages without deleting them, like a crashed consumer. */
  async receiveAndAbandon(queueUrl: string, max: number, visibilityTimeout: number) {
    const got: Message[] = [];
    while (got.length < max) {
      const out: ReceiveMessageResult = await this.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          MaxNumberOfMessages: Math.min(10, max - got.length),
          VisibilityTimeout: visibilityTimeout,
          WaitTimeSeconds: 1,
        }),
      );
      if (!out.Messages?.length) break;
      got.push(...out.Messages);
    }
    return got;
  }

  /** Environment for the CLI pointing at this harness (no AWS credentials, no .env). */
  env(databaseUrl: string, queueName: string, extra: Record<string, string> = {}) {
    return {
      DATABASE_URL: databaseUrl,
      SQS_ENDPOINT: this.sqsServer.endpoint,
      SQS_QUEUE_NAME: queueName,
      PII_HASH_KEY: this.key,
      ETL_WAIT_TIME_SECONDS: "1",
      ETL_STARTUP_WAIT: "2",
      ...extra,
    };
  }

  /** The masked value the pipeline must produce, computed independently of src/. */
  mask(field: "ip" | "device_id", value: string): string {
    const subkey = createHmac("sha256", this.key).update(`login-etl/v1/mask/${field}`).digest();
    return createHmac("sha256", subkey).update(value).digest("hex");
  }
}

/**
 * Run the real CLI as a child process. It runs in an empty temp directory so that a developer's
 * own .env can never leak into a test, with only the given environment (plus PATH).
 */
export interface RunCliOptions {
  timeoutMs?: number;
  /** Extra node arguments, e.g. ["--import", FAULT_HOOKS]. */
  nodeArgs?: string[];
  /** A .env file to put in the (otherwise empty) working directory. */
  dotenv?: string;
  /** Act on the process (kill it, restart a service) the first time its stderr (or stdout) matches. */
  when?: { pattern: RegExp; act: (child: ChildProcess) => void; stream?: "stdout" | "stderr" };
}

/** A temp folder that is removed on Ctrl-C/SIGTERM or exit too, not only by the test's own rmSync. */
function tidyTempDir(prefix: string): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const rm = () => rmSync(dir, { recursive: true, force: true });
  const untrack = keepTidy({ stop: async () => rm(), stopSync: rm });
  return {
    dir,
    remove: () => {
      rm();
      untrack();
    },
  };
}

/** The preload module that lets a fault test pause a run at a checkpoint. */
export const FAULT_HOOKS = fileURLToPath(new URL("./fault-hooks.js", import.meta.url));

export function runCli(
  args: string[],
  env: Record<string, string>,
  options: RunCliOptions = {},
): Promise<CliResult> {
  const { dir: cwd, remove: removeCwd } = tidyTempDir("login-etl-cwd-");
  if (options.dotenv !== undefined) writeFileSync(join(cwd, ".env"), options.dotenv);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...(options.nodeArgs ?? []), CLI, ...args], {
      cwd,
      env: { PATH: process.env.PATH ?? "", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    let acted = false;
    const watch = (stream: "stdout" | "stderr", text: string) => {
      const when = options.when;
      if (when && !acted && (when.stream ?? "stderr") === stream && when.pattern.test(text)) {
        acted = true;
        when.act(child);
      }
    };
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
      watch("stdout", stdout);
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
      watch("stderr", stderr);
    });
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`etl ${args.join(" ")} did not finish in time\nstderr:\n${stderr}`));
    }, options.timeoutMs ?? 60_000);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      removeCwd();
      resolve({ code, signal, stdout, stderr, logs: parseLogs(stderr) });
    });
  });
}

/** The `n` column of a `SELECT count(*)::int AS n …` query. */
export const countOf = async (pool: pg.Pool, sql: string) =>
  (await pool.query<{ n: number }>(sql)).rows[0]?.n;

/** The `run finished` summary a run logged; fails the test if there is none. */
/**
 * Every table login-etl creates, as `schema.table`. Tests that scan the whole database for leaks
 * assert this list, so a new table cannot escape their scan unnoticed.
 */
export const ALL_TABLES = [
  "etl.key_epochs",
  "etl.pii_audit",
  "etl.pii_vault",
  "etl.processed_messages",
  "etl.rejected_messages",
  "etl.runs",
  "etl.schema_migrations",
  "etl.vault_key_epochs",
  "public.user_logins",
];

/** Today's UTC date, YYYY-MM-DD: the create_date of a message sent during the test. */
export const todayUtc = () => new Date().toISOString().slice(0, 10);

export function summaryOf(result: CliResult): Record<string, unknown> {
  const record = result.logs.find((l) => l.msg === "run finished");
  assert.ok(record, `the run logs a summary:\n${result.stderr}`);
  return record.summary as Record<string, unknown>;
}

export function parseLogs(text: string): Record<string, unknown>[] {
  return text
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** Every text value in every table of the database, for leak checks. */
export async function dumpAllText(pool: pg.Pool): Promise<string> {
  const tables = await pool.query<{ name: string }>(
    `SELECT format('%I.%I', table_schema, table_name) AS name FROM information_schema.tables
      WHERE table_schema IN ('public', 'etl') AND table_type = 'BASE TABLE'`,
  );
  const parts: string[] = [];
  for (const { name } of tables.rows) {
    const rows = await pool.query<{ t: string }>(`SELECT t::text AS t FROM ${name} t`);
    parts.push(...rows.rows.map((r) => r.t));
  }
  return parts.join("\n");
}
