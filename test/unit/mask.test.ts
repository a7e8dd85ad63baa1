import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createMasker, MIN_KEY_BYTES } from "../../src/transform/index.js";
import { expectedMask, HEX64, KEY, OTHER_KEY } from "./transform-helpers.js";

describe("createMasker", () => {
  it("produces 64 lower-case hex characters", () => {
    const m = createMasker(KEY);
    assert.match(m.ip("199.172.111.135"), HEX64);
    assert.match(m.deviceId("593-47-5928"), HEX64);
  });

  it("matches an independent HMAC computation with per-field subkeys", () => {
    const m = createMasker(KEY);
    assert.equal(m.ip("199.172.111.135"), expectedMask(KEY, "ip", "199.172.111.135"));
    assert.equal(m.deviceId("593-47-5928"), expectedMask(KEY, "device_id", "593-47-5928"));
  });

  it("separates domains: the same string masks differently as ip and device_id", () => {
    const m = createMasker(KEY);
    assert.notEqual(m.ip("1.2.3.4"), m.deviceId("1.2.3.4"));
  });

  it("is deterministic across instances with the same key, and key-dependent", () => {
    const a = createMasker(KEY);
    const b = createMasker(Buffer.from(KEY));
    const c = createMasker(OTHER_KEY);
    assert.equal(a.ip("10.0.0.1"), b.ip("10.0.0.1"));
    assert.equal(a.deviceId("x"), b.deviceId("x"));
    assert.notEqual(a.ip("10.0.0.1"), c.ip("10.0.0.1"));
    assert.notEqual(a.deviceId("x"), c.deviceId("x"));
  });

  it("does not depend on the caller's key buffer after creation", () => {
    const key = Buffer.from(KEY);
    const m = createMasker(key);
    const before = m.ip("10.0.0.1");
    key.fill(0);
    assert.equal(m.ip("10.0.0.1"), before);
  });

  it("refuses keys shorter than MIN_KEY_BYTES", () => {
    assert.equal(MIN_KEY_BYTES, 32);
    assert.throws(() => createMasker(Buffer.alloc(31, 1)), RangeError);
    assert.doesNotThrow(() => createMasker(Buffer.alloc(32, 1)));
  });
});
