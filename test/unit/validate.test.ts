import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { validateFields } from "../../src/transform/validate.js";

function fields(entries: Record<string, unknown>): Map<string, unknown> {
  return new Map(Object.entries(entries));
}

function reasonOf(entries: Record<string, unknown>): string {
  const r = validateFields(fields(entries));
  return r.ok ? "ok" : r.reason;
}

describe("validateFields", () => {
  it("returns typed fields, nulls for absent ones, and the dropped names", () => {
    const r = validateFields(fields({ user_id: "u", locale: null, extra: 1, device_os: "17" }));
    assert.deepEqual(r, {
      ok: true,
      fields: {
        user_id: "u",
        device_type: null,
        locale: null,
        ip: null,
        device_id: null,
        app_version: null,
      },
      droppedFields: ["extra", "device_os"],
    });
  });

  it("reports a missing, null or empty user_id as missing_user_id", () => {
    assert.equal(reasonOf({ foo: "oops_wrong_msg_type", bar: "123" }), "missing_user_id");
    assert.equal(reasonOf({ user_id: null }), "missing_user_id");
    assert.equal(reasonOf({ user_id: "" }), "missing_user_id");
  });

  it("checks user_id before anything else", () => {
    assert.equal(reasonOf({ device_type: 5, locale: "\u0000" }), "missing_user_id");
  });

  it("rejects non-string values in string fields as invalid_field_type", () => {
    assert.equal(reasonOf({ user_id: 42 }), "invalid_field_type");
    assert.equal(reasonOf({ user_id: ["u"] }), "invalid_field_type");
    assert.equal(reasonOf({ user_id: "u", device_type: true }), "invalid_field_type");
    assert.equal(reasonOf({ user_id: "u", locale: ["RU"] }), "invalid_field_type");
    assert.equal(reasonOf({ user_id: "u", ip: 3232235777 }), "invalid_field_type");
    assert.equal(reasonOf({ user_id: "u", device_id: {} }), "invalid_field_type");
    assert.equal(reasonOf({ user_id: "u", app_version: true }), "invalid_field_type");
    assert.equal(reasonOf({ user_id: "u", app_version: [2, 3] }), "invalid_field_type");
  });

  it("accepts app_version as string or number", () => {
    assert.equal(reasonOf({ user_id: "u", app_version: "2.3.0" }), "ok");
    assert.equal(reasonOf({ user_id: "u", app_version: 2 }), "ok");
  });

  it("names the field and type but not the value", () => {
    const r = validateFields(fields({ user_id: "u", device_type: 12345 }));
    assert.ok(!r.ok);
    assert.equal(r.detail, "device_type must be a string or null, not number");
  });

  it("rejects U+0000 and lone surrogates, accepts surrogate pairs", () => {
    assert.equal(reasonOf({ user_id: "a\u0000b" }), "invalid_string");
    assert.equal(reasonOf({ user_id: "u", locale: "x\uD800" }), "invalid_string");
    assert.equal(reasonOf({ user_id: "u", device_id: "\uDC00x" }), "invalid_string");
    assert.equal(reasonOf({ user_id: "u", device_type: "📱" }), "ok");
  });

  it("limits length in code points, per column", () => {
    assert.equal(reasonOf({ user_id: "u".repeat(128) }), "ok");
    assert.equal(reasonOf({ user_id: "u".repeat(129) }), "field_too_long");
    assert.equal(reasonOf({ user_id: "u", locale: "l".repeat(33) }), "field_too_long");
    assert.equal(reasonOf({ user_id: "u", ip: "1".repeat(257) }), "field_too_long");
    assert.equal(reasonOf({ user_id: "u", device_id: "d".repeat(256) }), "ok");
    assert.equal(reasonOf({ user_id: "u", device_id: "d".repeat(257) }), "field_too_long");
    const r = validateFields(fields({ user_id: "u", device_type: "x".repeat(40) }));
    assert.ok(!r.ok);
    assert.equal(r.detail, "device_type is 40 characters; the column holds 32");
  });
});
