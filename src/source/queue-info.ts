// Queue attributes for `etl status`, `etl prune` and `etl run --from-dlq`: depth, dead-letter
// queue, retention.
import { GetQueueAttributesCommand, GetQueueUrlCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { ConfigError } from "../errors.js";

export interface QueueDepth {
  visible: number;
  inFlight: number;
  delayed: number;
}

export interface QueueInfo {
  url: string;
  depth: QueueDepth;
  retentionSeconds: number;
  deadLetter: { url: string; depth: QueueDepth; maxReceiveCount: number } | undefined;
}

/** Every attribute of a queue (also used by `etl init-queue`). */
export async function queueAttributes(
  client: SQSClient,
  url: string,
): Promise<Record<string, string>> {
  const out = await client.send(
    new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["All"] }),
  );
  return out.Attributes ?? {};
}

function depthOf(a: Record<string, string>): QueueDepth {
  return {
    visible: Number(a.ApproximateNumberOfMessages ?? 0),
    inFlight: Number(a.ApproximateNumberOfMessagesNotVisible ?? 0),
    delayed: Number(a.ApproximateNumberOfMessagesDelayed ?? 0),
  };
}

export async function getQueueDepth(client: SQSClient, url: string): Promise<QueueDepth> {
  return depthOf(await queueAttributes(client, url));
}

export async function getQueueInfo(client: SQSClient, url: string): Promise<QueueInfo> {
  const a = await queueAttributes(client, url);
  return {
    url,
    depth: depthOf(a),
    // SQS's default retention is 4 days when the attribute is absent.
    retentionSeconds: Number(a.MessageRetentionPeriod ?? 345_600),
    deadLetter: await deadLetterOf(client, a.RedrivePolicy),
  };
}

async function deadLetterOf(client: SQSClient, redrivePolicy: string | undefined) {
  const target = await deadLetterTarget(client, redrivePolicy);
  if (!target) return undefined;
  return { ...target, depth: depthOf(await queueAttributes(client, target.url)) };
}

/** The dead-letter queue a redrive policy names, and after how many receives it is used. */
async function deadLetterTarget(
  client: SQSClient,
  redrivePolicy: string | undefined,
): Promise<{ url: string; maxReceiveCount: number } | undefined> {
  if (!redrivePolicy) return undefined;
  let policy: { deadLetterTargetArn?: string; maxReceiveCount?: string | number };
  try {
    policy = JSON.parse(redrivePolicy) as typeof policy;
  } catch {
    return undefined;
  }
  // arn:aws:sqs:REGION:ACCOUNT:NAME
  const parts = policy.deadLetterTargetArn?.split(":") ?? [];
  const name = parts[5];
  if (!name) return undefined;
  const { QueueUrl } = await client.send(
    new GetQueueUrlCommand({ QueueName: name, QueueOwnerAWSAccountId: parts[4] }),
  );
  if (!QueueUrl) return undefined;
  return { url: QueueUrl, maxReceiveCount: Number(policy.maxReceiveCount ?? 0) };
}

/**
 * The URL of the queue's dead-letter queue, for `etl run --from-dlq`. A queue without one is a
 * usage error: there is nothing to drain.
 */
export async function deadLetterQueueUrl(client: SQSClient, queueUrl: string): Promise<string> {
  const attributes = await client.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["RedrivePolicy"] }),
  );
  const target = await deadLetterTarget(client, attributes.Attributes?.RedrivePolicy);
  if (!target) {
    throw new ConfigError(
      `${queueUrl} has no dead-letter queue (no RedrivePolicy), so --from-dlq has nothing to ` +
        "drain. `etl init-queue` adds one.",
    );
  }
  return target.url;
}
