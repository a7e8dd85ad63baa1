// SQS's own limits, stated once. Every batch API (ReceiveMessage's MaxNumberOfMessages,
// DeleteMessageBatch, ChangeMessageVisibilityBatch, SendMessageBatch) takes at most 10 entries.
export const SQS_BATCH_MAX = 10;

/** The list in consecutive pieces of at most SQS_BATCH_MAX. */
export function inSqsBatches<T>(items: readonly T[]): T[][] {
  const batches: T[][] = [];
  for (let i = 0; i < items.length; i += SQS_BATCH_MAX) {
    batches.push(items.slice(i, i + SQS_BATCH_MAX));
  }
  return batches;
}
