// What we keep of a rejected message, for a human to debug the producer.
//
// Rule: no raw PII in any table, not even inside a body we could not parse. One lenient JSON
// tokenizer reads every body, valid, truncated or not JSON at all, at any depth (no recursion),
// and rewrites each value by where it sits, with the transform's field semantics:
// - a value whose member name flattens to `ip` or `device_id` ({"ip":…}, {"device":{"id":…}},
//   {"device\u005fid":…}, inside arrays too), and every scalar inside a container held there,
//   becomes "hmac:<mask>" with the same masker as the rows, so it can still be matched with a
//   loaded row without being readable;
// - a value of a column user_logins stores as it arrives (user_id, device_type, locale,
//   app_version) keeps its words (it reveals nothing the table does not), only addresses and
//   ddd-dd-dddd ids in it are masked;
// - every other key and value, and any text outside JSON, keeps only what cannot identify
//   anything: addresses and ddd-dd-dddd ids anywhere become masks, and every other word that
//   contains a digit becomes `#`s (a device id of a format we do not know, a map keyed by ids).
//   Words without digits, and words of up to 4 characters (counts, years, times, "v4"), stay.
// The result is cut at STORED_PAYLOAD_MAX_CHARS after masking; the sealed original keeps it all.

import { isIPv6 } from "node:net";
import { canonicalizeIp } from "./ip.js";
import type { Masker } from "./mask.js";
import { makeStorable } from "./text.js";

type PiiKind = "ip" | "device_id";

/**
 * The most characters of masked payload stored per rejected message. Masking can make a body
 * nine times longer (each "1.1.1.1" becomes "hmac:" + 64 hex), so an uncapped payload would
 * make memory depend on what an attacker sends, not on what the run receives. The sealed
 * original keeps the whole body for `etl replay`; the payload is only for a human to read.
 */
export const STORED_PAYLOAD_MAX_CHARS = 8_192;

/** Flattened names of the columns user_logins stores unmasked. */
const SHOWN_FIELDS = new Set(["user_id", "device_type", "locale", "app_version"]);

/**
 * Words this short cannot be an identifier worth hiding (counts, years, ports, times, "v4",
 * "eth0"): 4 characters are at most ~24 bits, and keeping them keeps payloads readable.
 */
const SHORT_WORD_MAX = 4;

function maskAs(kind: PiiKind, text: string, masker: Masker): string {
  if (kind === "device_id") return `hmac:${masker.deviceId(text)}`;
  // Canonical form first, so the mask matches the one in user_logins.masked_ip.
  return `hmac:${masker.ip(canonicalizeIp(text) ?? text)}`;
}

// ---------------------------------------------------------------------------------------------
// Free text: any key, any value of an unknown field, anything outside JSON.

// `ip=…`, `device_id: …` outside JSON (form encoding, logs, key=value lines): masked by name,
// whatever the value looks like.
const KEYED_PAIR = String.raw`(?<![A-Za-z0-9_])(?<pk>ip|device_id|device\.id|deviceId)\s*[=:]\s*(?<pv>[^\s&;,"'}\]]+)`;
// A maximal run of hex digits, ':' and '.', containing at least two ':'.
const IPV6_RUN = "(?<![0-9A-Fa-f:.])(?=[0-9A-Fa-f.]*:[0-9A-Fa-f.]*:)(?<v6>[0-9A-Fa-f:.]+)";
// Digit lookarounds rather than \b, so "ip_1.2.3.4" and "x1.2.3.4" are found too.
const IPV4 = String.raw`(?<!\d)(?<v4>\d{1,3}(?:\.\d{1,3}){3})(?!\d)`;
// Three octets and a dot: an address cut short (a truncated body).
const IPV4_PREFIX = String.raw`(?<![\d.])(?<v4p>\d{1,3}(?:\.\d{1,3}){2}\.)(?!\d)`;
// ddd-dd-dddd, also with spaces, dots, slashes or an en dash between the groups.
const DEVICE_ID = String.raw`(?<!\d)(?<dev>\d{3}[-. /\u2013]\d{2}[-. /\u2013]\d{4})(?!\d)`;
// Hex groups joined by '-' or '.' (UUIDs, MACs, AB12-CD34-EF56): identifiers when there are 4
// groups or more, or hex letters among digits; dates and versions ("2024-01-31", "1.2.3") stay.
const HEX_GROUPS =
  "(?<![0-9A-Za-z])(?<hex>[0-9A-Fa-f]{1,12}(?:[-.][0-9A-Fa-f]{1,12}){2,})(?![0-9A-Za-z])";
