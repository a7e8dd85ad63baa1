// Shapes that cross stage boundaries: source → transform → sink → delete. The pipeline owns
// these contracts; the adapters (receiver, sink, deleter) implement them.
// Kept in one file so each stage can be read without the others.

/** One SQS message as the source hands it on. Only what later stages need is kept. */
export interface ReceivedMessage {
  messageId: string;
  receiptHandle: string;
  body: string;
  /** Milliseconds since the epoch, from the SentTimestamp system attribute. */
  sentTimestamp: number | undefined;
  /** ApproximateReceiveCount: 1 on first delivery. */
  receiveCount: number;
}

/** A row of public.user_logins, exactly as the table defines it. */
export interface LoginRow {
  user_id: string;
  device_type: string | null;
  masked_ip: string | null;
  masked_device_id: string | null;
  locale: string | null;
  app_version: number | null;
  /** UTC calendar date, YYYY-MM-DD. */
  create_date: string;
}

/** The values a row's masks were made from; null where the row's mask is null. */
export interface Originals {
  ip: string | null;
  device_id: string | null;
}

/** Machine-readable reasons a message is rejected instead of loaded. */
export const REJECT_REASONS = [
  "invalid_json",
  "not_an_object",
  "too_deeply_nested",
  "missing_user_id",
  "invalid_field_type",
  "field_too_long",
  "invalid_string",
  "invalid_ip",
  "invalid_app_version",
  "missing_sent_timestamp",
  "transform_failed",
  "db_error",
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

export type TransformResult =
  | {
      kind: "row";
      row: LoginRow;
      /**
       * The originals behind the row's masks (canonical ip, device_id as sent), for the PII vault
       * only: they reach no table but etl.pii_vault, and only sealed.
       */
      originals: Originals;
      /** Flattened names of fields that were present but are not columns (dropped, counted). */
      droppedFields: string[];
    }
  | {
      kind: "rejected";
      reason: RejectReason;
      /** Human-readable, PII-free explanation, e.g. "device_type is 40 characters; the column holds 32". */
      detail: string;
      /** The body with ip/device_id masked, safe to store; see transform/rejected-payload.ts. */
      maskedPayload: string;
    };

/** What the sink is handed: a message and what the transform made of it. */
export interface SinkItem {
  message: ReceivedMessage;
  result: TransformResult;
}

/** What one committed batch did. */
export interface SinkOutcome {
  inserted: number;
  /** Messages whose outcome was already committed (redelivery, rerun, overlapping run). */
  duplicates: number;
  rejected: Partial<Record<RejectReason, number>>;
}

/** What deleting committed messages from SQS did. */
export interface DeleteOutcome {
  deleted: number;
  /** Gave up on these after retries; they will be redelivered and skipped as duplicates. */
  failed: number;
  /** The receipt handle had expired (someone else received the message since): nothing to do. */
  stale: number;
}
