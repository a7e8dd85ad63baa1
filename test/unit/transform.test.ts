import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createMasker, transformMessage } from "../../src/transform/index.js";
import { droppedFieldShape } from "../../src/transform/transform.js";
import type { TransformResult } from "../../src/types.js";
import { expectedMask, HEX64, KEY, OTHER_KEY } from "./transform-helpers.js";

const masker = createMasker(KEY);
const SENT = Date.UTC(2024, 4, 17, 12, 0, 0); // 2024-05-17T12:00:00Z

const FETCH_LIKE = {
  user_id: "424cdd21-063a-43a7-b91b-7ca1a833afae",
  app_version: "2.3.0",
  device_type: "android",
  ip: "199.172.111.135",
  locale: "RU",
  device_id: "593-47-5928",
};

function run(body: unknown, sentTimestamp: number | undefined = SENT): TransformResult {
  return transformMessage(
    { body: typeof body === "string" ? body : JSON.stringify(body), sentTimestamp },
    masker,
  );
}

function rowOf(r: TransformResult) {
  assert.equal(r.kind, "row", `expected a row, got ${JSON.stringify(r)}`);
  assert.ok(r.kind === "row");
  return r;
}

function rejectionOf(r: TransformResult, reason: string) {
  assert.ok(r.kind === "rejected", `expected a rejection, got ${JSON.stringify(r)}`);
  assert.equal(r.reason, reason, r.detail);
  return r;
}

