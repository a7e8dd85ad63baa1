// Delete: remove from SQS the messages whose outcome is committed. Called only after COMMIT, so a delete
// that never happens costs a redelivery, which the ledger turns into a no-op, never a lost row.
import {
  type BatchResultErrorEntry,
  DeleteMessageBatchCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import { describeError } from "../errors.js";
import type { Logger } from "../logger.js";
import { retry } from "../retry.js";
import { checkpoint } from "../test-hooks.js";
import type { DeleteOutcome, ReceivedMessage } from "../types.js";
import { inSqsBatches } from "./sqs-limits.js";

export interface DeleterOptions {
  queueUrl: string;
  endpoint: string;
  /** Attempts per entry, on top of the SDK's own retries of whole requests. */
  attempts?: number;
}

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
    const outcomes = await Promise.all(
      inSqsBatches(messages).map(async (chunk, i) => {
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

  /**
   * One DeleteMessageBatch of up to ten, then again for the entries that failed (not the whole
   * batch), under the shared retry policy. An expired receipt handle is not retried: someone
   * else holds the message now, and the ledger makes their copy a no-op.
   */
  private async deleteChunk(chunk: readonly ReceivedMessage[]): Promise<DeleteOutcome> {
    const outcome: DeleteOutcome = { deleted: 0, failed: 0, stale: 0 };
    let pending: { message: ReceivedMessage; code?: string | undefined; why?: string }[] =
      chunk.map((message) => ({ message }));
    const attempt = async () => {
      const batch = pending;
      const entries = batch.map((p, i) => ({
        Id: String(i),
        ReceiptHandle: p.message.receiptHandle,
      }));
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
      pending = [];
      for (const f of failures) {
        const item = batch[Number(f.Id)];
        if (!item) continue;
        if (f.Code === "ReceiptHandleIsInvalid" || f.Code === "InvalidParameterValue") {
          outcome.stale++;
        } else {
          pending.push({ message: item.message, code: f.Code, why: f.Message ?? f.Code });
        }
      }
      if (pending.length > 0) throw new EntriesFailed();
    };
    try {
      await retry(attempt, {
        retries: this.attempts - 1,
        minDelayMs: 200,
        shouldRetry: (err) => err instanceof EntriesFailed,
      });
    } catch (err) {
      if (!(err instanceof EntriesFailed)) throw err;
      for (const { message, code, why } of pending) {
        outcome.failed++;
        this.logger.warn(
          { messageId: message.messageId, code, endpoint: this.options.endpoint },
          `DeleteMessageBatch gave up on a message after ${this.attempts} attempts: ${why}`,
        );
      }
    }
    return outcome;
  }
}

/** Some entries of a batch are still not deleted (an internal signal to retry them). */
class EntriesFailed extends Error {}
