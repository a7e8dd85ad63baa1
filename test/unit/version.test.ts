import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { encodeAppVersion } from "../../src/transform/index.js";

describe("encodeAppVersion", () => {
  const accepted: Array<[string | number, number]> = [
    ["2.3.0", 2003000],
    ["0.96", 96000],
    ["2.00", 2000000],
    ["5", 5000000],
    ["0.3.0", 3000],
    ["5.2.8", 5002008],
    ["0", 0],
    ["1.999.999", 1999999],
    ["2147.483.647", 2147483647],
    // The brief listed "2147.0.0" as a rejection, but 2_147_000_000 fits int4
    // (max 2_147_483_647), so by the stated rule it is accepted.
    ["2147.0.0", 2147000000],
    [2, 2000000],
    [2.3, 2003000],
    [0, 0],
  ];
  for (const [input, expected] of accepted) {
    it(`${JSON.stringify(input)} → ${expected}`, () => {
      assert.equal(encodeAppVersion(input), expected);
    });
  }

  const rejected: Array<string | number> = [
    "1.2.3.4",
    "",
    "1.1000",
    "1.0.1000",
    "2148.0.0",
    "2147.483.648",
    "abc",
    "v1",
    "1..2",
    "1.",
    ".1",
    " 1.2",
    "1.2 ",
    "+1",
    "-1",
    "1e3",
    "١.٢", // Arabic-Indic digits are not ASCII
    "99999999999999999999999",
    -1,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    1e21,
    0.1 + 0.2,
  ];
  for (const input of rejected) {
    it(`rejects ${typeof input === "number" ? String(input) : JSON.stringify(input)}`, () => {
      assert.equal(encodeAppVersion(input), null);
    });
  }
});
