// Sending bodies to a queue in batches of ten, several batches at a time. Used by `etl seed`,
// the demo, the tests and the benchmark.
import { SendMessageBatchCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { SQS_BATCH_MAX } from "../source/sqs-limits.js";

/** A batch may hold SQS_BATCH_MAX messages and 256 KiB in all (the classic limit; AWS now allows 1 MiB). */
const MAX_BATCH_BYTES = 256 * 1024;

/**
 * Group bodies (by index) into batches within both limits; a body alone over the size limit
 * goes alone (and SQS decides whether to take it).
 */
export function batchIndices(bodies: readonly string[]): number[][] {
  const batches: number[][] = [];
  let current: number[] = [];
  let bytes = 0;
  bodies.forEach((body, i) => {
    const size = Buffer.byteLength(body, "utf8");
    if (
      current.length === SQS_BATCH_MAX ||
      (current.length > 0 && bytes + size > MAX_BATCH_BYTES)
    ) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(i);
    bytes += size;
  });
  if (current.length > 0) batches.push(current);
  return batches;
}

export function toBatches(bodies: readonly string[]): string[][] {
  return batchIndices(bodies).map((batch) => batch.map((i) => bodies[i] ?? ""));
}

export async function sendBodies(
  client: SQSClient,
  queueUrl: string,
  bodies: readonly string[],
  parallel = 8,
): Promise<number> {
  const batches = toBatches(bodies);
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
