import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createMasker, maskPayload } from "../../src/transform/index.js";
import { maskText, STORED_PAYLOAD_MAX_CHARS } from "../../src/transform/rejected-payload.js";
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
  it("masks ip and device_id values by key and keeps the columns user_logins stores as they are", () => {
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

  it("masks by member name at any depth, in arrays, and by flattened name", () => {
    const body = JSON.stringify({
      a: { b: [{ ip: "10.0.0.1" }] },
      device: { id: "abc" },
      list: [{ device: { id: "def" } }],
      x: { device_id: 12345 },
      ip: null,
    });
    assert.deepEqual(JSON.parse(maskPayload(body, masker)), {
      a: { b: [{ ip: hmacIp("10.0.0.1") }] },
      device: { id: hmacDevice("abc") },
      list: [{ device: { id: hmacDevice("def") } }],
      x: { device_id: hmacDevice("12345") },
      ip: hmacIp("null"),
    });
  });

  it("masks every scalar inside an object or array held by an ip/device_id member", () => {
    const out = maskPayload('{"ip":{"v4":"10.0.0.1"},"device_id":["abc",["def"]]}', masker);
    assert.deepEqual(JSON.parse(out), {
      ip: { v4: hmacIp("10.0.0.1") },
      device_id: [hmacDevice("abc"), [hmacDevice("def")]],
    });
  });

  it("masks addresses and digit-bearing words in other strings and in keys", () => {
    const body = JSON.stringify({
      note: `from ${IP} dev ${DEVICE} v6 2001:db8::1 id a1b2c3d4e5f60718 at 10:30 in 2024`,
      seen: { [IP]: true },
      devices: { a1b2c3d4e5f60718: 1 },
    });
    const out = maskPayload(body, masker);
    assertNoRaw(out, IP, DEVICE, "2001:db8::1", "a1b2c3d4e5f60718");
    assert.deepEqual(JSON.parse(out), {
      note: `from ${hmacIp(IP)} dev ${hmacDevice(DEVICE)} v6 ${hmacIp("2001:db8::1")} id ################ at 10:30 in 2024`,
      seen: { [hmacIp(IP)]: true },
      devices: { "################": 1 },
    });
  });

  it("keeps a __proto__ key as data without polluting anything", () => {
    const out = maskPayload('{"__proto__":{"polluted":1,"ip":"10.0.0.1"},"user_id":"u"}', masker);
    assert.equal(out, `{"__proto__":{"polluted":1,"ip":"${hmacIp("10.0.0.1")}"},"user_id":"u"}`);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  it("stores NUL and lone surrogates only as escapes", () => {
    const out = maskPayload('{"s":"a\\u0000b\\ud800c"}', masker);
    assert.ok(!out.includes("\u0000"));
    assert.ok(!/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/.test(out));
    assert.deepEqual(JSON.parse(out), { s: "a\u0000b\ud800c" });
  });

  it("masks at any depth: 1,000 nested objects, and a 100-deep array beside device.id", () => {
    const depth = 1_000;
    const deep = `${'{"a":'.repeat(depth)}{"ip":"${IP}"}${"}".repeat(depth)}`;
    const out = maskPayload(deep, masker);
    assertNoRaw(out, IP);
    assert.ok(out.includes(hmacIp(IP)));
    const beside = `{"x":${"[".repeat(100)}1${"]".repeat(100)},"device":{"id":"a1b2c3d4e5f60718"}}`;
    const masked = maskPayload(beside, masker);
    assertNoRaw(masked, "a1b2c3d4e5f60718");
    assert.ok(masked.includes(hmacDevice("a1b2c3d4e5f60718")));
  });
});

describe("maskPayload, bodies that are not JSON", () => {
  it("masks ip and device id in truncated JSON, by name, whatever their format", () => {
    const out = maskPayload(`{"ip":"${IP}","device_id":"${DEVICE}"`, masker);
    assert.equal(out, `{"ip":"${hmacIp(IP)}","device_id":"${hmacDevice(DEVICE)}"`);
    const cut = maskPayload('{"user_id":"u", "device_id" : "ABC-xyz-123", "ip": "garb', masker);
    assertNoRaw(cut, "ABC-xyz-123", "garb");
    assert.ok(cut.includes(`"device_id" : "${hmacDevice("ABC-xyz-123")}"`));
    assert.ok(cut.includes(`"ip": "${hmacIp("garb")}"`));
  });

  it("the review's shapes: nested device.id cut short, an escaped key, device_id holding an array", () => {
    const cases: [string, string][] = [
      ['{"user_id":"u","device":{"id":"a1b2c3d4e5f60718","os":"ios"', "a1b2c3d4e5f60718"],
      ['{"device\\u005fid":"zz-secret-device","x":', "zz-secret-device"],
      ['{"device_id":["first-device","second-device"], "n":', "first-device"],
      ['{"deep":[[[[{"device":{"id":"abcdefabcdefabcd"}}', "abcdefabcdefabcd"],
    ];
    for (const [body, raw] of cases) {
      const out = maskPayload(body, masker);
      assertNoRaw(out, raw);
      assert.match(out, /hmac:[0-9a-f]{64}/, body);
    }
  });

  it("masks addresses in free text, with punctuation around them, and every digit-bearing word", () => {
    const text =
      `client ${IP}, x1.2.3.4 ip_10.0.0.1 [2001:DB8::1]:443 ` +
      "from ::ffff:1.2.3.4. fe80::1%eth0 dev 123-45-6789! token a1b2c3d4";
    const out = maskPayload(text, masker);
    assertNoRaw(
      out,
      IP,
      "1.2.3.4",
      "10.0.0.1",
      "2001:DB8::1",
      "fe80::1",
      "123-45-6789",
      "a1b2c3d4",
    );
    assert.equal(
      out,
      `client ${hmacIp(IP)}, x${hmacIp("1.2.3.4")} ip_${hmacIp("10.0.0.1")} ` +
        `[${hmacIp("2001:db8::1")}]:443 from ${hmacIp("1.2.3.4")}. ` +
        `${hmacIp("fe80::1")}%eth0 dev ${hmacDevice("123-45-6789")}! token ########`,
    );
  });

  it("leaves times, short numbers and ordinary words alone", () => {
    assert.equal(
      maskText("at 10:30:00 on 2024-01-31, code 12-34", masker),
      "at 10:30:00 on 2024-01-31, code 12-34",
    );
  });

  it("still masks an IPv4 inside a colon run that is not an IPv6 address", () => {
    assert.equal(maskText("1.2.3.4:80:x", masker), `${hmacIp("1.2.3.4")}:80:x`);
  });

  it("replaces NUL with the six characters \\u0000 and lone surrogates with U+FFFD", () => {
    assert.equal(maskPayload("a\u0000b\uDC00c", masker), "a\\u0000b\uFFFDc");
  });

  it("handles a large hostile body", () => {
    const body = `${"a:".repeat(64 * 1024)}${"1".repeat(64 * 1024)}${"::".repeat(32 * 1024)}`;
    const out = maskPayload(body, masker);
    assert.ok(out.length < STORED_PAYLOAD_MAX_CHARS + 200);
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

describe("maskPayload, the second review's shapes", () => {
  const cases: [string, string, string[]][] = [
    [
      "Python repr (single quotes)",
      "{'user_id': 'u1', 'device_id': 'AB12-CD34-EF56', 'ip': '2001:db8::1'}",
      ["AB12-CD34-EF56", "2001:db8::1"],
    ],
    [
      "unquoted IPv6 values",
      '{"user_id":"u1","addr": 2001:db8:85a3::8a2e:370:7334}',
      ["2001:db8:85a3::8a2e:370:7334", "8a2e:370:7334"],
    ],
    [
      "unquoted names",
      "{addr: fe80::1:2:3, mac: 00:1a:2b:3c:4d:5e}",
      ["fe80::1:2:3", "00:1a:2b:3c:4d:5e"],
    ],
    [
      "addr.port (netstat, tcpdump)",
      '{"x":"tcp6 0 0 2001:db8::1.443 fe80::1ff:fe23:4567:890a.51234"}',
      ["2001:db8::1", "fe80::1ff:fe23:4567:890a"],
    ],
    [
      "a label glued to an address",
      '{"x":"src:2001:db8:85a3:0:0:8a2e:370:7334 ipv6:fe80:0:0:0:1ff:fe23:4567:890a"}',
      ["2001:db8:85a3:0:0:8a2e:370:7334", "fe80:0:0:0:1ff:fe23:4567:890a"],
    ],
    [
      "an address cut short",
      '{"client_addr":"2001:db8:85a3:0:0:8a2e:37',
      ["2001:db8:85a3", "8a2e:37"],
    ],
    ["an IPv4 cut short", '{"client_addr":"203.0.113.', ["203.0.113"]],
    [
      "MACs, UUIDs, grouped ids in unknown fields",
      '{"a":"00:1A:2B:3C:4D:5E","b":"00-1A-2B-3C-4D-5E","c":"AB12-CD34-EF56","d":"3f2504e0-4f89-11d3-9a0c-0305e82c3301"}',
      ["1A:2B:3C", "1A-2B-3C", "AB12-CD34", "4f89-11d3", "3f2504e0"],
    ],
    [
      "the device id format with other separators",
      '{"a":"593 47 5928","b":"593.47.5928","c":"593/47/5928","d":"593\u201347\u20135928"}',
      ["593 47 5928", "593.47.5928", "593/47/5928", "593\u201347\u20135928"],
    ],
    ["free text with a spaced device id", "device 593 47 5928 seen", ["593 47 5928"]],
    [
      "JSON inside a string (an SNS envelope)",
      JSON.stringify({
        Type: "Notification",
        Message: JSON.stringify({
          user_id: "u1",
          device_id: "00:1A:2B:3C:4D:5E",
          ip: "2001:db8::1",
        }),
      }),
      ["00:1A:2B:3C:4D:5E", "2001:db8::1"],
    ],
    [
      "form encoding",
      "user_id=u1&device_id=AB12-CD34-EF56&ip=10.1.2.3",
      ["AB12-CD34-EF56", "10.1.2.3"],
    ],
    [
      "a comment between the name and its colon",
      '{"device_id" /* c */ : "zzz-device-QQQ"}',
      ["zzz-device-QQQ"],
    ],
  ];
  for (const [name, body, raw] of cases) {
    it(name, () => {
      const out = maskPayload(body, masker);
      assertNoRaw(out, ...raw);
    });
  }

  it("times, ports, dates and versions stay readable", () => {
    const out = maskPayload('{"note":"at 10:30:00 on 2024-01-31, v1.2.3 via host:443"}', masker);
    assert.equal(out, '{"note":"at 10:30:00 on 2024-01-31, v1.2.3 via host:443"}');
  });
});
