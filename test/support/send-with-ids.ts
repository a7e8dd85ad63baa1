// Sending bodies and learning each one's SQS MessageId, so a test can find the outcome of one
// particular message in the ledger or the rejected messages (harness.send only returns a count).
// Also a raw JSON-protocol SendMessage for bytes the AWS SDK cannot send (invalid UTF-8).
import { SendMessageBatchCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { batchIndices } from "../../src/sample/send.js";

/** What SQS said about one body: its MessageId, or the error code of a per-entry failure. */
export type SendOutcome = { messageId: string } | { error: string };

/**
 * Send `bodies` with SendMessageBatch, at most 10 entries and 256 KiB per request, and return one
 * outcome per body, in order (mapped by entry Id, not by position in the response). Per-entry
 * failures (e.g. InvalidMessageContents) are returned, not thrown.
 */
export async function sendWithIds(
  sqs: SQSClient,
  queueUrl: string,
  bodies: readonly string[],
): Promise<SendOutcome[]> {
  const batches = batchIndices(bodies);

  const outcomes = new Map<number, SendOutcome>();
  for (const batch of batches) {
    const out = await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: batch.map((i) => ({ Id: `m${i}`, MessageBody: bodies[i] ?? "" })),
      }),
    );
    for (const ok of out.Successful ?? []) {
      if (ok.Id && ok.MessageId) outcomes.set(Number(ok.Id.slice(1)), { messageId: ok.MessageId });
    }
    for (const failed of out.Failed ?? []) {
      if (failed.Id) outcomes.set(Number(failed.Id.slice(1)), { error: failed.Code ?? "unknown" });
    }
  }
  return bodies.map((_, i) => {
    const outcome = outcomes.get(i);
    if (!outcome) throw new Error(`SendMessageBatch said nothing about entry ${i}`);
    return outcome;
  });
}

/** The MessageId of a body that must have been accepted. */
export function acceptedId(outcome: SendOutcome | undefined, what: string): string {
  if (outcome && "messageId" in outcome) return outcome.messageId;
  throw new Error(`${what} was not accepted by SQS: ${JSON.stringify(outcome)}`);
}

/**
 * SendMessage over the SQS JSON protocol with a request body assembled from bytes, so the message
 * body can contain byte sequences that are not UTF-8 (which no JS string, and so no AWS SDK call,
 * can carry). `before` + `bytes` + `after` is the MessageBody's JSON string content, i.e. already
 * escaped for JSON. Emulators do not check signatures, so the request is not really signed; it
 * carries an Authorization header of the right shape because moto routes a request to a service
 * by the credential scope in it (without one it answers as S3).
 */
export async function sendRawBytes(
  endpoint: string,
  queueUrl: string,
  parts: { before: string; bytes: readonly number[]; after: string },
): Promise<{ status: number; messageId: string | undefined; text: string }> {
  const request = Buffer.concat([
    Buffer.from(`{"QueueUrl":${JSON.stringify(queueUrl)},"MessageBody":"${parts.before}`, "utf8"),
    Buffer.from(parts.bytes),
    Buffer.from(`${parts.after}"}`, "utf8"),
  ]);
  const res = await fetch(endpoint, {
    method: "POST",
    headers: {
      "content-type": "application/x-amz-json-1.0",
      "x-amz-target": "AmazonSQS.SendMessage",
      authorization:
        "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/sqs/aws4_request, " +
        "SignedHeaders=host, Signature=unsigned",
    },
    body: request,
  });
  const text = await res.text();
  let messageId: string | undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed === "object" && parsed !== null && "MessageId" in parsed) {
      messageId = typeof parsed.MessageId === "string" ? parsed.MessageId : undefined;
    }
  } catch {
    // not JSON: left undefined, the caller asserts on status and text
  }
  return { status: res.status, messageId, text };
}
