// A run of the real stages with the delete stage left out: what a consumer that commits and
// then dies before deleting leaves behind. Used to prove that redelivery is harmless.
import { SQSClient } from "@aws-sdk/client-sqs";
import pino from "pino";
import { keyFingerprint } from "../../src/pii-key.js";
import { runPipeline } from "../../src/pipeline.js";
import { createBodyCipher } from "../../src/sink/body-cipher.js";
import { createPool } from "../../src/sink/database.js";
import { PostgresSink } from "../../src/sink/postgres-sink.js";
import { migrate } from "../../src/sink/schema.js";
import { Receiver } from "../../src/source/receiver.js";
import { createMasker, storedPayload, transformMessage } from "../../src/transform/index.js";
import type { Harness } from "./harness.js";

export async function commitWithoutDeleting(
  h: Harness,
  databaseUrl: string,
  queueUrl: string,
  visibilityTimeout: number,
) {
  const logger = pino({ level: "silent" });
  const pool = createPool(
    { databaseUrl, dbConnectTimeoutSeconds: 10, dbStatementTimeoutSeconds: 60 },
    3,
    logger,
  );
  const sqs = new SQSClient({
    region: "us-east-1",
    endpoint: h.sqsServer.endpoint,
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
  });
  try {
    await migrate(pool, logger);
    const receiver = new Receiver(sqs, {
      queueUrl,
      endpoint: h.sqsServer.endpoint,
      waitTimeSeconds: 1,
      visibilityTimeout,
    });
    const key = Buffer.from(h.key, "utf8");
    const masker = createMasker(key);
    const sink = new PostgresSink(pool, {
      cipher: createBodyCipher(key),
      maskPayload: (body) => storedPayload(body, masker),
      keys: { hash: keyFingerprint(key), vault: undefined },
      logger,
    });
    return await runPipeline(
      {
        receive: (max, signal) => receiver.receive(max, signal),
        transform: (m) => transformMessage(m, masker),
        write: (items) => sink.write(items),
        delete: async () => ({ deleted: 0, failed: 0, stale: 0 }),
      },
      {
        // One poller: moto may hand one message to two concurrent polls, and the test counts.
        concurrency: 1,
        batchSize: 25,
        writeConcurrency: 2,
        lingerMs: 20,
        maxHeldChars: 1_000_000,
        maxMessages: undefined,
        maxRuntimeSeconds: undefined,
        stopGraceMs: 30_000,
        dryRun: false,
      },
      logger,
    );
  } finally {
    sqs.destroy();
    await pool.end();
  }
}
