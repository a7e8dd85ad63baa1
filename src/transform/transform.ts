// One SQS message body → one row, or one rejection. Pure: no I/O, no clock,
// no randomness, so the same message always gets the same outcome (which
// makes redelivered messages safe to load again).

import type { LoginRow, RejectReason, TransformResult } from "../types.js";
import { flatten, isJsonObject, MAX_DEPTH } from "./flatten.js";
import { canonicalizeIp } from "./ip.js";
import type { Masker } from "./mask.js";
import { maskPayload } from "./rejected-payload.js";
import { codePointLength } from "./text.js";
import { jsonType, validateFields } from "./validate.js";
import { encodeAppVersion } from "./version.js";

/** What the transform needs of a received message. */
export interface TransformInput {
  body: string;
  /** Milliseconds since the epoch (SQS SentTimestamp), if the attribute was present. */
  sentTimestamp: number | undefined;
}

/**
 * A SentTimestamp as ISO-8601 UTC text, or null if there is no usable one. Years
 * outside 1970–9999 are refused: SQS cannot produce them, and toISOString would
 * write "+275760-…", which is no date or timestamptz value Postgres accepts.
 * The sink stores rejected messages' sent_at by the same rule.
 */
export function sentTime(ms: number | undefined): string | null {
  if (ms === undefined || !Number.isFinite(ms) || ms < 0) return null;
  const date = new Date(ms);
  if (Number.isNaN(date.getTime()) || date.getUTCFullYear() > 9999) return null;
  return date.toISOString();
}

/**
 * UTC calendar date (YYYY-MM-DD) of a timestamp, or null if there is no usable
 * one. UTC so that the partition a row lands in does not depend on where the
 * ETL happens to run.
 */
function utcDate(ms: number | undefined): string | null {
  return sentTime(ms)?.slice(0, 10) ?? null;
}

/**
 * What a value looks like, without any of it: a detail must say which field and rule failed, and
 * a value in the wrong field (an address sent as app_version) may be PII. "a string of 7
 * characters: digits, dots" tells a producer enough to find the bug.
 */
export function describeShape(value: string | number): string {
  if (typeof value === "number") {
    return Number.isFinite(value)
      ? `a number of ${String(value).length} characters`
      : "a number out of range";
  }
  const kinds = [
    [/\p{N}/u, "digits"],
    [/\p{L}/u, "letters"],
    [/\./, "dots"],
    [/-/, "hyphens"],
    [/\s/u, "spaces"],
    [/[^\p{N}\p{L}.\s-]/u, "other symbols"],
  ] as const;
  const has = kinds.filter(([pattern]) => pattern.test(value)).map(([, name]) => name);
  const length = codePointLength(value, 1_000_000);
  return `a string of ${length} characters${has.length > 0 ? `: ${has.join(", ")}` : ""}`;
}

/**
 * The user_id a body names, read the way the transform reads it (top level or flattened,
 * `{"user":{"id":…}}`), or undefined: for erasure, which must find a user's rejected messages
 * whatever else is wrong with them.
 */
export function userIdOf(body: string): string | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (!isJsonObject(parsed)) return undefined;
  const flat = flatten(parsed);
  const id = flat.ok ? flat.fields.get("user_id") : parsed.user_id;
  return typeof id === "string" ? id : undefined;
}

/** Longest dropped-field name kept for the run summary (names come from producers). */
const DROPPED_NAME_MAX = 64;
/** A part of a dropped field's name is kept only if it is a plain word of at most this length. */
const NAME_WORD_MAX = 32;

/**
 * What the run summary (logs, etl.runs) records of a dropped field's name: its shape. Each
 * `_`-separated part that is a plain word stays; any other part (digits, dots, colons, anything
 * else) becomes `*`. A producer that sends a map keyed by device id or IP address
 * ({"devices":{"a1b2c3d4e5f60718":…}}) has its keys in the flattened names; pattern masking
 * would miss a device id of an unknown format, so values never reach the summary at all:
 * "devices_a1b2c3d4e5f60718" is recorded as "devices_*".
 */
