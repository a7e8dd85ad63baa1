// app_version is stored as a sortable integer: MAJOR*1_000_000 + MINOR*1_000 + PATCH,
// so "2.3.0" < "2.10.0" compares correctly in SQL (as strings it would not).

/** Largest value of a Postgres int4 column. */
const INT4_MAX = 2_147_483_647;

// 1 to 3 dot-separated runs of ASCII digits and nothing else: no "v" prefix,
// no sign, no exponent, no spaces, no empty components. [0-9] rather than \d
// to make "ASCII only" obvious to the reader (in JS they are the same).
const VERSION = /^([0-9]+)(?:\.([0-9]+))?(?:\.([0-9]+))?$/;

/**
 * Encode a version as MAJOR*1e6 + MINOR*1e3 + PATCH, or null if it is not a
 * version we can encode without collisions (MINOR and PATCH must be < 1000,
 * the result must fit int4).
 *
 * Each component is a decimal number, so "0.96" is minor 96 (→ 96000) and
 * "2.00" is minor 0 (→ 2000000).
 *
 * A JSON number is converted with String(): 2 → "2", 2.3 → "2.3". Note this
 * means the number 2.30 is read as "2.3" (minor 3): the number cannot carry
 * the trailing zero, so producers that need minor 30 must send a string.
 */
export function encodeAppVersion(v: string | number): number | null {
  let text: string;
  if (typeof v === "number") {
    if (!Number.isFinite(v) || v < 0) return null;
    text = String(v); // 1e21 → "1e+21", rejected by the pattern below
  } else {
    text = v;
  }

  const m = VERSION.exec(text);
  if (m === null) return null;
  const major = Number(m[1]);
  const minor = m[2] === undefined ? 0 : Number(m[2]);
  const patch = m[3] === undefined ? 0 : Number(m[3]);
  // At or above 1000 a component would spill into the next one's digits and
  // "1.1000" would encode the same as "2.0".
  if (minor >= 1000 || patch >= 1000) return null;

  const encoded = major * 1_000_000 + minor * 1_000 + patch;
  // Very long digit strings become huge (or imprecise) numbers; they all fail here.
  if (!Number.isSafeInteger(encoded) || encoded > INT4_MAX) return null;
  return encoded;
}
