import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { flatten, isJsonObject, MAX_DEPTH } from "../../src/transform/flatten.js";

function parseObject(json: string): Record<string, unknown> {
  const v: unknown = JSON.parse(json);
  assert.ok(isJsonObject(v));
  return v;
}

/** n nested objects: {"a":{"a":…{"a":1}…}}, the top level counting as 1. */
function nested(n: number): string {
  return '{"a":'.repeat(n) + "1" + "}".repeat(n);
}

describe("flatten", () => {
  it("joins nested keys with _ and keeps document order", () => {
    const r = flatten(parseObject('{"user_id":"u","device":{"type":"ios","os":{"v":"17"}},"z":1}'));
    assert.ok(r.ok);
    assert.deepEqual(
      [...r.fields],
      [
        ["user_id", "u"],
        ["device_type", "ios"],
        ["device_os_v", "17"],
        ["z", 1],
      ],
    );
  });

  it("keeps arrays and empty objects as leaf values", () => {
    const r = flatten(parseObject('{"tags":[{"x":1}],"ip":{}}'));
    assert.ok(r.ok);
    assert.deepEqual(
      [...r.fields],
      [
        ["tags", [{ x: 1 }]],
        ["ip", {}],
      ],
    );
  });

  it("rejects two paths that flatten to the same key", () => {
    const r = flatten(parseObject('{"device_type":"x","device":{"type":"y"}}'));
    assert.deepEqual(r, { ok: false, reason: "invalid_field_type", duplicateKey: "device_type" });
    const r2 = flatten(parseObject('{"device":{"type":"y"},"device_type":"x"}'));
    assert.equal(r2.ok, false);
  });

  it("treats __proto__, constructor and prototype as plain keys", () => {
    const r = flatten(
      parseObject('{"__proto__":{"polluted":1},"constructor":{"prototype":{"p":2}},"prototype":3}'),
    );
    assert.ok(r.ok);
    assert.deepEqual(
      [...r.fields.keys()],
      ["__proto___polluted", "constructor_prototype_p", "prototype"],
    );
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal(({} as Record<string, unknown>).p, undefined);
  });

  it(`accepts ${MAX_DEPTH} levels and rejects ${MAX_DEPTH + 1}`, () => {
    assert.equal(MAX_DEPTH, 32);
    const ok = flatten(parseObject(nested(32)));
    assert.ok(ok.ok);
    assert.deepEqual([...ok.fields.keys()], [Array(32).fill("a").join("_")]);
    assert.deepEqual(flatten(parseObject(nested(33))), { ok: false, reason: "too_deeply_nested" });
  });

  it("rejects 10,000 levels without overflowing the stack", () => {
    assert.deepEqual(flatten(parseObject(nested(10_000))), {
      ok: false,
      reason: "too_deeply_nested",
    });
  });
});
