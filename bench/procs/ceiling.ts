// The ceiling: the fastest drain possible against this endpoint with the same number of pollers
// as login-etl. Receive 10, delete them with one DeleteMessageBatch, nothing else: no parsing,
// no database. Deletes are not awaited before the next receive, because login-etl also deletes
// off the receive path; a receive→delete→receive loop would be slower than login-etl and so no
// ceiling at all. A poller stops at its first empty long poll, as login-etl's do.
//
// env: SQS_ENDPOINT, SQS_QUEUE_URL, CONCURRENCY, WAIT_TIME_SECONDS. Prints one JSON line.
import { DeleteMessageBatchCommand, ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import { createSqsClient } from "../../src/source/sqs-client.js";
import { REGION } from "../lib/sqs.js";

const endpoint = process.env.SQS_ENDPOINT ?? "http://127.0.0.1:4566";
const queueUrl = process.env.SQS_QUEUE_URL ?? "";
const concurrency = Number(process.env.CONCURRENCY ?? 4);
const waitTimeSeconds = Number(process.env.WAIT_TIME_SECONDS ?? 1);

// login-etl's own client, with the same tuning (no MD5 re-hash, no logger middleware): the
// ceiling must not be slowed by costs login-etl has removed.
const client = createSqsClient({
  region: REGION,
  sqsEndpoint: endpoint,
  waitTimeSeconds,
  concurrency,
});
let received = 0;
let deleted = 0;
let deleteFailed = 0;
const deletes = new Set<Promise<void>>();

async function poller(): Promise<void> {
  for (;;) {
    const out = await client.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: waitTimeSeconds,
        // Same request and response size as login-etl's receives.
        VisibilityTimeout: 120,
        MessageSystemAttributeNames: ["SentTimestamp", "ApproximateReceiveCount"],
      }),
    );
    const messages = out.Messages ?? [];
    if (messages.length === 0) return;
    received += messages.length;
    const entries = messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle }));
    const done = client
      .send(new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries }))
      .then((res) => {
        deleted += res.Successful?.length ?? 0;
        deleteFailed += res.Failed?.length ?? 0;
      })
      .finally(() => deletes.delete(done));
    deletes.add(done);
  }
}

await Promise.all(Array.from({ length: concurrency }, poller));
await Promise.all(deletes);
client.destroy();
process.stdout.write(`${JSON.stringify({ received, deleted, deleteFailed })}\n`);
