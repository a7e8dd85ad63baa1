// What we keep of a rejected message, for a human to debug the producer.
//
// Rule: no raw PII may land in any table, not even inside a body we could not
// parse. So every ip and device id we can recognise is replaced by
// "hmac:<mask>", using the same masker as the rows: an engineer can still see
// that a rejected message came from the same device as some loaded row,
// without ever seeing the device id itself.

import { isIPv6 } from "node:net";
import { canonicalizeIp } from "./ip.js";
import type { Masker } from "./mask.js";
import { makeStorable } from "./text.js";

type PiiKind = "ip" | "device_id";

/** Deepest container nesting (objects and arrays) walked structurally; deeper → text path. */
const MAX_PAYLOAD_DEPTH = 64;

/**
 * The most characters of masked payload stored per rejected message. Masking can make a body
 * nine times longer (each "1.1.1.1" becomes "hmac:" + 64 hex), so an uncapped payload would
 * make memory depend on what an attacker sends, not on what the run receives. The sealed
 * original keeps the whole body for `etl replay`; the payload is only for a human to read.
 */
export const STORED_PAYLOAD_MAX_CHARS = 8_192;

function maskAs(kind: PiiKind, text: string, masker: Masker): string {
  if (kind === "device_id") return `hmac:${masker.deviceId(text)}`;
  // Canonical form first, so the mask matches the one in user_logins.masked_ip.
  return `hmac:${masker.ip(canonicalizeIp(text) ?? text)}`;
}

// ---------------------------------------------------------------------------
// Text scrubber: for bodies that are not JSON, and for every string inside
// bodies that are. Pattern based, so it errs on the side of masking too much
// (a version "1.2.3.4" looks like an IPv4 and gets masked; that is fine).

// `"ip": "…"` / `"device_id": 123` inside JSON-ish text (truncated JSON is the
// usual non-JSON body). Catches device ids in any format, not only ddd-dd-dddd.
// The closing quote is optional because truncation may have cut it off.
const KEYED_VALUE = String.raw`"(?<key>ip|device_id)"\s*:\s*(?<value>"(?:[^"\\]|\\.)*"?|-?[0-9][0-9.eE+-]*)`;
// A maximal run of hex digits, ':' and '.', containing at least two ':'.
// Validated with isIPv6 below, which keeps this conservative ("10:30:00" is
// left alone) without writing out the full IPv6 grammar as a regex.
const IPV6_RUN = "(?<![0-9A-Fa-f:.])(?=[0-9A-Fa-f.]*:[0-9A-Fa-f.]*:)(?<v6>[0-9A-Fa-f:.]+)";
// Digit lookarounds rather than \b: \b would miss "ip_1.2.3.4" and "x1.2.3.4"
// ('_' and letters are word characters, so there is no boundary before the 1).
const IPV4 = String.raw`(?<!\d)(?<v4>\d{1,3}(?:\.\d{1,3}){3})(?!\d)`;
const DEVICE_ID = String.raw`(?<!\d)(?<dev>\d{3}-\d{2}-\d{4})(?!\d)`;

const PII = new RegExp(`${KEYED_VALUE}|${IPV6_RUN}|${IPV4}|${DEVICE_ID}`, "g");
const IPV4_ONLY = new RegExp(IPV4, "g");

/** The JSON string token's content, decoded if it is complete. */
function keyedValueText(token: string): string {
  if (!token.startsWith('"')) return token; // a number
  try {
    const decoded: unknown = JSON.parse(token);
    if (typeof decoded === "string") return decoded;
  } catch {
    // Truncated or bad escape: mask the raw characters instead.
  }
  return token.slice(1, token.endsWith('"') && token.length > 1 ? -1 : undefined);
}

/**
 * An address may have sentence or "host:port" punctuation glued on
 * ("… from 2001:db8::1." or "ip:2001:db8::1:"). Try the run, then the run with
 * trailing '.'/':' and a single leading ':' removed.
 */
function maskIpv6Run(run: string, masker: Masker): string {
  const noTrailingDots = run.replace(/\.+$/, "");
  const noTrailingColon = noTrailingDots.replace(/(?<!:):$/, "");
  for (const end of [run, noTrailingDots, noTrailingColon]) {
    for (const start of [0, 1]) {
      if (start === 1 && !(end.startsWith(":") && !end.startsWith("::"))) continue;
      const candidate = end.slice(start);
      if (isIPv6(candidate)) {
        return run.slice(0, start) + maskAs("ip", candidate, masker) + run.slice(end.length);
      }
    }
  }
  // Not an IPv6 address (e.g. "1.2.3.4:80:"), but it may still contain an IPv4.
  return run.replace(IPV4_ONLY, (v4) => maskAs("ip", v4, masker));
}

/**
 * Mask everything in `text` that looks like an ip or a device id, and make the
 * result storable in Postgres text: U+0000 becomes the six characters `\u0000`
 * and lone surrogates become U+FFFD. With `limit`, stops once the result has
 * that many characters (it may be longer; callers cut it): the prefix is masked
 * exactly as the whole would be, and a huge body costs no more than its prefix.
 */