const RECOGNISED = new RegExp(
  [KEYED_PAIR, IPV6_RUN, IPV4, IPV4_PREFIX, DEVICE_ID, HEX_GROUPS].join("|"),
  "g",
);
const IPV4_ONLY = new RegExp(IPV4, "g");
const WORD = /[\p{L}\p{N}_]+/gu;
const DIGIT = /\p{N}/u;
const HEX_CHAR = /[0-9A-Fa-f]/g;

// Recognised values are swapped for this private-use character while the word rule runs (their
// masks are full of digits), then put back in order. A body's own U+E000 becomes U+FFFD first.
const SLOT = "\uE000";

/** Every hex digit as '#', separators kept: the shape of an identifier, not its value. */
const hashes = (text: string) => text.replace(HEX_CHAR, "#");

/** An identifier-like run of hex groups: 4 groups or more, or hex letters mixed with digits. */
function looksLikeId(run: string): boolean {
  const groups = run.split(/[-.:]/).filter((g) => g !== "");
  return /\d/.test(run) && (groups.length >= 4 || /[A-Fa-f]/.test(run));
}

/**
 * An address may have punctuation, a port or a label glued on ("… from 2001:db8::1.",
 * "ip:2001:db8::1:", "2001:db8::1.443", "src:2001:db8::…"). Try the run, then with trailing
 * '.'/':', a trailing port and a single leading label or ':' removed. Not an address at all: its
 * IPv4s are masked, and unless the rest is a time or a port every hex digit becomes '#'.
 */
function maskIpv6Run(run: string, slot: (mask: string) => string, masker: Masker): string {
  const noTrailingDots = run.replace(/\.+$/, "");
  const noTrailingColon = noTrailingDots.replace(/(?<!:):$/, "");
  const noPort = noTrailingColon.replace(/[.:]\d{1,5}$/, "");
  for (const end of [run, noTrailingDots, noTrailingColon, noPort]) {
    const label = /^[0-9A-Fa-f]{1,8}:(?!:)/.exec(end)?.[0].length ?? 0;
    for (const start of [0, 1, label]) {
      if (start === 1 && !(end.startsWith(":") && !end.startsWith("::"))) continue;
      const candidate = end.slice(start);
      if (isIPv6(candidate)) {
        return run.slice(0, start) + slot(maskAs("ip", candidate, masker)) + run.slice(end.length);
      }
    }
  }
  const withV4 = run.replace(IPV4_ONLY, (v4) => slot(maskAs("ip", v4, masker)));
  // What is left is an identifier unless it is a time or a port ("10:30:00", "…:80:").
  return looksLikeId(withV4.replaceAll(SLOT, ":")) ? hashes(withV4) : withV4;
}

/**
 * `text` with every address and device id we can recognise masked (by pattern, or by an
 * `ip=`/`device_id:` name before it), identifier-like hex runs turned into '#'s, and, unless
 * `words` is false, every other word containing a digit (except one of up to 4 characters)
 * replaced by `#`s. With `limit`, only about that many characters are produced (the caller
 * cuts): masking never shortens text, so what lies beyond the cut never needed masking, and the
 * margin keeps any pattern that starts before it whole.
 */
