// Keeping held messages invisible. A received message is hidden from other consumers for the
// visibility timeout; if our batch is still waiting, in a slow transaction or waiting for its
// delete when that runs out, SQS hands the message to someone else (or to our own next poll).
// The ledger would make that copy harmless, but it costs a second receive and can push a message
// toward the dead-letter queue. So while we hold a message, we extend its visibility
// (ChangeMessageVisibilityBatch) before it expires, and stop once it is deleted or given up on.
import { ChangeMessageVisibilityBatchCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { describeError } from "../errors.js";
import type { Logger } from "../logger.js";
import type { ReceivedMessage } from "../types.js";
import { inSqsBatches } from "./sqs-limits.js";

export interface VisibilityKeeperOptions {
  queueUrl: string;
  endpoint: string;
  /** Seconds, as requested on ReceiveMessage and on every extension. */
  visibilityTimeout: number;
}

interface Held {
  message: ReceivedMessage;
  /** When SQS will make it visible again, as far as we know (ms since the epoch). */
  visibleAt: number;
}

export class VisibilityKeeper {
  private readonly held = new Map<string, Held>();
  private readonly timer: NodeJS.Timeout;
  private ticking = false;
  /** Extensions that SQS accepted; for the run summary and tests. */
  extended = 0;

  constructor(
    private readonly client: SQSClient,
    private readonly options: VisibilityKeeperOptions,
    private readonly logger: Logger,
  ) {
    // Check four times per timeout; extend what has less than half of it left. That leaves at
    // least a quarter of the timeout for the extension call itself.
    const period = Math.max(250, (options.visibilityTimeout * 1_000) / 4);
    this.timer = setInterval(() => void this.tick(), period);
    this.timer.unref();
  }

  track(messages: readonly ReceivedMessage[]): void {
    // The clock started when SQS sent the response, a little before now: count from now minus a
    // margin rather than risk extending too late.
    const visibleAt = Date.now() + this.options.visibilityTimeout * 1_000 - 500;
    for (const message of messages) this.held.set(message.receiptHandle, { message, visibleAt });
  }

  untrack(messages: readonly ReceivedMessage[]): void {
    for (const message of messages) this.held.delete(message.receiptHandle);
  }

  stop(): void {
    clearInterval(this.timer);
    this.held.clear();
  }

  private async tick(): Promise<void> {
    if (this.ticking) return; // a slow extension call must not overlap the next one
    this.ticking = true;
    try {
      const threshold = Date.now() + (this.options.visibilityTimeout * 1_000) / 2;
      const due = [...this.held.values()].filter((h) => h.visibleAt <= threshold);
      for (const batch of inSqsBatches(due)) await this.extend(batch);
    } finally {
      this.ticking = false;
    }
  }

  private async extend(chunk: Held[]): Promise<void> {
    const { queueUrl, endpoint, visibilityTimeout } = this.options;
    const sentAt = Date.now();
    try {
      const out = await this.client.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: queueUrl,
          Entries: chunk.map((h, i) => ({
            Id: String(i),
            ReceiptHandle: h.message.receiptHandle,
            VisibilityTimeout: visibilityTimeout,
          })),
        }),
      );
      for (const ok of out.Successful ?? []) {
        const h = chunk[Number(ok.Id)];
        // Still held? It may have been deleted while the call was in flight.
        if (h && this.held.has(h.message.receiptHandle)) {
          h.visibleAt = sentAt + visibilityTimeout * 1_000;
          this.extended++;
        }
      }
      for (const failed of out.Failed ?? []) {
        const h = chunk[Number(failed.Id)];
        this.logger.warn(
          { messageId: h?.message.messageId, code: failed.Code, endpoint },
          "could not extend a held message's visibility; it may be received again (the ledger makes that harmless)",
        );
        // An invalid receipt handle will never become valid: stop trying.
        if (h) this.held.delete(h.message.receiptHandle);
      }
    } catch (err) {
      // Transient; the next tick tries again while there is time left.
      this.logger.warn({ endpoint }, `ChangeMessageVisibilityBatch failed: ${describeError(err)}`);
    }
  }
}
