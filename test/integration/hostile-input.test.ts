// Hostile message bodies, all in one queue with good ones, drained by one real `etl run`: each is
// either rejected exactly once with its reason or loaded with exactly the expected values, and
// none of them stops the run. Messages are identified by the MessageId SQS returned at send.
//
// The same test runs against fauxqs, moto and LocalStack (test/support/sqs-target.ts). What they
// do with bodies no JSON producer should send differs, and the test asserts each server's
// behaviour so that a change is noticed; whatever a server accepts, the run must handle:
// - A lone surrogate, U+0000 and U+FFFF are refused at send by AWS (InvalidMessageContents), by
//   fauxqs and by LocalStack. moto accepts U+0000 and U+FFFF, and stores a lone surrogate but
//   then fails the request (HTTP 500): that one is not sent to moto.
// - An empty body: AWS and LocalStack refuse it; fauxqs and moto accept it in SendMessageBatch.
// - Invalid UTF-8 bytes: fauxqs decodes them with U+FFFD replacement; moto and LocalStack answer
//   HTTP 500 and store nothing.
// - fauxqs, unlike AWS, refuses every character above U+FFFF (emoji): its character check is a
//   regex without the `u` flag. Bodies here carry astral characters JSON-escaped (see
//   `asciiAstral`), which is what many encoders emit anyway, so all servers get the same bodies.
// - The size limit is 1 MiB per message and per batch (AWS's limit since 2025; 256 KiB before).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { generateSample, WRONG_SHAPE_BODY } from "../../src/sample/generate.js";
import type { LoginRow } from "../../src/types.js";
import { ALL_TABLES, Harness, runCli, todayUtc } from "../support/harness.js";
import { acceptedId, sendRawBytes, sendWithIds } from "../support/send-with-ids.js";

/** A user_logins row without create_date (checked separately: it is the day of the run). */
type Row = Omit<LoginRow, "create_date">;

type Expected = { reason: string; detail?: RegExp } | { row: Row };

interface Case {
  name: string;
  body: string;
  expected: Expected;
}

/** The classic SQS maximum message size, in bytes. */
const MAX_CLASSIC_BODY = 262_144;

const BASE = {
  app_version: "3.1.4",
  device_type: "ios",
  ip: "198.51.100.7",
  locale: "US",
  device_id: "123-45-6789",
};

/** Astral characters (emoji) as JSON \u escapes of their surrogate pair; see the header. */
function asciiAstral(json: string): string {
  return json.replace(/[\u{10000}-\u{10FFFF}]/gu, (ch) =>
    Array.from({ length: ch.length }, (_, i) => `\\u${ch.charCodeAt(i).toString(16)}`).join(""),
  );
}

/** A body built from BASE; JSON.stringify escapes lone surrogates and U+0000 as \uXXXX. */
function body(userId: string | number, overrides: Record<string, unknown> = {}): string {
  return asciiAstral(JSON.stringify({ user_id: userId, ...BASE, ...overrides }));
}

/** `levels` nested objects counting the top one: {"user_id":…,"a":{"a":…{"a":1}…}}. */
function nestedObjects(userId: string, levels: number): string {
  const inner = '{"a":'.repeat(levels - 1) + "1" + "}".repeat(levels - 1);
  return `{"user_id":${JSON.stringify(userId)},"a":${inner}}`;
}

/** Pad a JSON object body (ending in `"<pad>"}`) so it is exactly `bytes` UTF-8 bytes long. */
function padTo(bytes: number, build: (pad: string) => string): string {
  const without = Buffer.byteLength(build(""), "utf8");
  const out = build("x".repeat(bytes - without));
  assert.equal(Buffer.byteLength(out, "utf8"), bytes);
  return out;
}

let h: Harness;
before(async () => {
  h = await Harness.start();
});
after(async () => {
  await h?.stop();
});

