// One long poll: ReceiveMessage mapped to the ReceivedMessage shape the pipeline uses.
import { type Message, ReceiveMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { describeError, SqsError } from "../errors.js";
import type { ReceivedMessage } from "../types.js";

export interface ReceiverOptions {
  queueUrl: string;
  endpoint: string;
  waitTimeSeconds: number;
  visibilityTimeout: number;
}

export class Receiver {
  constructor(
    private readonly client: SQSClient,
    private readonly options: ReceiverOptions,
  ) {}

  /** Receive up to `max` (≤ SQS_BATCH_MAX) messages; an aborted poll resolves to an empty list. */
  async receive(max: number, signal: AbortSignal): Promise<ReceivedMessage[]> {
    const { queueUrl, endpoint, waitTimeSeconds, visibilityTimeout } = this.options;
    try {
      const out = await this.client.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          MaxNumberOfMessages: max,
          WaitTimeSeconds: waitTimeSeconds,
          VisibilityTimeout: visibilityTimeout,
          MessageSystemAttributeNames: ["SentTimestamp", "ApproximateReceiveCount"],
        }),
        { abortSignal: signal },
      );
      return (out.Messages ?? []).flatMap(toReceived);
    } catch (err) {
      if (signal.aborted) return [];
      throw new SqsError(
        `ReceiveMessage failed at ${endpoint}: ${describeError(err)}`,
        { operation: "ReceiveMessage", queueUrl, endpoint },
        { cause: err },
      );
    }
  }
}

function toReceived(m: Message): ReceivedMessage[] {
  // SQS always sends these three; a message without them cannot be tracked or deleted.
  if (!m.MessageId || !m.ReceiptHandle || m.Body === undefined) return [];
  const sent = Number(m.Attributes?.SentTimestamp);
  const count = Number(m.Attributes?.ApproximateReceiveCount);
  return [
    {
      messageId: m.MessageId,
      receiptHandle: m.ReceiptHandle,
      body: m.Body,
      sentTimestamp: Number.isFinite(sent) ? sent : undefined,
      receiveCount: Number.isFinite(count) ? count : 1,
    },
  ];
}