export function scrubText(text: string, masker: Masker, limit = Number.POSITIVE_INFINITY): string {
  const s = makeStorable(text);
  let out = "";
  let last = 0;
  // One pass with one combined pattern, so a replacement is never re-scanned
  // by another pattern.
  for (const m of s.matchAll(PII)) {
    if (out.length >= limit) return out;
    const g = m.groups ?? {};
    let replacement: string;
    if (g.key !== undefined && g.value !== undefined) {
      const kind: PiiKind = g.key === "ip" ? "ip" : "device_id";
      replacement = `"${g.key}":"${maskAs(kind, keyedValueText(g.value), masker)}"`;
    } else if (g.v6 !== undefined) {
      replacement = maskIpv6Run(g.v6, masker);
    } else if (g.v4 !== undefined) {
      replacement = maskAs("ip", g.v4, masker);
    } else {
      replacement = maskAs("device_id", m[0], masker);
    }
    out += s.slice(last, m.index) + replacement;
    last = m.index + m[0].length;
  }
  return out + s.slice(last);
}

// ---------------------------------------------------------------------------
// JSON path: mask by field name (exact, whatever the value looks like), then
// scrub every other string and every key with the text scrubber.

/** True if containers nest deeper than `limit`. Iterative: any depth is safe. */
function nestsDeeperThan(root: unknown, limit: number): boolean {
  const stack: Array<[unknown, number]> = [[root, 1]];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    const [value, depth] = item;
    if (typeof value !== "object" || value === null) continue;
    if (depth > limit) return true;
    for (const child of Object.values(value)) stack.push([child, depth + 1]);
  }
  return false;
}

/**
 * The PII kind of a member, by its own key (at any depth) or by its flattened
 * name ({"device":{"id":…}} is device_id once flattened, see flatten.ts).
 * `flatName` is null inside arrays, which flattening does not enter.
 */
function piiKind(key: string, flatName: string | null): PiiKind | null {
  if (key === "ip" || flatName === "ip") return "ip";
  if (key === "device_id" || flatName === "device_id") return "device_id";
  return null;
}

function maskMember(kind: PiiKind, value: unknown, masker: Masker): unknown {
  if (value === null) return null;
  if (typeof value === "string") return maskAs(kind, value, masker);
  // A number, boolean, object or array under an ip/device_id key is masked
  // whole, via its JSON text: we cannot know which part of it is the PII.
  return maskAs(kind, JSON.stringify(value), masker);
}

// Recursion is safe: nestsDeeperThan has bounded the depth to MAX_PAYLOAD_DEPTH.
function scrubJson(value: unknown, flatName: string | null, masker: Masker): unknown {
  if (typeof value === "string") return scrubText(value, masker);
  if (typeof value !== "object" || value === null) return value;
  if (Array.isArray(value)) return value.map((item) => scrubJson(item, null, masker));

  // Null prototype: assigning out["__proto__"] creates an ordinary own
  // property, so a "__proto__" key in the body is kept as data and cannot
  // change the object's prototype.
  const out: Record<string, unknown> = Object.create(null);
  for (const [key, child] of Object.entries(value)) {
    const childFlatName = flatName === null ? null : flatName === "" ? key : `${flatName}_${key}`;
    const kind = piiKind(key, childFlatName);
    // Keys are scrubbed too ({"ips":{"1.2.3.4":true}}). Two keys scrubbing to
    // the same text would merge; only possible for two spellings of one address.
    out[scrubText(key, masker)] =
      kind === null ? scrubJson(child, childFlatName, masker) : maskMember(kind, child, masker);
  }
  return out;
}

/**
 * The body of a rejected message with all recognisable PII masked, safe to
 * store, at most STORED_PAYLOAD_MAX_CHARS long plus a note saying it was cut.
 * JSON bodies (nested no deeper than 64 containers) are masked by structure and
 * re-serialised; anything else goes through the text scrubber. The cut is made
 * after masking, so it can never leave part of an address readable.
 */
export function maskPayload(body: string, masker: Masker): string {
  return capPayload(maskWhole(body, masker), body.length);
}

function maskWhole(body: string, masker: Masker): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return scrubText(body, masker, STORED_PAYLOAD_MAX_CHARS + 1);
  }
  if (nestsDeeperThan(parsed, MAX_PAYLOAD_DEPTH)) {
    return scrubText(body, masker, STORED_PAYLOAD_MAX_CHARS + 1);
  }
  return JSON.stringify(scrubJson(parsed, "", masker));
}

function capPayload(masked: string, bodyLength: number): string {
  if (masked.length <= STORED_PAYLOAD_MAX_CHARS) return masked;
  let end = STORED_PAYLOAD_MAX_CHARS;
  // Never end on the first half of a surrogate pair (Postgres would get U+FFFD).
  const last = masked.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return `${masked.slice(0, end)}… [cut: masked payload of a ${bodyLength}-character body; the sealed original keeps all of it for etl replay]`;
}
