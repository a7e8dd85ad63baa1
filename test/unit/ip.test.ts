import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { canonicalizeIp } from "../../src/transform/index.js";

describe("canonicalizeIp", () => {
  const accepted: Array<[string, string]> = [
    ["199.172.111.135", "199.172.111.135"],
    ["0.0.0.0", "0.0.0.0"],
    ["255.255.255.255", "255.255.255.255"],
    ["2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:db8::1"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
    ["2001:DB8::1", "2001:db8::1"],
    ["::1", "::1"],
    ["::", "::"],
    ["::ffff:10.0.0.1", "10.0.0.1"],
    ["::FFFF:10.0.0.1", "10.0.0.1"],
    ["0:0:0:0:0:ffff:a00:1", "10.0.0.1"],
    // IPv4-compatible (not mapped) stays IPv6; ipaddr.js alone would say 1.2.3.4.
    ["::1.2.3.4", "::102:304"],
    ["::ffff:0:1.2.3.4", "::ffff:0:102:304"],
  ];
  for (const [input, expected] of accepted) {
    it(`${JSON.stringify(input)} → ${expected}`, () => {
      assert.equal(canonicalizeIp(input), expected);
    });
  }

  const rejected = [
    "01.2.3.4",
    "010.1.1.1",
    "1.2.3.04",
    "127.1",
    "0x7f.0.0.1",
    "256.1.1.1",
    "1.2.3.4.5",
    " 1.2.3.4",
    "1.2.3.4 ",
    "\t::1",
    "fe80::1%eth0",
    "fe80::1%25eth0",
    "::ffff:010.0.0.1",
    "1::2::3",
    "2001:db8::g",
    "",
    "localhost",
    "[::1]",
  ];
  for (const input of rejected) {
    it(`rejects ${JSON.stringify(input)}`, () => {
      assert.equal(canonicalizeIp(input), null);
    });
  }
});