describe("transformMessage: accepted messages", () => {
  it("turns the Fetch-like message into the exact row", () => {
    const r = rowOf(run(FETCH_LIKE));
    assert.deepEqual(r.row, {
      user_id: "424cdd21-063a-43a7-b91b-7ca1a833afae",
      device_type: "android",
      masked_ip: expectedMask(KEY, "ip", "199.172.111.135"),
      masked_device_id: expectedMask(KEY, "device_id", "593-47-5928"),
      locale: "RU",
      app_version: 2003000,
      create_date: "2024-05-17",
    });
    assert.deepEqual(r.droppedFields, []);
    assert.match(r.row.masked_ip ?? "", HEX64);
    assert.match(r.row.masked_device_id ?? "", HEX64);
  });

  it("masks are stable across maskers with the same key and change with the key", () => {
    const body = JSON.stringify(FETCH_LIKE);
    const a = rowOf(transformMessage({ body, sentTimestamp: SENT }, createMasker(KEY)));
    const b = rowOf(
      transformMessage({ body, sentTimestamp: SENT }, createMasker(Buffer.from(KEY))),
    );
    const c = rowOf(transformMessage({ body, sentTimestamp: SENT }, createMasker(OTHER_KEY)));
    assert.deepEqual(a.row, b.row);
    assert.notEqual(a.row.masked_ip, c.row.masked_ip);
    assert.notEqual(a.row.masked_device_id, c.row.masked_device_id);
  });

  it("masks ip and device_id differently even for the same string", () => {
    const r = rowOf(run({ user_id: "u", ip: "10.0.0.1", device_id: "10.0.0.1" }));
    assert.notEqual(r.row.masked_ip, r.row.masked_device_id);
  });

  it("masks the canonical ip", () => {
    const a = rowOf(run({ user_id: "u", ip: "::ffff:10.0.0.1" }));
    const b = rowOf(run({ user_id: "u", ip: "10.0.0.1" }));
    assert.equal(a.row.masked_ip, b.row.masked_ip);
    const c = rowOf(run({ user_id: "u", ip: "2001:0DB8:0000:0000:0000:0000:0000:0001" }));
    assert.equal(c.row.masked_ip, expectedMask(KEY, "ip", "2001:db8::1"));
  });

  it("maps null and absent optional fields to null", () => {
    const r = rowOf(run({ user_id: "u", locale: null, ip: null }));
    assert.deepEqual(r.row, {
      user_id: "u",
      device_type: null,
      masked_ip: null,
      masked_device_id: null,
      locale: null,
      app_version: null,
      create_date: "2024-05-17",
    });
  });

  it("flattens nested objects", () => {
    const r = rowOf(run({ user_id: "u", device: { type: "ios", id: "593-47-5928" } }));
    assert.equal(r.row.device_type, "ios");
    assert.equal(r.row.masked_device_id, expectedMask(KEY, "device_id", "593-47-5928"));
  });

  it("drops and lists unknown fields", () => {
    const r = rowOf(run({ user_id: "u", extra: 1, meta: { source: "x", tags: ["a"] } }));
    assert.deepEqual(r.droppedFields, ["extra", "meta_source", "meta_tags"]);
  });

  it("keeps only the shape of dropped field names, never an address in them", () => {
    const r = rowOf(run({ user_id: "u", seen: { "10.0.0.1": true } }));
    assert.deepEqual(r.droppedFields, ["seen_*"]);
  });

  it("accepts exactly 32 characters of device_type, counting code points", () => {
    assert.equal(
      rowOf(run({ user_id: "u", device_type: "d".repeat(32) })).row.device_type?.length,
      32,
    );
    const emoji = "📱".repeat(32); // 64 UTF-16 units, 32 code points
    assert.equal(rowOf(run({ user_id: "u", device_type: emoji })).row.device_type, emoji);
  });

  it("encodes numeric app_version", () => {
    assert.equal(rowOf(run({ user_id: "u", app_version: 2 })).row.app_version, 2000000);
    assert.equal(rowOf(run({ user_id: "u", app_version: 2.3 })).row.app_version, 2003000);
  });

  it("takes create_date from SentTimestamp in UTC, around midnight", () => {
    const lastMs = Date.UTC(2024, 0, 31, 23, 59, 59, 999);
    assert.equal(rowOf(run({ user_id: "u" }, lastMs)).row.create_date, "2024-01-31");
    assert.equal(rowOf(run({ user_id: "u" }, lastMs + 1)).row.create_date, "2024-02-01");
    assert.equal(rowOf(run({ user_id: "u" }, 0)).row.create_date, "1970-01-01");
  });

  it("handles a 256 KB body", () => {
    const body = JSON.stringify({ user_id: "u", padding: "x".repeat(256 * 1024 - 40) });
    assert.ok(body.length > 255 * 1024);
    const r = rowOf(run(body));
    assert.deepEqual(r.droppedFields, ["padding"]);
  });

  it("handles a __proto__ key as an unknown field without prototype pollution", () => {
    const r = rowOf(
      run('{"__proto__":{"polluted":1},"user_id":"u","constructor":{"prototype":1}}'),
    );
    assert.deepEqual(r.droppedFields, ["__proto___polluted", "constructor_prototype"]);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal(Object.getPrototypeOf(r.row), Object.prototype);
  });
});

