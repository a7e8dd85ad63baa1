// Command output for people (aligned text) or machines (--json), always on stdout. Text that
// came from a message (payloads, details, ids) can hold anything a producer sent; a terminal would
// act on control characters (ESC sequences can rewrite the screen, CR overwrites a line) and
// render bidi overrides (U+202E reverses text), so all output is escaped before it is printed.

/**
 * What a terminal would act on: C0 controls, DEL and C1 controls, bidi marks, embeddings,
 * overrides and isolates, and the Unicode line and paragraph separators.
 */
function actsOnTerminal(code: number): boolean {
  return (
    code < 0x20 ||
    (code >= 0x7f && code <= 0x9f) ||
    code === 0x061c ||
    code === 0x200e ||
    code === 0x200f ||
    (code >= 0x202a && code <= 0x202e) ||
    (code >= 0x2066 && code <= 0x2069) ||
    code === 0x2028 ||
    code === 0x2029
  );
}

const TAB = 0x09;
const NEWLINE = 0x0a;

/** Each such character as a visible `\uXXXX`, except those `keep` accepts. */
function escapeFor(text: string, keep: (code: number) => boolean): string {
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    out +=
      actsOnTerminal(code) && !keep(code) ? `\\u${code.toString(16).padStart(4, "0")}` : text[i];
  }
  return out;
}

/** Text from a message, for one line of output: tab and newline are escaped too. */
export function oneLine(text: string): string {
  return escapeFor(text, () => false);
}

/** Our own text may keep its tabs and newlines; everything else a terminal acts on is escaped. */
const printable = (text: string) => escapeFor(text, (code) => code === TAB || code === NEWLINE);

export function printJson(value: unknown): void {
  // JSON.stringify escapes C0 controls itself; the rest become \uXXXX escapes, still valid JSON.
  process.stdout.write(`${printable(JSON.stringify(value, null, 2))}\n`);
}

/** Left-aligned columns with a header row; cells are already strings. */
export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd();
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

/** Lines of text; our own newlines and tabs stay, everything else a terminal acts on is escaped. */
export function printLines(...lines: string[]): void {
  process.stdout.write(`${printable(lines.join("\n"))}\n`);
}
