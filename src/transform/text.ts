// String helpers shared by validation and payload scrubbing.

/**
 * Length in Unicode code points, which is what Postgres varchar(n) limits
 * (JS .length counts UTF-16 units, so an emoji would count twice).
 * Stops counting once past `stopAfter`, so a 256 KB string costs nothing
 * more than needed when we only want to know whether it fits.
 */
export function codePointLength(s: string, stopAfter = Number.POSITIVE_INFINITY): number {
  let n = 0;
  for (const _ of s) {
    n++;
    if (n > stopAfter) break;
  }
  return n;
}

// With the u flag a well-formed surrogate pair is one code point outside this
// range, so only unpaired (lone) surrogates match.
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;
const LONE_SURROGATES = /[\uD800-\uDFFF]/gu;

/**
 * Why a string cannot be stored in a Postgres text/varchar column, or null if
 * it can. Postgres rejects U+0000 outright, and a lone surrogate has no UTF-8
 * encoding (Node would silently turn it into U+FFFD, i.e. change the data).
 */
export function unstorableCharacter(s: string): string | null {
  if (s.includes("\u0000")) return "U+0000";
  if (LONE_SURROGATE.test(s)) return "a lone UTF-16 surrogate";
  return null;
}

/**
 * Make any string storable, for text we keep only for humans (rejected messages):
 * U+0000 becomes the six characters `\u0000` so it stays visible, and lone
 * surrogates become U+FFFD, the usual replacement character.
 */
export function makeStorable(s: string): string {
  return s.replaceAll("\u0000", "\\u0000").replace(LONE_SURROGATES, "\uFFFD");
}

/** First `max` code points of `s`, never splitting a surrogate pair, with "…" if cut. */
export function truncateCodePoints(s: string, max: number): string {
  let out = "";
  let n = 0;
  for (const ch of s) {
    if (n === max) return `${out}…`;
    out += ch;
    n++;
  }
  return out;
}