describe("hostile input", () => {
  test("every hostile body is rejected once with its reason or loaded exactly as sent; the run survives all of them", async (t) => {
    const { url, pool } = await h.freshDatabase();
    const queue = await h.createQueue();

    /** The row BASE gives, with the masks computed independently of src/. */
    const row = (userId: string, overrides: Partial<Row> = {}): Row => ({
      user_id: userId,
      device_type: BASE.device_type,
      masked_ip: h.mask("ip", BASE.ip),
      masked_device_id: h.mask("device_id", BASE.device_id),
      locale: BASE.locale,
      app_version: 3_001_004,
      ...overrides,
    });
    const bare = (userId: string, overrides: Partial<Row> = {}): Row => ({
      user_id: userId,
      device_type: null,
      masked_ip: null,
      masked_device_id: null,
      locale: null,
      app_version: null,
      ...overrides,
    });
    const rejectedAs = (reason: string, detail?: RegExp): Expected =>
      detail ? { reason, detail } : { reason };

    const sqlUserId = "x'); DROP TABLE user_logins; --";
    const sqlLocale = "' OR 1=1 --";
    const sqlDeviceType = `'; TRUNCATE etl.runs; --\\"`;
    const deepArray = "[".repeat(10_000) + "]".repeat(10_000);
    const hugeDeviceType = padTo(
      MAX_CLASSIC_BODY,
      (pad) => `{"user_id":"huge-device-type","device_type":"${pad}"}`,
    );
    const hugeDeviceTypeLength =
      hugeDeviceType.length - '{"user_id":"huge-device-type","device_type":""}'.length;

    const cases: Case[] = [
      // --- Encoding: lone surrogates (escaped), U+FFFD, mojibake, overlong escapes ----------------
      {
        name: "lone high surrogate escaped in user_id",
        body: String.raw`{"user_id":"a\ud800b"}`,
        expected: rejectedAs("invalid_string", /^user_id contains a lone UTF-16 surrogate$/),
      },
      {
        name: "reversed surrogate pair in device_type",
        body: body("s-reversed", { device_type: "\ude00\ud83d" }),
        expected: rejectedAs("invalid_string", /^device_type contains a lone UTF-16 surrogate$/),
      },
      {
        name: "lone low surrogate in device_id",
        body: body("s-low", { device_id: "\udc00-45-6789" }),
        expected: rejectedAs("invalid_string", /^device_id contains a lone UTF-16 surrogate$/),
      },
      {
        name: "a valid surrogate pair, escaped, is one character",
        body: String.raw`{"user_id":"pair-\ud83d\ude00"}`,
        expected: { row: bare("pair-\u{1F600}") },
      },
      {
        name: "U+FFFD replacement characters from a lossy decoder",
        body: body("caf\ufffd-\ufffd\ufffd", { locale: "\ufffd" }),
        expected: { row: row("caf\ufffd-\ufffd\ufffd", { locale: "\ufffd" }) },
      },
      {
        name: "mojibake (UTF-8 read as Latin-1)",
        body: body("mojibake", { device_type: "cafÃ©" }),
        expected: { row: row("mojibake", { device_type: "cafÃ©" }) },
      },
      {
        name: "overlong UTF-8 bytes escaped as \\u00XX",
        body: String.raw`{"user_id":"overlong-\u00c0\u00af"}`,
        expected: { row: bare("overlong-\u00c0\u00af") },
      },
      {
        name: "overlong UTF-8 bytes escaped as \\xXX (not JSON)",
        body: String.raw`{"user_id":"overlong-\xC0\xAF"}`,
        expected: rejectedAs("invalid_json", /^body is not valid JSON$/),
      },
      // --- U+0000 --------------------------------------------------------------------------------
      {
        name: "NUL in user_id",
        body: String.raw`{"user_id":"a\u0000b","ip":"198.51.100.7"}`,
        expected: rejectedAs("invalid_string", /^user_id contains U\+0000$/),
      },
      {
        name: "NUL in device_type",
        body: body("nul-device-type", { device_type: "ios\u0000" }),
        expected: rejectedAs("invalid_string", /^device_type contains U\+0000$/),
      },
      // --- 256 KB bodies -------------------------------------------------------------------------
      {
        name: "256 KB valid body with a huge unknown field",
        body: padTo(
          MAX_CLASSIC_BODY,
          (pad) => body("huge-unknown-field").slice(0, -1) + `,"padding":"${pad}"}`,
        ),
        expected: { row: row("huge-unknown-field") },
      },
      {
        name: "256 KB device_type",
        body: hugeDeviceType,
        expected: rejectedAs(
          "field_too_long",
          new RegExp(`^device_type is ${hugeDeviceTypeLength} characters; the column holds 32$`),
        ),
      },
      // --- Nesting -------------------------------------------------------------------------------
      {
        name: "10,000 nested objects",
        body: nestedObjects("deep-10000", 10_000),
        expected: rejectedAs("too_deeply_nested", /more than 32 levels/),
      },
      {
        name: "33 nested objects",
        body: nestedObjects("deep-33", 33),
        expected: rejectedAs("too_deeply_nested"),
      },
      {
        name: "32 nested objects (the limit)",
        body: nestedObjects("deep-32", 32),
        expected: { row: bare("deep-32") },
      },
      {
        // Flattening does not enter arrays (flatten.ts: arrays are leaf values), so objects nested
        // inside an array do not count towards the 32 levels; an unknown field holding them is
        // dropped like any other. Nothing walks into it recursively, so this is safe.
        name: "10,000 levels of objects inside an array in an unknown field",
        body: `{"user_id":"deep-in-array","tags":${'[{"a":'.repeat(10_000)}1${"}]".repeat(10_000)}}`,
        expected: { row: bare("deep-in-array") },
      },
      {
        name: "10,000 nested arrays as ip",
        body: `{"user_id":"deep-array-ip","ip":${deepArray}}`,
        expected: rejectedAs("invalid_field_type", /^ip must be a string or null, not array$/),
      },
      {
        name: "10,000 nested arrays as the whole body",
        body: deepArray,
        expected: rejectedAs("not_an_object", /JSON array/),
      },
      // --- __proto__, constructor, prototype (flatten.ts keeps them as plain keys in a Map) ------
      {
        name: "__proto__ carrying user_id",
        body: '{"__proto__":{"user_id":"polluted-proto"}}',
        expected: rejectedAs("missing_user_id", /^user_id is missing$/),
      },
      {
        name: "constructor.prototype carrying user_id",
        body: '{"constructor":{"prototype":{"user_id":"polluted-ctor"}}}',
        expected: rejectedAs("missing_user_id", /^user_id is missing$/),
      },
      {
        name: "__proto__ carrying device_type and locale",
        body: '{"user_id":"proto-fields","__proto__":{"device_type":"polluted","locale":"polluted"},"ip":"198.51.100.7"}',
        expected: { row: bare("proto-fields", { masked_ip: h.mask("ip", "198.51.100.7") }) },
      },
      {
        name: "nested __proto__ beside a real nested field",
        body: '{"user_id":"proto-nested","device":{"__proto__":{"type":"polluted"},"type":"android"}}',
        expected: { row: bare("proto-nested", { device_type: "android" }) },
      },
      {
        name: "__proto__, constructor and prototype as leaves",
        body: '{"user_id":"proto-leaves","__proto__":null,"constructor":"c","prototype":{"user_id":"polluted-leaf"}}',
        expected: { row: bare("proto-leaves") },
      },
      // --- Numbers -------------------------------------------------------------------------------
      {
        name: "app_version 1e400",
        body: '{"user_id":"v-1e400","app_version":1e400}',
        expected: rejectedAs(
          "invalid_app_version",
          /^app_version \(a number out of range\) is not/,
        ),
      },
      {
        name: "app_version 99999999999999999999",
        body: '{"user_id":"v-20-nines","app_version":99999999999999999999}',
        expected: rejectedAs("invalid_app_version"),
      },
      {
        name: 'app_version "2148.0.0" (overflows int4)',
        body: body("v-2148", { app_version: "2148.0.0" }),
        expected: rejectedAs(
          "invalid_app_version",
          /^app_version \(a string of 8 characters: digits, dots\) is not/,
        ),
      },
      {
        name: "app_version -1",
        body: body("v-minus-1", { app_version: -1 }),
        expected: rejectedAs(
          "invalid_app_version",
          /^app_version \(a number of 2 characters\) is not/,
        ),
      },
      {
        name: 'app_version "2147.483.647" (int4 max)',
        body: body("v-int4-max", { app_version: "2147.483.647" }),
        expected: { row: row("v-int4-max", { app_version: 2_147_483_647 }) },
      },
      {
        name: 'app_version "2147.483.648"',
        body: body("v-int4-max-plus-1", { app_version: "2147.483.648" }),
        expected: rejectedAs("invalid_app_version"),
      },
      {
        name: "user_id as a number",
        body: body(12345),
        expected: rejectedAs("invalid_field_type", /^user_id must be a string, not number$/),
      },
      {
        name: "user_id 1e400",
        body: '{"user_id":1e400}',
        expected: rejectedAs("invalid_field_type", /^user_id must be a string, not number$/),
      },
      // --- Arrays where objects or strings belong ------------------------------------------------
      {
        name: "array body",
        body: '[{"user_id":"in-array"}]',
        expected: rejectedAs("not_an_object", /^body is a JSON array, not an object$/),
      },
      {
        name: "ip as an array",
        body: body("ip-array", { ip: ["1.2.3.4"] }),
        expected: rejectedAs("invalid_field_type", /^ip must be a string or null, not array$/),
      },
      // --- SQL-looking strings are data ----------------------------------------------------------
      {
        name: "SQL in user_id and locale",
        body: body(sqlUserId, { locale: sqlLocale }),
        expected: { row: row(sqlUserId, { locale: sqlLocale }) },
      },
      {
        name: "SQL with quotes and backslashes in device_type",
        body: body("sql-device-type", { device_type: sqlDeviceType }),
        expected: { row: row("sql-device-type", { device_type: sqlDeviceType }) },
      },
      // --- Lengths, in characters (code points) --------------------------------------------------
      {
        name: "user_id of 129 characters",
        body: body("u".repeat(129)),
        expected: rejectedAs("field_too_long", /^user_id is 129 characters; the column holds 128$/),
      },
      {
        name: "user_id of exactly 128 characters",
        body: body("u".repeat(128)),
        expected: { row: row("u".repeat(128)) },
      },
      {
        name: "user_id of 128 emoji (256 UTF-16 units, 512 UTF-8 bytes)",
        body: body("\u{1F600}".repeat(128)),
        expected: { row: row("\u{1F600}".repeat(128)) },
      },
      {
        name: "user_id of 129 emoji",
        body: body("\u{1F601}".repeat(129)),
        expected: rejectedAs("field_too_long", /^user_id is 129 characters; the column holds 128$/),
      },
      {
        name: "user_id of 128 CJK characters (384 UTF-8 bytes)",
        body: body("中".repeat(128)),
        expected: { row: row("中".repeat(128)) },
      },
      {
        name: "device_type of 32 emoji",
        body: body("device-type-emoji", { device_type: "\u{1F4F1}".repeat(32) }),
        expected: { row: row("device-type-emoji", { device_type: "\u{1F4F1}".repeat(32) }) },
      },
      {
        name: "device_type of 33 emoji",
        body: body("device-type-33-emoji", { device_type: "\u{1F4F1}".repeat(33) }),
        expected: rejectedAs(
          "field_too_long",
          /^device_type is 33 characters; the column holds 32$/,
        ),
      },
      // --- IP spellings --------------------------------------------------------------------------
      ...[
        "010.001.002.003",
        "127.1",
        "0x7f.0.0.1",
        "fe80::1%eth0",
        " 1.2.3.4",
        "1.2.3.4 ",
        "\t1.2.3.4",
        "256.1.1.1",
        "",
      ].map(
        (ip, i): Case => ({
          name: `ip ${JSON.stringify(ip)}`,
          body: body(`bad-ip-${i}`, { ip }),
          expected: rejectedAs("invalid_ip"),
        }),
      ),
      {
        name: "ip ::ffff:1.2.3.4 (IPv4-mapped)",
        body: body("ip-mapped", { ip: "::ffff:1.2.3.4" }),
        expected: { row: row("ip-mapped", { masked_ip: h.mask("ip", "1.2.3.4") }) },
      },
      {
        name: "ip ::FFFF:1.2.3.4 (mapped, upper case)",
        body: body("ip-mapped-upper", { ip: "::FFFF:1.2.3.4" }),
        expected: { row: row("ip-mapped-upper", { masked_ip: h.mask("ip", "1.2.3.4") }) },
      },
      {
        name: "ip ::1.2.3.4 (IPv4-compatible, not mapped: stays IPv6)",
        body: body("ip-compat", { ip: "::1.2.3.4" }),
        expected: { row: row("ip-compat", { masked_ip: h.mask("ip", "::102:304") }) },
      },
      {
        name: "IPv6 in upper case, uncompressed",
        body: body("ip-v6-upper", { ip: "2001:0DB8:0000:0000:0000:0000:0ABC:0001" }),
        expected: { row: row("ip-v6-upper", { masked_ip: h.mask("ip", "2001:db8::abc:1") }) },
      },
      // --- Empty and non-object bodies -----------------------------------------------------------
      {
        name: "a single space",
        body: " ",
        expected: rejectedAs("invalid_json", /^body is not valid JSON$/),
      },
      {
        name: "only whitespace",
        body: "\t\r\n ",
        expected: rejectedAs("invalid_json", /^body is not valid JSON$/),
      },
      ...["null", '"string"', "42", "true"].map(
        (whole): Case => ({
          name: `whole body ${whole}`,
          body: whole,
          expected: rejectedAs("not_an_object", /^body is a JSON \w+, not an object$/),
        }),
      ),
      // --- Duplicate keys ------------------------------------------------------------------------
      {
        name: "device_type and device.type",
        body: '{"user_id":"dup-flat","device_type":"x","device":{"type":"y"}}',
        expected: rejectedAs(
          "invalid_field_type",
          /^a field named device_type appears twice after flattening$/,
        ),
      },
      {
        name: "device.type and device_type",
        body: '{"user_id":"dup-flat-2","device":{"type":"y"},"device_type":"x"}',
        expected: rejectedAs(
          "invalid_field_type",
          /^a field named device_type appears twice after flattening$/,
        ),
      },
      {
        // The transform never sees this: JSON.parse keeps the last of two equal keys.
        name: "the same key twice in the JSON text",
        body: '{"user_id":"dup-first","user_id":"dup-last"}',
        expected: { row: bare("dup-last") },
      },
      // --- Wrong shape in the same run as the __proto__ bodies: still no user_id ----------------
      {
        name: "wrong-shape message",
        body: WRONG_SHAPE_BODY,
        expected: rejectedAs("missing_user_id"),
      },
    ];

    // Invalid UTF-8 as bytes on the wire. A JS string cannot hold them, so they go over the JSON
    // protocol as raw bytes; the emulator decodes them with U+FFFD replacement (TextDecoder's
    // rule). Whatever valid text arrives is stored as it is; in particular the CESU-8 encoding of
    // a surrogate (ED A0 80) must not come out as a lone surrogate.
    const invalidUtf8: { name: string; bytes: number[] }[] = [
      { name: "truncated 2-byte sequence", bytes: [0xc3, 0x28] },
      { name: "overlong '/'", bytes: [0xc0, 0xaf] },
      { name: "overlong NUL (modified UTF-8)", bytes: [0xc0, 0x80] },
      { name: "UTF-8-encoded surrogate U+D800", bytes: [0xed, 0xa0, 0x80] },
      { name: "byte 0xFF", bytes: [0xff] },
    ];

    // 50 good messages, each with a unique user_id so "loaded exactly once" can be checked.
    const goods = generateSample({ count: 50, seed: 23, wrongShapeRate: 0 }).map((b, i) => {
      const event: Record<string, unknown> = JSON.parse(b);
      event.user_id = `good-${i}`;
      return event;
    });
    const goodBodies = goods.map((g) => JSON.stringify(g));

    // Interleave so hostile bodies share batches with good ones.
    const bodies: string[] = [];
    const caseIndex: number[] = [];
    const goodIndex: number[] = [];
    for (let i = 0; i < Math.max(cases.length, goodBodies.length); i++) {
      const c = cases[i];
      if (c) {
        caseIndex.push(bodies.length);
        bodies.push(c.body);
      }
      const g = goodBodies[i];
      if (g) {
        goodIndex.push(bodies.length);
        bodies.push(g);
      }
    }

    // Bodies AWS refuses at send (InvalidMessageContents or MissingParameter), as LocalStack
    // does. fauxqs accepts the empty one in a batch; moto 5 accepts NUL, U+FFFF and the empty one.
    // Whatever a server accepts reaches the run and must be handled like any other body. moto also stores a lone surrogate and then fails the request (HTTP 500),
    // so the sender never learns its MessageId and the SDK's retries store it again: not sent there.
    const refusedByAws: Case[] = [
      {
        name: "a raw lone surrogate",
        body: '{"user_id":"lone-\ud800"}',
        expected: rejectedAs("invalid_string", /^user_id contains a lone UTF-16 surrogate$/),
      },
      {
        // Raw (not \u-escaped) control characters are not allowed inside a JSON string.
        name: "a raw NUL character",
        body: '{"user_id":"nul-\u0000"}',
        expected: rejectedAs("invalid_json", /^body is not valid JSON$/),
      },
      {
        // fauxqs accepts an empty body in SendMessageBatch; AWS and LocalStack refuse it.
        name: "an empty body",
        body: "",
        expected: rejectedAs("invalid_json", /^body is empty$/),
      },
      {
        name: "a raw U+FFFF",
        body: '{"user_id":"noncharacter-\uffff"}',
        expected: { row: bare("noncharacter-\uffff") },
      },
    ];
    const sent = await sendWithIds(h.sqs, queue.url, bodies);
    const ids = bodies.map((_, i) => acceptedId(sent[i], `body ${i}`));
    const checks = cases.map((c, i) => ({ c, messageId: ids[caseIndex[i] ?? -1] ?? "" }));
    let accepted = 0;
    // One request each: a server that fails a whole batch may have stored part of it already.
    const loneSurrogate = refusedByAws[0];
    for (const c of refusedByAws) {
      if (h.sqsServer.kind === "moto" && c === loneSurrogate) continue;
      const outcome = await sendWithIds(h.sqs, queue.url, [c.body]).then(
        ([o]) => o,
        (err: Error) => ({ error: `request failed: ${err.name}` }),
      );
      if (outcome && "messageId" in outcome) {
        accepted++;
        checks.push({ c, messageId: outcome.messageId });
      } else {
        t.diagnostic(`${h.sqsServer.kind} refused ${c.name} at send: ${outcome?.error}`);
      }
    }
    // What each server accepted of these, so a change in a server's behaviour is noticed.
    const acceptedBy: Record<typeof h.sqsServer.kind, number> = {
      fauxqs: 1,
      moto: 3,
      localstack: 0,
    };
    assert.equal(
      accepted,
      acceptedBy[h.sqsServer.kind],
      "bodies AWS refuses that this server took",
    );

    // fauxqs decodes invalid bytes with U+FFFD replacement and accepts the message; moto 5 and
    // LocalStack answer HTTP 500 and store nothing. What is accepted must load as the decoded text.
    const rawIds: (string | undefined)[] = [];
    for (const [i, raw] of invalidUtf8.entries()) {
      const out = await sendRawBytes(h.sqsServer.endpoint, queue.url, {
        before: String.raw`{\"user_id\":\"raw-utf8-${i}-`,
        bytes: raw.bytes,
        after: String.raw`\"}`,
      });
      if (h.sqsServer.kind !== "fauxqs" && out.status >= 500) {
        t.diagnostic(`${h.sqsServer.kind} refused ${raw.name} at send (HTTP ${out.status})`);
        rawIds.push(undefined);
        continue;
      }
      assert.equal(out.status, 200, `${raw.name}: ${out.text}`);
      assert.ok(out.messageId, raw.name);
      rawIds.push(out.messageId);
    }
    const rawAccepted = rawIds.filter((id) => id !== undefined).length;
    assert.equal(rawAccepted, h.sqsServer.kind === "fauxqs" ? invalidUtf8.length : 0);
    const total = bodies.length + accepted + rawAccepted;
    assert.deepEqual(await h.depth(queue.url), { visible: total, inFlight: 0 });

    const result = await runCli(["run", "--batch-size", "25"], h.env(url, queue.name));
    assert.equal(result.code, 0, result.stderr);
    const finished = result.logs.find((l) => l.msg === "run finished");
    assert.ok(finished, "the run logs its end");
    assert.deepEqual(
      result.logs.filter((l) => Number(l.level) >= 50),
      [],
      "no error was logged",
    );
    assert.deepEqual(await h.depth(queue.url), { visible: 0, inFlight: 0 });

    // The ledger has every message exactly once (its primary key), with its outcome.
    const ledger = await pool.query<{ message_id: string; outcome: string }>(
      "SELECT message_id, outcome FROM etl.processed_messages",
    );
    const outcomeOf = new Map(ledger.rows.map((r) => [r.message_id, r.outcome]));
    assert.equal(ledger.rows.length, total);

    const rejectedRows = await pool.query<{ message_id: string; reason: string; detail: string }>(
      "SELECT message_id, reason, detail FROM etl.rejected_messages",
    );
    const rejectedById = new Map(rejectedRows.rows.map((r) => [r.message_id, r]));
    const rows = await pool.query<Row & { create_date: string }>(
      `SELECT user_id, device_type, masked_ip, masked_device_id, locale, app_version,
              create_date::text AS create_date
         FROM user_logins`,
    );
    const rowsByUser = new Map<string, (Row & { create_date: string })[]>();
    for (const r of rows.rows) rowsByUser.set(r.user_id, [...(rowsByUser.get(r.user_id) ?? []), r]);

    const expectLoaded = (what: string, messageId: string, expected: Row) => {
      assert.equal(outcomeOf.get(messageId), "loaded", `${what}: ledger outcome`);
      assert.equal(rejectedById.get(messageId), undefined, `${what}: not rejected`);
      const found = rowsByUser.get(expected.user_id) ?? [];
      assert.equal(found.length, 1, `${what}: exactly one row`);
      assert.deepEqual(found[0], { ...expected, create_date: todayUtc() }, what);
    };

    let loadedCases = 0;
    for (const { c, messageId } of checks) {
      if ("row" in c.expected) {
        loadedCases++;
        expectLoaded(c.name, messageId, c.expected.row);
        continue;
      }
      const entry = rejectedById.get(messageId);
      assert.ok(entry, `${c.name}: rejected`);
      assert.equal(entry.reason, c.expected.reason, `${c.name}: reason (detail: ${entry.detail})`);
      if (c.expected.detail) assert.match(entry.detail, c.expected.detail, c.name);
      assert.equal(outcomeOf.get(messageId), "rejected", `${c.name}: ledger outcome`);
    }

    invalidUtf8.forEach((raw, i) => {
      const messageId = rawIds[i];
      if (messageId === undefined) return;
      const decoded = new TextDecoder().decode(Buffer.from(raw.bytes));
      assert.match(decoded, /^\uFFFD+\(?$/, "the decoder replaces, never keeps, bad bytes");
      expectLoaded(raw.name, messageId, bare(`raw-utf8-${i}-${decoded}`));
    });

    goods.forEach((g, i) => {
      const messageId = ids[goodIndex[i] ?? -1] ?? "";
      assert.equal(typeof g.ip, "string");
      assert.equal(typeof g.device_id, "string");
      const found = rowsByUser.get(String(g.user_id)) ?? [];
      assert.equal(found.length, 1, `good ${i} loaded exactly once`);
      assert.equal(outcomeOf.get(messageId), "loaded");
      assert.equal(found[0]?.masked_ip, h.mask("ip", String(g.ip)));
      assert.equal(found[0]?.masked_device_id, h.mask("device_id", String(g.device_id)));
      assert.equal(found[0]?.locale, g.locale);
      assert.equal(found[0]?.device_type, g.device_type);
    });

    // Nothing else was loaded: in particular no user_id smuggled in through __proto__.
    const loaded = goods.length + loadedCases + rawAccepted;
    assert.equal(rows.rows.length, loaded);
    const polluted = await pool.query(
      "SELECT * FROM user_logins t WHERE t::text LIKE '%polluted%'",
    );
    assert.deepEqual(polluted.rows, []);

    // SQL-looking strings were stored byte for byte, and every table is still there.
    const sql = await pool.query<{ user_id: string; locale: string; bytes: string }>(
      "SELECT user_id, locale, encode(convert_to(user_id || locale, 'UTF8'), 'hex') AS bytes FROM user_logins WHERE locale = $1",
      [sqlLocale],
    );
    assert.deepEqual(sql.rows, [
      {
        user_id: sqlUserId,
        locale: sqlLocale,
        bytes: Buffer.from(sqlUserId + sqlLocale, "utf8").toString("hex"),
      },
    ]);
    const tables = await pool.query<{ name: string }>(
      `SELECT format('%I.%I', table_schema, table_name) AS name FROM information_schema.tables
        WHERE table_schema IN ('public', 'etl') ORDER BY 1`,
    );
    assert.deepEqual(
      tables.rows.map((r) => r.name),
      ALL_TABLES,
    );
    const runs = await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM etl.runs");
    assert.equal(runs.rows[0]?.n, 1, "the TRUNCATE in a device_type did not run");

    // Emoji are stored as characters: 128 of them fill varchar(128).
    const emoji = await pool.query<{ chars: number; bytes: number }>(
      "SELECT char_length(user_id) AS chars, octet_length(user_id) AS bytes FROM user_logins WHERE user_id = $1",
      ["\u{1F600}".repeat(128)],
    );
    assert.deepEqual(emoji.rows, [{ chars: 128, bytes: 512 }]);

    // The summary agrees with the tables.
    const summary = finished.summary as Record<string, unknown>;
    const byReason = await pool.query<{ reason: string; n: number }>(
      "SELECT reason, count(*)::int AS n FROM etl.rejected_messages GROUP BY reason ORDER BY reason",
    );
    assert.deepEqual(
      summary.rejected,
      Object.fromEntries(byReason.rows.map((r) => [r.reason, r.n])),
    );
    const expectedByReason = new Map<string, number>();
    for (const { c } of checks) {
      if ("reason" in c.expected) {
        expectedByReason.set(c.expected.reason, (expectedByReason.get(c.expected.reason) ?? 0) + 1);
      }
    }
    assert.deepEqual(summary.rejected, Object.fromEntries(expectedByReason));
    // Distinct messages: a server may deliver one twice (moto does under concurrent polls).
    assert.equal(Number(summary.received) - Number(summary.duplicates), total);
    assert.equal(summary.inserted, loaded);
    assert.equal(summary.rejectedTotal, total - loaded);
    assert.equal(summary.deleted, summary.received);
    assert.equal(summary.drained, true);
    // Unknown fields are dropped from the rows and counted by their flattened name.
    // (JSON.parse, because "__proto__" in an object literal would set the prototype instead.)
    assert.deepEqual(
      summary.droppedFields,
      JSON.parse(`{
        "padding": 1,
        "${Array(32).fill("a").join("_")}": 1,
        "tags": 1,
        "__proto___device_type": 1,
        "__proto___locale": 1,
        "device___proto___type": 1,
        "__proto__": 1,
        "constructor": 1,
        "prototype_user_id": 1
      }`),
    );
  });
});
