// Sending bodies to a queue in batches of ten, several batches at a time. Used by `etl seed`,
// the demo, the tests and the benchmark.
import { SendMessageBatchCommand, type SQSClient } from "@aws-sdk/client-sqs";

export async function sendBodies(
  client: SQSClient,
  queueUrl: string,
  bodies: readonly string[],
  parallel = 8,
): Promise<number> {
  const batches: string[][] = [];
  for (let i = 0; i < bodies.length; i += 10) batches.push(bodies.slice(i, i + 10));
  let next = 0;
  let sent = 0;
  const worker = async () => {
    for (let b = next++; b < batches.length; b = next++) {
      const batch = batches[b] ?? [];
      const out = await client.send(
        new SendMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: batch.map((body, i) => ({ Id: String(i), MessageBody: body })),
        }),
      );
      if (out.Failed && out.Failed.length > 0) {
        const first = out.Failed[0];
        throw new Error(
          `SendMessageBatch rejected ${out.Failed.length} message(s): ${first?.Code}: ${first?.Message}`,
        );
      }
      sent += out.Successful?.length ?? 0;
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return sent;
}
