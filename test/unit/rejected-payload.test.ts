import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createMasker, maskPayload } from "../../src/transform/index.js";
import { STORED_PAYLOAD_MAX_CHARS, scrubText } from "../../src/transform/rejected-payload.js";
import { expectedMask, KEY } from "./transform-helpers.js";

const masker = createMasker(KEY);
const IP = "199.172.111.135";
const DEVICE = "593-47-5928";
const hmacIp = (v: string) => `hmac:${expectedMask(KEY, "ip", v)}`;
const hmacDevice = (v: string) => `hmac:${expectedMask(KEY, "device_id", v)}`;

function assertNoRaw(out: string, ...raw: string[]): void {
  for (const r of raw) assert.ok(!out.includes(r), `output still contains ${r}: ${out}`);
}

describe("maskPayload, JSON bodies", () => {
  it("masks ip and device_id values by key and keeps everything else", () => {
    const body = JSON.stringify({ user_id: "u", ip: IP, device_id: DEVICE, locale: "RU", n: 1 });
    assert.deepEqual(JSON.parse(maskPayload(body, masker)), {
      user_id: "u",
      ip: hmacIp(IP),
      device_id: hmacDevice(DEVICE),
      locale: "RU",
      n: 1,
    });
  });

  it("masks the canonical ip, so the mask matches the row's masked_ip", () => {
    const out = JSON.parse(maskPayload('{"ip":"::FFFF:199.172.111.135"}', masker));
    assert.equal(out.ip, hmacIp(IP));
  });

  it("masks keys at any depth, in arrays, and by flattened name", () => {
    const body = JSON.stringify({
      a: { b: [{ ip: "10.0.0.1" }] },
      device: { id: "abc" },
      x: { device_id: 12345 },
      ip: null,
    });
    assert.deepEqual(JSON.parse(maskPayload(body, masker)), {
      a: { b: [{ ip: hmacIp("10.0.0.1") }] },
      device: { id: hmacDevice("abc") },
      x: { device_id: hmacDevice("12345") },
      ip: null,
    });
  });

  it("masks a whole object or array found under an ip/device_id key", () => {
    const out = maskPayload('{"ip":{"v4":"10.0.0.1"},"device_id":["abc"]}', masker);
    assert.deepEqual(JSON.parse(out), {
      ip: hmacIp('{"v4":"10.0.0.1"}'),
      device_id: hmacDevice('["abc"]'),
    });
  });

  it("scrubs PII-looking text in other strings and in keys", () => {
    const body = JSON.stringify({
      note: `from ${IP} dev ${DEVICE} v6 2001:db8::1`,
      seen: { [IP]: true },
    });
    const out = maskPayload(body, masker);
    assertNoRaw(out, IP, DEVICE, "2001:db8::1");
    assert.deepEqual(JSON.parse(out), {
      note: `from ${hmacIp(IP)} dev ${hmacDevice(DEVICE)} v6 ${hmacIp("2001:db8::1")}`,
      seen: { [hmacIp(IP)]: true },
    });
  });

  it("keeps a __proto__ key as data without polluting anything", () => {
    const out = maskPayload('{"__proto__":{"polluted":1,"ip":"10.0.0.1"},"user_id":"u"}', masker);
    assert.equal(out, `{"__proto__":{"polluted":1,"ip":"${hmacIp("10.0.0.1")}"},"user_id":"u"}`);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  it("makes NUL and lone surrogates storable", () => {
    const out = maskPayload('{"s":"a\\u0000b\\ud800c"}', masker);
    assert.ok(!out.includes("\u0000"));
    assert.deepEqual(JSON.parse(out), { s: "a\\u0000b\uFFFDc" });
  });

  it("falls back to the text scrubber for very deep JSON", () => {
    const depth = 1_000; // deeper than 64, short enough that the address is not cut off
    const body = `${'{"a":'.repeat(depth)}{"ip":"${IP}"}${"}".repeat(depth)}`;
    const out = maskPayload(body, masker);
    assertNoRaw(out, IP);
    assert.ok(out.includes(hmacIp(IP)));
  });
});

describe("maskPayload, non-JSON bodies", () => {
  it("masks ip and device id in truncated JSON", () => {
    const out = maskPayload(`{"ip":"${IP}","device_id":"${DEVICE}"`, masker);
    assertNoRaw(out, IP, DEVICE);
    assert.equal(out, `{"ip":"${hmacIp(IP)}","device_id":"${hmacDevice(DEVICE)}"`);
  });

  it("masks keyed values of any format, even cut off mid-string", () => {
    const out = maskPayload('{"user_id":"u", "device_id" : "ABC-xyz-123", "ip": "garb', masker);
    assertNoRaw(out, "ABC-xyz-123", "garb");
    assert.ok(out.includes(`"device_id":"${hmacDevice("ABC-xyz-123")}"`));
    assert.ok(out.includes(`"ip":"${hmacIp("garb")}"`));
  });

  it("masks addresses in free text, with punctuation around them", () => {
    const text =
      `client ${IP}, x1.2.3.4 ip_10.0.0.1 [2001:DB8::1]:443 ` +
      "from ::ffff:1.2.3.4. fe80::1%eth0 dev 123-45-6789!";
    const out = maskPayload(text, masker);
    assertNoRaw(out, IP, "1.2.3.4", "10.0.0.1", "2001:DB8::1", "fe80::1", "123-45-6789");
    assert.equal(
      out,
      `client ${hmacIp(IP)}, x${hmacIp("1.2.3.4")} ip_${hmacIp("10.0.0.1")} ` +
        `[${hmacIp("2001:db8::1")}]:443 from ${hmacIp("1.2.3.4")}. ` +
        `${hmacIp("fe80::1")}%eth0 dev ${hmacDevice("123-45-6789")}!`,
    );
  });

  it("leaves times and ordinary text alone", () => {
    assert.equal(
      scrubText("at 10:30:00 on 2024-01-31, code 12-34", masker),
      "at 10:30:00 on 2024-01-31, code 12-34",
    );
  });

  it("still masks an IPv4 inside a colon run that is not an IPv6 address", () => {
    assert.equal(scrubText("1.2.3.4:80:x", masker), `${hmacIp("1.2.3.4")}:80:x`);
  });

  it("replaces NUL with the six characters \\u0000 and lone surrogates with U+FFFD", () => {
    assert.equal(maskPayload("a\u0000b\uDC00c", masker), "a\\u0000b\uFFFDc");
  });

  it("handles a large hostile body in reasonable time", () => {
    const body = `${"a:".repeat(64 * 1024)}${"1".repeat(64 * 1024)}${"::".repeat(32 * 1024)}`;
    const started = performance.now();
    maskPayload(body, masker);
    assert.ok(performance.now() - started < 2000);
  });
});

describe("maskPayload, bodies that grow under masking", () => {
  const cap = STORED_PAYLOAD_MAX_CHARS;

  it("a 256 KiB text body of addresses is stored cut after masking, never longer than the cap", () => {
    const body = "1.1.1.1.".repeat(32 * 1024);
    const out = maskPayload(body, masker);
    assert.ok(out.length < cap + 200, `stored ${out.length} characters`);
    assert.match(out, /\[cut: masked payload of a 262144-character body/);
    assertNoRaw(out.slice(0, cap), "1.1.1.1");
  });

  it("a JSON body of addresses is cut the same way, and so is one too deep to walk", () => {
    const json = JSON.stringify(Array.from({ length: 20_000 }, () => IP));
    const deep = `${"[".repeat(100)}"${IP} ${DEVICE}"${"]".repeat(100)}`.repeat(200);
    for (const body of [json, deep]) {
      const out = maskPayload(body, masker);
      assert.ok(out.length < cap + 200, `stored ${out.length} characters`);
      assertNoRaw(out, IP, DEVICE);
    }
  });

  it("the cut never splits a surrogate pair", () => {
    const body = `${"x".repeat(cap - 1)}😀${"y".repeat(100)}`;
    const out = maskPayload(body, masker);
    assert.ok(!/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/.test(out), "no lone high surrogate");
  });

  it("a body under the cap is stored whole", () => {
    const body = `{"user_id":"u","note":"${"z".repeat(cap - 100)}"}`;
    assert.equal(maskPayload(body, masker), body);
  });
});
