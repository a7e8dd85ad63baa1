// Turn the flattened fields into typed values, or say exactly why we cannot.
//
// Why hand-written and not zod: zod would only contribute the `typeof` checks.
// Every other rule needs custom code anyway (length in code points, since
// zod's .max() counts UTF-16 units; U+0000 and lone surrogates; "" counting as
// a missing user_id), and each zod issue would then have to be translated back
// into one of our RejectReason values with a PII-free detail, relying on zod's
// issue order to pick the reason. A table plus three small functions states
// the rules more directly than a schema plus a translation layer.

import { columnMaxLength } from "../login-columns.js";
import type { RejectReason } from "../types.js";
import { codePointLength, unstorableCharacter } from "./text.js";

/** The known fields, typed but not yet interpreted (ip and version are parsed later). */
export interface LoginFields {
  user_id: string;
  device_type: string | null;
  locale: string | null;
  /** Raw text as sent; canonicalised by the transform. */
  ip: string | null;
  device_id: string | null;
  /** Raw value as sent; encoded by the transform. */
  app_version: string | number | null;
}

export type Rejection = { ok: false; reason: RejectReason; detail: string };
export type ValidateResult = { ok: true; fields: LoginFields; droppedFields: string[] } | Rejection;

type TextField = "user_id" | "device_type" | "locale" | "ip" | "device_id";

// Longest accepted value, in code points. user_id, device_type and locale are
// stored as is, so these are the varchar(n) sizes of public.user_logins. ip and
// device_id are stored only as a fixed-size mask; their limit just bounds work
// and rejects garbage (no real address or device id is anywhere near 256).
// Over-long values are rejected, never truncated: a cut user_id is another user.
const MAX_LENGTH: Record<TextField, number> = {
  user_id: columnMaxLength("user_id"),
  device_type: columnMaxLength("device_type"),
  locale: columnMaxLength("locale"),
  ip: 256,
  device_id: 256,
};
const STORED_AS_IS = new Set<TextField>(["user_id", "device_type", "locale"]);

const KNOWN_FIELDS: ReadonlySet<string> = new Set([
  "user_id",
  "device_type",
  "locale",
  "ip",
  "device_id",
  "app_version",
]);

function reject(reason: RejectReason, detail: string): Rejection {
  return { ok: false, reason, detail };
}

/** JSON type name for details. Names the type only, never the value (PII). */
export function jsonType(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  return typeof v;
}

/** Rules every stored string obeys; null if `value` passes. */
function checkText(field: TextField, value: string): Rejection | null {
  const bad = unstorableCharacter(value);
  if (bad !== null) return reject("invalid_string", `${field} contains ${bad}`);
  const max = MAX_LENGTH[field];
  if (codePointLength(value, max) > max) {
    const length = codePointLength(value);
    const limit = STORED_AS_IS.has(field)
      ? `the column holds ${max}`
      : `at most ${max} are accepted`;
    return reject("field_too_long", `${field} is ${length} characters; ${limit}`);
  }
  return null;
}

/** A nullable text field: absent or null → null, a string → checked, else a type error. */
function optionalText(fields: Map<string, unknown>, field: TextField): string | null | Rejection {
  const value = fields.get(field);
  if (value === undefined || value === null) return null;
  if (typeof value !== "string") {
    return reject(
      "invalid_field_type",
      `${field} must be a string or null, not ${jsonType(value)}`,
    );
  }
  return checkText(field, value) ?? value;
}

function isRejection(v: unknown): v is Rejection {
  return typeof v === "object" && v !== null && "ok" in v && v.ok === false;
}

/**
 * Validate flattened fields. Fields are checked in a fixed order (user_id
 * first) so that a message breaking several rules always gets the same
 * reason; in particular a message of some other type, which has no user_id,
 * is reported as missing_user_id rather than by whatever else it lacks.
 */
export function validateFields(fields: Map<string, unknown>): ValidateResult {
  const userId = fields.get("user_id");
  if (userId === undefined || userId === null || userId === "") {
    const how = userId === undefined ? "missing" : userId === null ? "null" : "empty";
    return reject("missing_user_id", `user_id is ${how}`);
  }
  if (typeof userId !== "string") {
    return reject("invalid_field_type", `user_id must be a string, not ${jsonType(userId)}`);
  }
  const userIdProblem = checkText("user_id", userId);
  if (userIdProblem !== null) return userIdProblem;

  const deviceType = optionalText(fields, "device_type");
  if (isRejection(deviceType)) return deviceType;
  const locale = optionalText(fields, "locale");
  if (isRejection(locale)) return locale;
  const ip = optionalText(fields, "ip");
  if (isRejection(ip)) return ip;
  const deviceId = optionalText(fields, "device_id");
  if (isRejection(deviceId)) return deviceId;

  // Strings and numbers both occur in the wild ("2.3.0", 2); whether the value
  // is a usable version is decided by encodeAppVersion, not here.
  const rawVersion = fields.get("app_version");
  let appVersion: string | number | null;
  if (rawVersion === undefined || rawVersion === null) appVersion = null;
  else if (typeof rawVersion === "string" || typeof rawVersion === "number")
    appVersion = rawVersion;
  else {
    return reject(
      "invalid_field_type",
      `app_version must be a string, number or null, not ${jsonType(rawVersion)}`,
    );
  }

  // Extra fields are normal (producers add fields before we add columns):
  // not an error, but reported so they can be counted.
  const droppedFields = [...fields.keys()].filter((k) => !KNOWN_FIELDS.has(k));

  return {
    ok: true,
    fields: {
      user_id: userId,
      device_type: deviceType,
      locale,
      ip,
      device_id: deviceId,
      app_version: appVersion,
    },
    droppedFields,
  };
}
