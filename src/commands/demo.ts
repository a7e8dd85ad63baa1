// `etl demo`: the real pipeline end to end on embedded services, no Docker, no AWS, no config.
import { randomBytes } from "node:crypto";
import { CreateQueueCommand } from "@aws-sdk/client-sqs";
import pg from "pg";
import { defineCommand, wholeNumber } from "../command-spec.js";
import { loadConfig } from "../config.js";
import { startEmbeddedPostgres } from "../embedded/postgres.js";
import { startEmbeddedSqs } from "../embedded/sqs.js";
import type { Logger } from "../logger.js";
import { generateSample } from "../sample/generate.js";
import { sendBodies } from "../sample/send.js";
import { repeatedDevices, sampleLogins } from "../sink/login-stats.js";
import { countRejectedByReason } from "../sink/rejected-store.js";
import { createSqsClient } from "../source/sqs-client.js";
import { formatSummary } from "../summary.js";
import { runEtl } from "./run.js";

export const command = defineCommand({
  settings: ["common"],
  defaults: { logLevel: "warn" },
  flags: {
    count: {
      arg: "<n>",
      help: "messages to send",
      default: "1000",
      parse: wholeNumber(1, 1_000_000),
    },
  },
  help: "Needs the dev dependencies (plain `npm install`).",
  examples: ["npx etl demo --count 5000"],
  handler: ({ logger, flags }) => runDemo({ count: flags.count, logger }),
});

export interface DemoOptions {
  count: number;
  logger: Logger;
}

export async function runDemo({ count, logger }: DemoOptions): Promise<number> {
  // The demo talks to a person: plain text and tables on stdout, logs (warnings only) on stderr.
  const say = (line = "") => process.stdout.write(`${line}\n`);
  const keyFromEnv = process.env.PII_HASH_KEY;
  const key = keyFromEnv && keyFromEnv.length > 0 ? keyFromEnv : randomBytes(32).toString("hex");

  say("Starting embedded Postgres and an in-process SQS emulator (fauxqs)...");
  const postgres = await startEmbeddedPostgres();
  const sqsServer = await startEmbeddedSqs().catch(async (err) => {
    await postgres.stop();
    throw err;
  });
  try {
    const env = {
      DATABASE_URL: postgres.url,
      SQS_ENDPOINT: sqsServer.endpoint,
      PII_HASH_KEY: key,
      ETL_WAIT_TIME_SECONDS: "1",
    };
    const config = loadConfig({}, env, { requireKey: true });
    const sqs = createSqsClient(config, {});
    const queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: config.queueName })))
      .QueueUrl;
    if (!queueUrl) throw new Error("CreateQueue returned no QueueUrl");
    const sent = await sendBodies(sqs, queueUrl, generateSample({ count }));
    sqs.destroy();
    say(`Sent ${sent} sample login events to ${config.queueName} (about 1% of the wrong shape).`);
    say(
      keyFromEnv
        ? "Masking with PII_HASH_KEY from the environment."
        : "Masking with a random throw-away key (set PII_HASH_KEY to use your own).",
    );
    say("Running the pipeline: etl run");
    say();

    const { exitCode, summary } = await runEtl(config, logger);
    if (summary) say(formatSummary(summary));
    say();
    await showResults(postgres.url, say);
    say(
      exitCode === 0
        ? "Demo finished; the embedded services are stopped and removed."
        : `Demo run exited ${exitCode}.`,
    );
    return exitCode;
  } finally {
    await sqsServer.stop().catch(() => {});
    await postgres.stop();
  }
}

async function showResults(url: string, say: (line?: string) => void): Promise<void> {
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  try {
    say("A few rows of user_logins (masks shortened for display):");
    console.table(await sampleLogins(pool, 5));
    say("Devices seen more than once: duplicates stay visible without revealing the device id:");
    console.table(await repeatedDevices(pool, 5));
    say("Rejected messages, in etl.rejected_messages (nothing is dropped):");
    console.table(
      (await countRejectedByReason(pool)).map(({ reason, count }) => ({ reason, messages: count })),
    );
  } finally {
    await pool.end();
  }
}
