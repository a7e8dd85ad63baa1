// How each contender is started. All three get the same queue, the same 1 s long-poll wait (so
// each pays one final empty poll of ~1 s to notice the queue is empty) and a clean environment.
import { tmpdir } from "node:os";
import { CLI, procScript } from "./paths.js";
import type { RunSpec } from "./proc.js";
import { REGION } from "./sqs.js";

export const CONTENDERS = ["ceiling", "etl", "baseline"] as const;
export type ContenderName = (typeof CONTENDERS)[number];

export const WAIT_TIME_SECONDS = 1;

export interface Target {
  /** The SQS endpoint the contender talks to (the emulator, or the delaying proxy in front of it). */
  endpoint: string;
  queueName: string;
  queueUrl: string;
  /** A fresh database; unused by the ceiling. */
  databaseUrl: string;
  piiHashKey: string;
}

export interface ContenderOptions {
  /** Pollers for ceiling and login-etl (`--concurrency`); login-etl's default when undefined. */
  concurrency: number;
  /** Extra `etl run` arguments, e.g. ["--batch-size", "500"]. */
  etlArgs?: string[];
  /** node flags for login-etl only, e.g. ["--max-old-space-size=256"]. */
  etlNodeArgs?: string[];
  /** Extra environment for login-etl only, e.g. { PII_VAULT_KEY } to turn the vault on. */
  etlEnv?: NodeJS.ProcessEnv;
  /** node flags for the contender process, e.g. ["--cpu-prof", "--cpu-prof-dir=..."]. */
  nodeOptions?: string[];
}

export function contenderSpec(
  name: ContenderName,
  target: Target,
  options: ContenderOptions,
): RunSpec {
  // Nothing inherited: no NODE_OPTIONS from npm, no AWS_* or ETL_* from the shell, and a cwd
  // without a .env file for login-etl's dotenv to pick up.
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? "",
    HOME: tmpdir(),
    AWS_REGION: REGION,
    SQS_ENDPOINT: target.endpoint,
    DATABASE_URL: target.databaseUrl,
    PII_HASH_KEY: target.piiHashKey,
  };
  const node = (args: string[], extra: NodeJS.ProcessEnv): RunSpec => ({
    command: process.execPath,
    args: [...(options.nodeOptions ?? []), ...args],
    env: { ...env, ...extra },
    cwd: tmpdir(),
    timeoutMs: 30 * 60_000,
  });
  switch (name) {
    case "ceiling":
      return node([procScript("ceiling")], {
        SQS_QUEUE_URL: target.queueUrl,
        CONCURRENCY: String(options.concurrency),
        WAIT_TIME_SECONDS: String(WAIT_TIME_SECONDS),
      });
    case "baseline":
      return node([procScript("baseline")], {
        SQS_QUEUE_URL: target.queueUrl,
        WAIT_TIME_SECONDS: String(WAIT_TIME_SECONDS),
      });
    case "etl":
      // The real CLI as cron runs it: it looks the queue up by name and creates its tables.
      return node(
        [
          ...(options.etlNodeArgs ?? []),
          CLI,
          "run",
          "--concurrency",
          String(options.concurrency),
          ...(options.etlArgs ?? []),
        ],
        {
          SQS_QUEUE_NAME: target.queueName,
          ETL_WAIT_TIME_SECONDS: String(WAIT_TIME_SECONDS),
          ...options.etlEnv,
        },
      );
  }
}
