// What reaches a terminal: text from messages can hold ESC sequences, CR, C1 controls and bidi
// overrides; every one must be printed as a visible escape, and --json must stay valid JSON.
import assert from "node:assert/strict";
import { test } from "node:test";
import { oneLine, printJson, printLines } from "../../src/commands/output.js";

const HOSTILE = "ok\u001b[2J\rhidden\u009b31m\u202Eevil\u2066x\u2028y\u0000\tz\n";

function captured(print: () => void): string {
  const write = process.stdout.write;
  let out = "";
  process.stdout.write = ((chunk: string) => {
    out += chunk;
    return true;
  }) as typeof process.stdout.write;
  try {
    print();
  } finally {
    process.stdout.write = write;
  }
  return out;
}

/** Independent of src/: the code points a terminal would act on (besides tab and newline). */
function actsOnTerminal(text: string): boolean {
  return [...text].some((c) => {
    const n = c.codePointAt(0) ?? 0;
    return (
      (n < 0x20 && n !== 0x09 && n !== 0x0a) ||
      (n >= 0x7f && n <= 0x9f) ||
      [0x061c, 0x200e, 0x200f, 0x2028, 0x2029].includes(n) ||
      (n >= 0x202a && n <= 0x202e) ||
      (n >= 0x2066 && n <= 0x2069)
    );
  });
}

test("oneLine escapes every control, bidi and separator character, tab and newline included", () => {
  const out = oneLine(HOSTILE);
  assert.equal(
    out,
    "ok\\u001b[2J\\u000dhidden\\u009b31m\\u202eevil\\u2066x\\u2028y\\u0000\\u0009z\\u000a",
  );
});

test("printLines keeps our own newlines and escapes the rest", () => {
  const out = captured(() => printLines("a", HOSTILE));
  assert.ok(!actsOnTerminal(out), JSON.stringify(out));
  assert.ok(out.startsWith("a\nok\\u001b"));
});

test("printJson stays valid JSON with the same values, and prints nothing a terminal acts on", () => {
  const value = { payload: HOSTILE, nested: [HOSTILE] };
  const out = captured(() => printJson(value));
  assert.ok(!actsOnTerminal(out), JSON.stringify(out));
  assert.deepEqual(JSON.parse(out), value);
});
