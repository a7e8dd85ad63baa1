// SQS helpers shared by the orchestrator and the contender scripts in bench/procs/.
import {
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";

export const REGION = "us-east-1";

/** A client for a local endpoint, configured like login-etl's (emulators accept test/test). */
export function localSqsClient(endpoint: string): SQSClient {
  return new SQSClient({
    region: REGION,
    endpoint,
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
  });
}

export async function createQueue(client: SQSClient, name: string): Promise<string> {
  const { QueueUrl } = await client.send(new CreateQueueCommand({ QueueName: name }));
  if (!QueueUrl) throw new Error(`CreateQueue ${name} returned no QueueUrl`);
  return QueueUrl;
}

export async function deleteQueue(client: SQSClient, url: string): Promise<void> {
  await client.send(new DeleteQueueCommand({ QueueUrl: url }));
}

export interface Depth {
  visible: number;
  inFlight: number;
}

export async function queueDepth(client: SQSClient, url: string): Promise<Depth> {
  const { Attributes: a = {} } = await client.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    }),
  );
  return {
    visible: Number(a.ApproximateNumberOfMessages ?? Number.NaN),
    inFlight: Number(a.ApproximateNumberOfMessagesNotVisible ?? Number.NaN),
  };
}