describe("transformMessage: rejected messages", () => {
  it("rejects an empty body and invalid JSON without echoing it", () => {
    const empty = rejectionOf(run(""), "invalid_json");
    assert.equal(empty.detail, "body is empty");
    const truncated = `{"ip":"199.172.111.135","device_id":"593-47-5928"`;
    const r = rejectionOf(run(truncated), "invalid_json");
    assert.equal(r.detail, "body is not valid JSON");
    for (const raw of ["199.172.111.135", "593-47-5928"]) {
      assert.ok(!r.maskedPayload.includes(raw));
    }
    assert.ok(r.maskedPayload.includes("hmac:"));
  });

  it("rejects non-objects", () => {
    for (const body of ["[]", "null", "1", '"s"', "true", '[{"user_id":"u"}]']) {
      rejectionOf(run(body), "not_an_object");
    }
  });

  it("rejects a wrong-shape message as missing_user_id", () => {
    rejectionOf(run({ foo: "oops_wrong_msg_type", bar: "123" }), "missing_user_id");
    rejectionOf(run({ user_id: null }), "missing_user_id");
    rejectionOf(run({ user_id: "" }), "missing_user_id");
  });

  it("rejects wrong types in string fields", () => {
    rejectionOf(run({ user_id: 123 }), "invalid_field_type");
    rejectionOf(run({ user_id: "u", device_type: ["android"] }), "invalid_field_type");
    rejectionOf(run({ user_id: "u", locale: 7 }), "invalid_field_type");
    rejectionOf(run({ user_id: "u", ip: false }), "invalid_field_type");
    rejectionOf(run({ user_id: "u", ip: {} }), "invalid_field_type");
  });

  it("rejects keys that collide after flattening, naming the key", () => {
    const r = rejectionOf(
      run({ user_id: "u", device_type: "x", device: { type: "y" } }),
      "invalid_field_type",
    );
    assert.equal(r.detail, "a field named device_type appears twice after flattening");
  });

  it("rejects 10,000 levels of nesting without throwing", () => {
    const depth = 10_000;
    const body = `{"user_id":"u","a":${'{"a":'.repeat(depth)}1${"}".repeat(depth)}}`;
    const r = rejectionOf(run(body), "too_deeply_nested");
    assert.equal(typeof r.maskedPayload, "string");
  });

  it("rejects NUL and lone surrogates as invalid_string", () => {
    rejectionOf(run('{"user_id":"u","locale":"R\\u0000U"}'), "invalid_string");
    rejectionOf(run('{"user_id":"u\\ud83d"}'), "invalid_string");
  });

  it("rejects a 33-character device_type as field_too_long", () => {
    const r = rejectionOf(run({ user_id: "u", device_type: "d".repeat(33) }), "field_too_long");
    assert.equal(r.detail, "device_type is 33 characters; the column holds 32");
    rejectionOf(run({ user_id: "u", device_type: "📱".repeat(33) }), "field_too_long");
  });

  it("rejects bad ips without echoing them, and masks them in the payload", () => {
    for (const ip of ["01.2.3.4", "fe80::1%eth0", " 1.2.3.4", "1.2.3", "not an ip"]) {
      const r = rejectionOf(run({ user_id: "u", ip }), "invalid_ip");
      assert.ok(!r.detail.includes(ip.trim()));
      assert.equal(JSON.parse(r.maskedPayload).ip, `hmac:${expectedMask(KEY, "ip", ip)}`);
    }
  });

  it("rejects bad app versions, describing the value's shape, never the value", () => {
    for (const v of ["1.2.3.4", "", "1.1000", "2148.0.0", "abc", -1]) {
      rejectionOf(run({ user_id: "u", app_version: v }), "invalid_app_version");
    }
    const r = rejectionOf(run({ user_id: "u", app_version: "2.x" }), "invalid_app_version");
    assert.ok(
      r.detail.startsWith("app_version (a string of 3 characters: digits, letters, dots) is not"),
      r.detail,
    );
    const long = rejectionOf(
      run({ user_id: "u", app_version: "9".repeat(100) }),
      "invalid_app_version",
    );
    assert.ok(long.detail.startsWith("app_version (a string of 100 characters: digits)"));
    const n = rejectionOf(run({ user_id: "u", app_version: 5935928 }), "invalid_app_version");
    assert.ok(n.detail.startsWith("app_version (a number of 7 characters)"), n.detail);
  });

  it("does not echo an ip-looking app_version", () => {
    const r = rejectionOf(
      run({ user_id: "u", app_version: "199.172.111.135" }),
      "invalid_app_version",
    );
    assert.ok(!r.detail.includes("199.172.111.135"), r.detail);
  });

  it("rejects a missing or unusable SentTimestamp", () => {
    const body = JSON.stringify(FETCH_LIKE);
    const none = transformMessage({ body, sentTimestamp: undefined }, masker);
    assert.equal(
      rejectionOf(none, "missing_sent_timestamp").detail,
      "message has no SentTimestamp attribute",
    );
    rejectionOf(run(FETCH_LIKE, Number.NaN), "missing_sent_timestamp");
    rejectionOf(run(FETCH_LIKE, Number.POSITIVE_INFINITY), "missing_sent_timestamp");
    rejectionOf(run(FETCH_LIKE, 9e15), "missing_sent_timestamp");
  });

  it("never leaves raw ip or device_id in the payload of a rejected message", () => {
    const r = rejectionOf(run({ ...FETCH_LIKE, user_id: 42 }), "invalid_field_type");
    assert.ok(!r.maskedPayload.includes("199.172.111.135"));
    assert.ok(!r.maskedPayload.includes("593-47-5928"));
    assert.deepEqual(JSON.parse(r.maskedPayload), {
      ...FETCH_LIKE,
      user_id: 42,
      ip: `hmac:${expectedMask(KEY, "ip", "199.172.111.135")}`,
      device_id: `hmac:${expectedMask(KEY, "device_id", "593-47-5928")}`,
    });
  });

  it("keeps details free of field values", () => {
    const secret = "593-47-5928";
    const cases: unknown[] = [
      { user_id: secret, device_type: 1 },
      { user_id: secret, locale: "x".repeat(40) },
      { user_id: secret, ip: secret },
      { user_id: secret, device_id: `${secret}\u0000` },
    ];
    for (const c of cases) {
      const r = run(c);
      assert.ok(r.kind === "rejected");
      assert.ok(!r.detail.includes(secret), r.detail);
      assert.ok(!r.maskedPayload.includes(secret), r.maskedPayload);
    }
  });
});