export function maskText(
  text: string,
  masker: Masker,
  limit = Number.POSITIVE_INFINITY,
  options: { words: boolean } = { words: true },
): string {
  const input = text.length > limit + 256 ? text.slice(0, limit + 256) : text;
  const masks: string[] = [];
  const slot = (mask: string) => {
    masks.push(mask);
    return SLOT;
  };
  const marked = input.replaceAll(SLOT, "\uFFFD").replace(RECOGNISED, (...match) => {
    const whole = String(match[0]);
    const g = match.at(-1) as Record<string, string | undefined>;
    if (g.pk !== undefined && g.pv !== undefined) {
      const kind: PiiKind = g.pk === "ip" ? "ip" : "device_id";
      return whole.slice(0, whole.length - g.pv.length) + slot(maskAs(kind, g.pv, masker));
    }
    if (g.v6 !== undefined) return maskIpv6Run(g.v6, slot, masker);
    if (g.v4 !== undefined) return slot(maskAs("ip", g.v4, masker));
    if (g.v4p !== undefined) return hashes(g.v4p);
    if (g.dev !== undefined) return slot(maskAs("device_id", g.dev, masker));
    return g.hex !== undefined && looksLikeId(g.hex) ? hashes(whole) : whole;
  });
  const words = options.words
    ? marked.replace(WORD, (word) =>
        DIGIT.test(word) && [...word].length > SHORT_WORD_MAX ? "#".repeat(word.length) : word,
      )
    : marked;
  let next = 0;
  return words.replaceAll(SLOT, () => masks[next++] ?? "");
}

// ---------------------------------------------------------------------------------------------
// The tokenizer: structure is kept, values are rewritten by position.

/**
 * Where an object is: expecting a member name, the ':' after one, a value, or a ',' after one.
 * In a value, ':' belongs to the token, so "2001:db8::1" and "10:30:00" reach the address
 * patterns whole even unquoted. A name seen in "after" state (a missing comma) is still a name.
 */
type ObjectState = "key" | "colon" | "value" | "after";

interface Frame {
  kind: "object" | "array";
  /** The current member's name (objects), as decoded. */
  key: string | null;
  state: ObjectState;
  /** Set when this container is the value of an ip/device_id member: all inside is masked. */
  inherited: PiiKind | null;
}

const isSpace = (c: string) => c === " " || c === "\n" || c === "\r" || c === "\t";
const isQuote = (c: string) => c === '"' || c === "'";

/** Whether `c` ends a bare token here. */
function endsToken(c: string, top: Frame | undefined): boolean {
  if (isSpace(c) || isQuote(c) || c === "{" || c === "}" || c === "[" || c === "]") return true;
  if (c === ",") return top !== undefined;
  // A value may contain ':' ("2001:db8::1" unquoted); a name cannot.
  if (c === ":") return top?.kind === "object" && top.state !== "value";
  return false;
}

/** The PII kind of a value at this position, by the transform's flattening ("_"-joined names). */
function piiAt(stack: readonly Frame[]): PiiKind | null {
  const top = stack.at(-1);
  if (!top) return null;
  if (top.inherited) return top.inherited;
  if (top.kind !== "object") return null;
  const last = top.key;
  const before = stack.at(-2);
  const parentKey = before?.kind === "object" ? before.key : null;
  if (last === "ip") return "ip";
  if (last === "device_id" || (last === "id" && parentKey === "device")) return "device_id";
  return null;
}

/** A column user_logins stores unmasked, at its flattened name from the root (no arrays). */
function shownAt(stack: readonly Frame[]): boolean {
  if (stack.length > 2 || stack.some((f) => f.kind !== "object")) return false;
  return SHOWN_FIELDS.has(stack.map((f) => f.key ?? "").join("_"));
}

/** A string token's content: decoded if valid JSON, else its escapes undone one by one. */
function decodeString(raw: string): string {
  try {
    const decoded: unknown = JSON.parse(`"${raw}"`);
    if (typeof decoded === "string") return decoded;
  } catch {
    // Truncated, single-quoted, a raw control character, or a bad escape: decode leniently.
  }
  return raw.replace(/\\(?:u([0-9a-fA-F]{4})|(.))/gs, (_, hex: string | undefined, c: string) => {
    if (hex !== undefined) return String.fromCharCode(Number.parseInt(hex, 16));
    return { n: "\n", r: "\r", t: "\t", b: "\b", f: "\f" }[c] ?? c;
  });
}

/** JSON carried inside a string (an SNS envelope's Message) is masked as JSON, this deep. */
const MAX_EMBEDDED_DEPTH = 3;

/**
 * The body of a rejected message with all PII masked (see the top of this file), safe to store,
 * at most STORED_PAYLOAD_MAX_CHARS long plus a note saying it was cut.
 */
export function maskPayload(body: string, masker: Masker): string {
  const { out, unfinished } = maskStructure(body, masker, STORED_PAYLOAD_MAX_CHARS, 0);
  return capPayload(makeStorable(out), body.length, unfinished);
}

