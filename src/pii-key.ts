// PII_HASH_KEY: which texts are accepted as a key, and the key's fingerprint.
//
// The key is used byte for byte (its UTF-8 encoding), never decoded: decoding would change every
// mask of every existing installation. So what matters is how much entropy its characters carry,
// and that nothing invisible changed it: a trailing newline from a secret file, or the same hex in
// upper case, is a different key and would silently give every ip and device id a new mask. The
// first is refused here; the second (and any other change) is caught by the fingerprint that
// the database records (src/sink/key-epochs.ts).
import { createHmac } from "node:crypto";
import { ConfigError } from "./errors.js";

/** Where the key comes from: the environment (or .env) only, never a flag (flags show in `ps`). */
export const KEY_ENV = "PII_HASH_KEY";
/** The PII vault's own key (src/sink/vault-cipher.ts): the vault is on when this is set. */
export const VAULT_KEY_ENV = "PII_VAULT_KEY";
/** The vault key being replaced, only while `etl rotate-vault-key` re-encrypts the vault. */
export const PREVIOUS_VAULT_KEY_ENV = "PII_VAULT_KEY_PREVIOUS";
/** Every variable that holds a key: never logged, an empty one counts as unset. */
export const KEY_ENVS = [KEY_ENV, VAULT_KEY_ENV, PREVIOUS_VAULT_KEY_ENV] as const;
export type KeyEnv = (typeof KEY_ENVS)[number];

/** The least entropy accepted, in bits: what `etl keygen`'s 32 random bytes carry. */
export const MIN_KEY_BITS = 256;
/** Keys with fewer distinct characters are repetitive, whatever their length ("kkkk…"). */
const MIN_DISTINCT_CHARACTERS = 10;

interface KeyAlphabet {
  name: string;
  bitsPerCharacter: number;
  matches: (text: string) => boolean;
}

// Most specific first: a hex key also matches base64's alphabet, but carries 4 bits a character.
const ALPHABETS: KeyAlphabet[] = [
  { name: "hex", bitsPerCharacter: 4, matches: (t) => /^[0-9a-fA-F]+$/.test(t) },
  { name: "base64", bitsPerCharacter: 6, matches: (t) => /^[A-Za-z0-9+/_-]+=*$/.test(t) },
  // Anything else: printable ASCII at best (log2 95). Multi-byte text gets no extra credit.
  { name: "text", bitsPerCharacter: 6.5, matches: () => true },
];

/**
 * The key bytes, or a ConfigError naming what is wrong with the text and how to fix it. The same
 * rules for every key; the messages name the variable.
 */
export function parseKey(raw: string | undefined, name: KeyEnv): Buffer {
  if (raw === undefined || raw === "") {
    throw new ConfigError(
      `Invalid configuration: ${name} is not set. Generate one with \`npx etl keygen\` and put it ` +
        "in the environment or in .env (it is deliberately not a flag: flags show up in `ps`).",
    );
  }
  if (raw.trim() !== raw) {
    throw new ConfigError(
      `Invalid configuration: ${name} starts or ends with whitespace (a trailing newline from a ` +
        "secret file is the usual cause). The key is used byte for byte, so that would be another " +
        "key: remove the whitespace (e.g. `tr -d '\\n' < keyfile`).",
    );
  }
  if (/[\p{Cc}\p{Cf}]|[^\P{Z} ]/u.test(raw)) {
    throw new ConfigError(
      `Invalid configuration: ${name} contains an invisible character (a control or format ` +
        "character such as U+200B, or a non-breaking or line separator space): paste it again " +
        "as plain text.",
    );
  }
  if (/^(["']).*\1$/s.test(raw)) {
    throw new ConfigError(
      `Invalid configuration: ${name} is wrapped in quotes (docker --env-file and some ` +
        "secret stores keep them), which would make them part of the key: remove them.",
    );
  }
  const pattern = repetitive(raw);
  if (pattern) {
    throw new ConfigError(
      `Invalid configuration: ${name} ${pattern}, so it carries far less entropy than its ` +
        "length suggests. Generate one with `npx etl keygen`.",
    );
  }
  const alphabet = ALPHABETS.find((a) => a.matches(raw)) as KeyAlphabet;
  const bits = Math.floor([...raw].length * alphabet.bitsPerCharacter);
  const distinct = new Set(raw).size;
  if (bits < MIN_KEY_BITS || distinct < MIN_DISTINCT_CHARACTERS) {
    const needed = Math.ceil(MIN_KEY_BITS / alphabet.bitsPerCharacter);
    throw new ConfigError(
      `Invalid configuration: ${name} is too weak: ${[...raw].length} ${alphabet.name} ` +
        `characters carry at most ${bits} bits` +
        (distinct < MIN_DISTINCT_CHARACTERS ? `, and only ${distinct} distinct characters` : "") +
        `; at least ${MIN_KEY_BITS} bits are needed (${needed} ${alphabet.name} characters of random ` +
        "data). Generate one with `npx etl keygen`.",
    );
  }
  return Buffer.from(raw, "utf8");
}

/**
 * Why a key is visibly not random, or undefined: a repeated block ("abc…abc…", "password123"
 * four times: few distinct 3-character pieces) or a run of consecutive characters ("0123…",
 * "abcd…"). A cheap screen for the usual weak keys, not a proof of randomness.
 */
function repetitive(raw: string): string | undefined {
  const chars = [...raw];
  if (chars.length < 8) return undefined;
  const trigrams = new Set(chars.slice(0, -2).map((c, i) => c + chars[i + 1] + chars[i + 2]));
  if (trigrams.size < 0.6 * (chars.length - 2)) return "repeats itself";
  let steps = 0;
  for (let i = 1; i < chars.length; i++) {
    if ((chars[i]?.codePointAt(0) ?? 0) - (chars[i - 1]?.codePointAt(0) ?? 0) === 1) steps++;
  }
  return steps > 0.6 * (chars.length - 1) ? "is mostly a run of consecutive characters" : undefined;
}

/**
 * A short, stable name for a key that reveals nothing usable about it: the first 64 bits of an
 * HMAC under the key itself. It tells keys apart in the database, logs and messages; guessing the
 * key from it is as hard as guessing the key.
 */
export function keyFingerprint(key: Buffer): string {
  return createHmac("sha256", key)
    .update("login-etl/v1/key-fingerprint")
    .digest("hex")
    .slice(0, 16);
}
