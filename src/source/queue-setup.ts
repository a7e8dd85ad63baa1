// Creating the queue and its dead-letter queue, idempotently (`etl init-queue`), for a plain SQS
// endpoint where no init script ran: AWS, moto, fauxqs, LocalStack without its ready.d hook.
//
// Every step looks before it creates, so a second run changes nothing. It never rewrites what
// an operator set: an existing redrive policy that differs from the requested one is reported
// and left alone; a missing one is added. CreateQueue is only called for a queue GetQueueUrl did
// not find; if another process creates it in between, we take the existing one.
import {
  CreateQueueCommand,
  GetQueueUrlCommand,
  QueueNameExists,
  SetQueueAttributesCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import { queueAttributes } from "./queue-info.js";
import { isQueueMissing } from "./sqs-client.js";

/** AWS's longest retention: a dead-letter queue must keep a message longer than its source. */
export const MAX_RETENTION_SECONDS = 14 * 24 * 3600;

export interface QueueSetupRequest {
  queueName: string;
  deadLetterQueueName: string;
  maxReceiveCount: number;
}

export interface QueueSetupResult {
  queue: { name: string; url: string; created: boolean };
  deadLetterQueue: { name: string; url: string; arn: string; created: boolean };
  redrive:
    | { state: "set" | "unchanged"; maxReceiveCount: number }
    | { state: "different"; existing: string };
}

interface Redrive {
  deadLetterTargetArn: string;
  maxReceiveCount: number;
}

/** SQS queue names: 1-80 letters, digits, '-' and '_', with ".fifo" at the end of a FIFO queue. */
const QUEUE_NAME = /^[A-Za-z0-9_-]{1,75}(\.fifo)?$|^[A-Za-z0-9_-]{1,80}$/;

/** Why a queue / dead-letter queue pair cannot work, checked before anything is created. */
export function queueNamesProblem(request: QueueSetupRequest): string | undefined {
  const { queueName: queue, deadLetterQueueName: dlq } = request;
  for (const [what, name] of [
    ["queue", queue],
    ["dead-letter queue", dlq],
  ] as const) {
    if (!QUEUE_NAME.test(name)) {
      return `${what} name "${name}" is not a valid SQS queue name (1-80 letters, digits, - and _; FIFO queues end in .fifo)`;
    }
  }
  if (queue === dlq) return `the dead-letter queue must be another queue than ${queue}`;
  if (queue.endsWith(".fifo") !== dlq.endsWith(".fifo")) {
    return `${queue} and its dead-letter queue ${dlq} must both be FIFO queues (.fifo) or both standard`;
  }
  return undefined;
}

/** A FIFO queue's dead-letter queue must be FIFO too, and its name must end in .fifo. */
export function defaultDeadLetterQueueName(queueName: string): string {
  return queueName.endsWith(".fifo") ? `${queueName.slice(0, -5)}-dlq.fifo` : `${queueName}-dlq`;
}

export async function setUpQueues(
  sqs: SQSClient,
  request: QueueSetupRequest,
): Promise<QueueSetupResult> {
  const dlq = await ensureQueue(sqs, request.deadLetterQueueName, {
    MessageRetentionPeriod: String(MAX_RETENTION_SECONDS),
  });
  const dlqArn = (await queueAttributes(sqs, dlq.url)).QueueArn;
  if (!dlqArn) throw new Error(`GetQueueAttributes returned no QueueArn for ${dlq.url}`);
  const wanted: Redrive = { deadLetterTargetArn: dlqArn, maxReceiveCount: request.maxReceiveCount };
  const policy = JSON.stringify({ ...wanted, maxReceiveCount: String(wanted.maxReceiveCount) });

  const queue = await ensureQueue(sqs, request.queueName, { RedrivePolicy: policy });
  const result = (redrive: QueueSetupResult["redrive"]): QueueSetupResult => ({
    queue: { name: request.queueName, ...queue },
    deadLetterQueue: { name: request.deadLetterQueueName, arn: dlqArn, ...dlq },
    redrive,
  });
  if (queue.created) return result({ state: "set", maxReceiveCount: wanted.maxReceiveCount });

  const existing = (await queueAttributes(sqs, queue.url)).RedrivePolicy;
  if (!existing) {
    await sqs.send(
      new SetQueueAttributesCommand({
        QueueUrl: queue.url,
        Attributes: { RedrivePolicy: policy },
      }),
    );
    return result({ state: "set", maxReceiveCount: wanted.maxReceiveCount });
  }
  return sameRedrive(existing, wanted)
    ? result({ state: "unchanged", maxReceiveCount: wanted.maxReceiveCount })
    : result({ state: "different", existing });
}

async function ensureQueue(
  sqs: SQSClient,
  name: string,
  attributes: Record<string, string>,
): Promise<{ url: string; created: boolean }> {
  const found = await findQueue(sqs, name);
  if (found) return { url: found, created: false };
  const fifo = name.endsWith(".fifo") ? { FifoQueue: "true" } : {};
  try {
    const out = await sqs.send(
      new CreateQueueCommand({ QueueName: name, Attributes: { ...fifo, ...attributes } }),
    );
    if (!out.QueueUrl) throw new Error(`CreateQueue returned no QueueUrl for ${name}`);
    return { url: out.QueueUrl, created: true };
  } catch (err) {
    // Created by someone else since we looked (with other attributes): use theirs.
    const raced = err instanceof QueueNameExists ? await findQueue(sqs, name) : undefined;
    if (raced) return { url: raced, created: false };
    throw err;
  }
}

async function findQueue(sqs: SQSClient, name: string): Promise<string | undefined> {
  try {
    return (await sqs.send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl;
  } catch (err) {
    if (isQueueMissing(err)) return undefined;
    throw err;
  }
}

/** maxReceiveCount is a string in some answers and a number in others. */
function sameRedrive(existing: string, wanted: Redrive): boolean {
  try {
    const parsed = JSON.parse(existing) as {
      deadLetterTargetArn?: unknown;
      maxReceiveCount?: unknown;
    };
    return (
      parsed.deadLetterTargetArn === wanted.deadLetterTargetArn &&
      Number(parsed.maxReceiveCount) === wanted.maxReceiveCount
    );
  } catch {
    return false;
  }
}