export function droppedFieldShape(name: string): string {
  const shape = name
    .slice(0, 4 * DROPPED_NAME_MAX)
    .split("_")
    .map((part) => (part.length <= NAME_WORD_MAX && /^[A-Za-z]*$/.test(part) ? part : "*"))
    .join("_");
  return shape.length > DROPPED_NAME_MAX ? `${shape.slice(0, DROPPED_NAME_MAX)}…` : shape;
}

/**
 * Transform one message. Steps run in a fixed order and the first failure
 * decides the reason. Details name the field and the rule but never echo a
 * value (the one exception is app_version, which is not PII and is what a
 * producer needs to see; it is still scrubbed and truncated).
 */
export function transformMessage(msg: TransformInput, masker: Masker): TransformResult {
  try {
    return transformOrThrow(msg, masker);
  } catch (err) {
    // Whatever one body does to the transform is that message's problem, never the run's.
    return {
      kind: "rejected",
      reason: "transform_failed",
      detail: `the transform failed with ${errorName(err)}; the sealed original is kept for etl replay`,
      maskedPayload: withheldPayload(err),
    };
  }
}

/** The class of an error, never its message (a message may quote the body). */
function errorName(err: unknown): string {
  return err instanceof Error ? err.name : typeof err;
}

function withheldPayload(err: unknown): string {
  return `[payload withheld: masking it failed with ${errorName(err)}]`;
}

/** The stored payload, or a note saying why there is none: a rejection must always be writable. */
export function storedPayload(body: string, masker: Masker): string {
  try {
    return maskPayload(body, masker);
  } catch (err) {
    return withheldPayload(err);
  }
}

function transformOrThrow(msg: TransformInput, masker: Masker): TransformResult {
  const rejected = (reason: RejectReason, detail: string): TransformResult => ({
    kind: "rejected",
    reason,
    detail,
    maskedPayload: storedPayload(msg.body, masker),
  });

  let parsed: unknown;
  try {
    parsed = JSON.parse(msg.body);
  } catch {
    // Not the parser's message: V8 quotes part of the body in it, which may be PII.
    return rejected("invalid_json", msg.body === "" ? "body is empty" : "body is not valid JSON");
  }
  if (!isJsonObject(parsed)) {
    return rejected("not_an_object", `body is a JSON ${jsonType(parsed)}, not an object`);
  }

  const flat = flatten(parsed);
  if (!flat.ok) {
    if (flat.reason === "too_deeply_nested") {
      return rejected(flat.reason, `objects are nested more than ${MAX_DEPTH} levels deep`);
    }
    return rejected(
      flat.reason,
      `a field named ${droppedFieldShape(flat.duplicateKey)} appears twice after flattening`,
    );
  }

  const valid = validateFields(flat.fields);
  if (!valid.ok) return rejected(valid.reason, valid.detail);
  const fields = valid.fields;

  let ip: string | null = null;
  if (fields.ip !== null) {
    ip = canonicalizeIp(fields.ip);
    if (ip === null) {
      return rejected(
        "invalid_ip",
        "ip is not a strict IPv4 dotted quad or an IPv6 address (no zone id, no surrounding spaces)",
      );
    }
  }

  let appVersion: number | null = null;
  if (fields.app_version !== null) {
    appVersion = encodeAppVersion(fields.app_version);
    if (appVersion === null) {
      return rejected(
        "invalid_app_version",
        `app_version (${describeShape(fields.app_version)}) is not MAJOR[.MINOR[.PATCH]] with MINOR and PATCH below 1000 and an encoded value that fits int4`,
      );
    }
  }

  const createDate = utcDate(msg.sentTimestamp);
  if (createDate === null) {
    return rejected(
      "missing_sent_timestamp",
      msg.sentTimestamp === undefined
        ? "message has no SentTimestamp attribute"
        : "SentTimestamp is not a time between 1970 and 9999",
    );
  }

  const row: LoginRow = {
    user_id: fields.user_id,
    device_type: fields.device_type,
    masked_ip: ip === null ? null : masker.ip(ip),
    masked_device_id: fields.device_id === null ? null : masker.deviceId(fields.device_id),
    locale: fields.locale,
    app_version: appVersion,
    create_date: createDate,
  };
  // Field names come from the body too: only their shape is kept (see droppedFieldShape).
  const droppedFields = valid.droppedFields.map(droppedFieldShape);
  return { kind: "row", row, originals: { ip, device_id: fields.device_id }, droppedFields };
}