describe("transformMessage: nothing one body does can throw out of it", () => {
  // A masker that fails stands for any defect or runtime limit reached inside the transform.
  const failing = {
    ip: () => {
      throw new RangeError("Invalid string length 1.2.3.4");
    },
    deviceId: () => {
      throw new RangeError("Invalid string length");
    },
  };

  it("a failure while transforming is that message's rejection, naming only the error class", () => {
    const r = transformMessage({ body: JSON.stringify(FETCH_LIKE), sentTimestamp: SENT }, failing);
    const rejected = rejectionOf(r, "transform_failed");
    assert.match(rejected.detail, /RangeError/);
    assert.ok(!rejected.detail.includes("1.2.3.4"), "the error's message is not echoed");
    assert.match(rejected.maskedPayload, /^\[payload withheld/);
  });

  it("a failure while masking the payload keeps the rejection's reason, withholding the payload", () => {
    const r = transformMessage({ body: '{"ip":"10.0.0.1"', sentTimestamp: SENT }, failing);
    const rejected = rejectionOf(r, "invalid_json");
    assert.match(
      rejected.maskedPayload,
      /^\[payload withheld: masking it failed with RangeError\]$/,
    );
  });

  it("a 256 KiB field name is dropped under a short, masked name", () => {
    const name = "1.1.1.1.".repeat(32 * 1024);
    const r = rowOf(run({ ...FETCH_LIKE, [name]: 1 }));
    const [dropped] = r.droppedFields;
    assert.ok(dropped !== undefined && dropped.length <= 130, `kept ${dropped?.length} chars`);
    assert.ok(!dropped.includes("1.1.1.1"));
  });
});

describe("dropped field names: only their shape reaches the run summary", () => {
  it("keeps plain words and replaces every other part with *", () => {
    assert.equal(droppedFieldShape("extra_field"), "extra_field");
    assert.equal(droppedFieldShape("devices_a1b2c3d4e5f60718"), "devices_*");
    assert.equal(droppedFieldShape("ips_1.2.3.4"), "ips_*");
    assert.equal(droppedFieldShape("seen_2001:db8::1_at"), "seen_*_at");
    assert.equal(droppedFieldShape("by_593-47-5928"), "by_*");
    assert.equal(droppedFieldShape("x".repeat(40)), "*");
  });

  it("a map keyed by device ids of any format leaves none of them in droppedFields", () => {
    const ids = ["a1b2c3d4e5f60718", "DEV-0042-XY", "593-47-5928", "fe80::1", "10.0.0.7"];
    const devices = Object.fromEntries(ids.map((id) => [id, { seen: 1 }]));
    const r = rowOf(run({ ...FETCH_LIKE, devices }));
    const recorded = r.droppedFields.join(" ");
    for (const id of ids) assert.ok(!recorded.includes(id), `${id} in ${recorded}`);
    assert.ok(r.droppedFields.every((f) => f === "devices_*_seen"));
  });
});
