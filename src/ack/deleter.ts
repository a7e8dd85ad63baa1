// Acknowledge: delete messages whose outcome is committed. Called only after COMMIT, so a delete
// that never happens costs a redelivery, which the ledger turns into a no-op, never a lost row.
import {
  type BatchResultErrorEntry,
  DeleteMessageBatchCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import { describeError } from "../errors.js";
import type { Logger } from "../logger.js";
import { checkpoint } from "../test-hooks.js";
import type { ReceivedMessage } from "../types.js";

export interface DeleteOutcome {
  deleted: number;
  /** Gave up on these after retries; they will be redelivered and skipped as duplicates. */
  failed: number;
  /** The receipt handle had expired (someone else received the message since): nothing to do. */
  stale: number;
}

export interface DeleterOptions {
  queueUrl: string;
  endpoint: string;
  /** Attempts per entry, on top of the SDK's own retries of whole requests. */
  attempts?: number;
}

const SQS_BATCH_LIMIT = 10;

export class Deleter {
  private readonly attempts: number;
  constructor(
    private readonly client: SQSClient,
    private readonly options: DeleterOptions,
    private readonly logger: Logger,
  ) {
    this.attempts = options.attempts ?? 3;
  }

  async delete(messages: readonly ReceivedMessage[]): Promise<DeleteOutcome> {
    const chunks: ReceivedMessage[][] = [];
    for (let i = 0; i < messages.length; i += SQS_BATCH_LIMIT) {
      chunks.push(messages.slice(i, i + SQS_BATCH_LIMIT));
    }
    const outcomes = await Promise.all(
      chunks.map(async (chunk, i) => {
        if (i > 0) await checkpoint("mid_delete");
        return this.deleteChunk(chunk);
      }),
    );
    return outcomes.reduce(
      (a, b) => ({
        deleted: a.deleted + b.deleted,
        failed: a.failed + b.failed,
        stale: a.stale + b.stale,
      }),
      { deleted: 0, failed: 0, stale: 0 },
    );
  }

  private async deleteChunk(chunk: ReceivedMessage[]): Promise<DeleteOutcome> {
    const outcome: DeleteOutcome = { deleted: 0, failed: 0, stale: 0 };
    let pending = chunk;
    for (let attempt = 1; pending.length > 0; attempt++) {
      const entries = pending.map((m, i) => ({ Id: String(i), ReceiptHandle: m.receiptHandle }));
      let failures: BatchResultErrorEntry[];
      try {
        const out = await this.client.send(
          new DeleteMessageBatchCommand({ QueueUrl: this.options.queueUrl, Entries: entries }),
        );
        outcome.deleted += out.Successful?.length ?? 0;
        failures = out.Failed ?? [];
      } catch (err) {
        // The whole request failed (after the SDK's retries): every entry is still pending.
        failures = entries.map((e) => ({
          Id: e.Id,
          Code: "RequestFailed",
          SenderFault: false,
          Message: describeError(err),
        }));
      }
      const retry: ReceivedMessage[] = [];
      for (const f of failures) {
        const message = pending[Number(f.Id)];
        if (!message) continue;
        if (f.Code === "ReceiptHandleIsInvalid" || f.Code === "InvalidParameterValue") {
          outcome.stale++;
        } else if (attempt < this.attempts) {
          retry.push(message);
        } else {
          outcome.failed++;
          this.logger.warn(
            { messageId: message.messageId, code: f.Code, endpoint: this.options.endpoint },
            `DeleteMessageBatch gave up on a message after ${attempt} attempts: ${f.Message ?? f.Code}`,
          );
        }
      }
      pending = retry;
      if (pending.length > 0) await sleep(100 * 2 ** attempt);
    }
    return outcome;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