function maskStructure(
  body: string,
  masker: Masker,
  limit: number,
  embedded: number,
): { out: string; unfinished: boolean } {
  const stack: Frame[] = [];
  let out = "";
  let i = 0;

  /** A scalar in value position (or a key-less token at the top level or in an array). */
  const value = (text: string, quoted: boolean): string => {
    const pii = piiAt(stack);
    if (pii) return JSON.stringify(maskAs(pii, text, masker));
    const trimmed = text.trimStart();
    if (quoted && embedded < MAX_EMBEDDED_DEPTH && (trimmed[0] === "{" || trimmed[0] === "[")) {
      return JSON.stringify(maskStructure(text, masker, limit - out.length, embedded + 1).out);
    }
    // A stored column keeps its words (it is in user_logins as it is), not an address in it.
    const masked = maskText(text, masker, limit - out.length, { words: !shownAt(stack) });
    return quoted ? JSON.stringify(masked) : masked;
  };
  const valueDone = () => {
    const top = stack.at(-1);
    if (top?.kind === "object") top.state = "after";
  };
  /** Whether a token now is a member name. */
  const atName = () => {
    const top = stack.at(-1);
    return top?.kind === "object" && (top.state === "key" || top.state === "after");
  };

  while (i < body.length && out.length <= limit) {
    const c = body[i] as string;
    const top = stack.at(-1);
    if (top === undefined && c !== "{" && c !== "[") {
      // Outside any container: free text, up to the next one, masked as one piece (so
      // "593 47 5928" or "from 2001:db8::1 port 443" is seen whole).
      let end = i + 1;
      while (end < body.length && body[end] !== "{" && body[end] !== "[") end++;
      out += maskText(body.slice(i, end), masker, limit - out.length);
      i = end;
    } else if (isSpace(c)) {
      out += c;
      i++;
    } else if (c === "{" || c === "[") {
      const inherited = piiAt(stack);
      stack.push({
        kind: c === "{" ? "object" : "array",
        key: null,
        state: "key",
        inherited,
      });
      out += c;
      i++;
    } else if (c === "}" || c === "]") {
      stack.pop();
      valueDone();
      out += c;
      i++;
    } else if (c === ":" && top?.kind === "object" && top.state === "colon") {
      top.state = "value";
      out += c;
      i++;
    } else if (c === "," && top !== undefined) {
      if (top.kind === "object") top.state = "key";
      out += c;
      i++;
    } else if (isQuote(c)) {
      let end = i + 1;
      while (end < body.length && body[end] !== c) end += body[end] === "\\" ? 2 : 1;
      const text = decodeString(body.slice(i + 1, Math.min(end, body.length)));
      if (atName() && top) {
        top.key = text;
        top.state = "colon";
        out += JSON.stringify(maskText(text, masker, limit - out.length));
      } else {
        out += value(text, true);
        valueDone();
      }
      i = end + 1;
    } else {
      // A bare token: a number, true/false/null, an unquoted name, or anything that is not JSON.
      let end = i + 1;
      while (end < body.length && !endsToken(body[end] as string, top)) end++;
      const text = body.slice(i, end);
      if (atName() && top) {
        top.key = text; // an unquoted name ({ip: …}): still a member name
        top.state = "colon";
        out += maskText(text, masker, limit - out.length);
      } else if (top?.kind === "object" && top.state === "colon") {
        // Between a name and its ':' (a comment, garbage): masked, and the name is kept.
        out += maskText(text, masker, limit - out.length);
      } else {
        out += value(text, false);
        valueDone();
      }
      i = end;
    }
  }
  return { out, unfinished: i < body.length };
}

function capPayload(masked: string, bodyLength: number, unfinished: boolean): string {
  if (masked.length <= STORED_PAYLOAD_MAX_CHARS && !unfinished) return masked;
  let end = Math.min(masked.length, STORED_PAYLOAD_MAX_CHARS);
  // Never end on the first half of a surrogate pair (Postgres would get U+FFFD).
  const last = masked.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return `${masked.slice(0, end)}… [cut: masked payload of a ${bodyLength}-character body; the sealed original keeps all of it for etl replay]`;
}
