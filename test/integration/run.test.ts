// `etl run` end to end, as a child process, against embedded Postgres and the fauxqs emulator.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { generateSample, WRONG_SHAPE_BODY } from "../../src/sample/generate.js";
import { dumpAllText, Harness, runCli, summaryOf, todayUtc } from "../support/harness.js";
import { commitWithoutDeleting } from "../support/partial-run.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const FETCH_MESSAGE = {
  user_id: "424cdd21-063a-43a7-b91b-7ca1a833afae",
  app_version: "2.3.0",
  device_type: "android",
  ip: "199.172.111.135",
  locale: "RU",
  device_id: "593-47-5928",
};

let h: Harness;
before(async () => {
  h = await Harness.start();
});
after(async () => {
  await h?.stop();
});

describe("etl run", () => {
  test("loads a Fetch-like queue: rows, masks, versions, null locales, dates; rejects wrong shapes", async () => {
    const { url, pool } = await h.freshDatabase();
    const queue = await h.createQueue();
    const sample = generateSample({ count: 400, seed: 7 });
    const bodies = [
      JSON.stringify(FETCH_MESSAGE),
      JSON.stringify({
        ...FETCH_MESSAGE,
        user_id: "u-null-locale",
        locale: null,
        app_version: "0.96",
      }),
      JSON.stringify({ ...FETCH_MESSAGE, user_id: "u-200", app_version: "2.00" }),
      WRONG_SHAPE_BODY,
      ...sample,
    ];
    const wrongShapes = bodies.filter((b) => b === WRONG_SHAPE_BODY).length;
    await h.send(queue.url, bodies);

    const result = await runCli(["run"], h.env(url, queue.name));
    assert.equal(result.code, 0, result.stderr);

    const count = await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM user_logins");
    assert.equal(count.rows[0]?.n, bodies.length - wrongShapes);

    const fetch = await pool.query(
      "SELECT *, create_date::text AS create_date FROM user_logins WHERE user_id = $1",
      [FETCH_MESSAGE.user_id],
    );
    assert.equal(fetch.rows.length, 1);
    assert.deepEqual(fetch.rows[0], {
      user_id: FETCH_MESSAGE.user_id,
      device_type: "android",
      masked_ip: h.mask("ip", "199.172.111.135"),
      masked_device_id: h.mask("device_id", "593-47-5928"),
      locale: "RU",
      app_version: 2_003_000,
      create_date: todayUtc(),
    });
    const special = await pool.query(
      "SELECT user_id, locale, app_version FROM user_logins WHERE user_id IN ('u-null-locale', 'u-200') ORDER BY user_id",
    );
    assert.deepEqual(special.rows, [
      { user_id: "u-200", locale: "RU", app_version: 2_000_000 },
      { user_id: "u-null-locale", locale: null, app_version: 96_000 },
    ]);

    const rejected = await pool.query(
      "SELECT reason, count(*)::int AS n FROM etl.rejected_messages GROUP BY reason",
    );
    assert.deepEqual(rejected.rows, [{ reason: "missing_user_id", n: wrongShapes }]);

    assert.deepEqual(await h.depth(queue.url), { visible: 0, inFlight: 0 });

    const summary = summaryOf(result);
    // A standard queue may deliver a message twice (moto does under concurrent polls); the
    // second copy is counted as a duplicate and deleted too.
    assert.equal(Number(summary.received) - Number(summary.duplicates), bodies.length);
    assert.equal(summary.inserted, bodies.length - wrongShapes);
    assert.equal(summary.deleted, summary.received);
    assert.equal(summary.drained, true);
    assert.deepEqual(summary.rejected, { missing_user_id: wrongShapes });
  });

  test("poison bodies are rejected with their reason while the rest of the run continues", async () => {
    const { url, pool } = await h.freshDatabase();
    const queue = await h.createQueue();
    const good = (id: string, extra: Record<string, unknown> = {}) =>
      JSON.stringify({ ...FETCH_MESSAGE, user_id: id, ...extra });
    const poison: Record<string, string> = {
      invalid_json: '{"user_id":"x","ip":"10.1.2.3"',
      not_an_object: "[1,2,3]",
      missing_user_id: '{"user_id":""}',
      invalid_ip: good("p-ip", { ip: "999.1.1.1" }),
      invalid_app_version: good("p-ver", { app_version: "2.x" }),
      field_too_long: good("p-long", { device_type: "x".repeat(33) }),
      invalid_field_type: good("p-type", { locale: ["RU"] }),
    };
    const goods = Array.from({ length: 30 }, (_, i) => good(`ok-${i}`));
    await h.send(queue.url, [...Object.values(poison), ...goods]);

    const result = await runCli(["run", "--batch-size", "7"], h.env(url, queue.name));
    assert.equal(result.code, 0, result.stderr);

    const loaded = await pool.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM user_logins WHERE user_id LIKE 'ok-%'",
    );
    assert.equal(loaded.rows[0]?.n, 30);
    const reasons = await pool.query<{ reason: string }>(
      "SELECT reason FROM etl.rejected_messages ORDER BY reason",
    );
    assert.deepEqual(
      reasons.rows.map((r) => r.reason),
      Object.keys(poison).sort(),
    );
    const all = await dumpAllText(pool);
    assert.ok(!all.includes("10.1.2.3"), "a raw ip inside an unparseable body is masked");
    assert.deepEqual(await h.depth(queue.url), { visible: 0, inFlight: 0 });
  });

  test("a redelivered message whose row is already committed becomes a no-op plus a delete", async () => {
    const { url, pool } = await h.freshDatabase();
    const queue = await h.createQueue();
    const bodies = generateSample({ count: 60, seed: 11, wrongShapeRate: 0.05 });
    await h.send(queue.url, bodies);

    // A consumer that commits and then dies before deleting: the real receiver and sink, with the
    // delete stage left out and a short visibility timeout so the messages come back.
    const crashed = await commitWithoutDeleting(h, url, queue.url, 3);
    assert.equal(crashed.summary.received, 60);
    assert.equal(crashed.summary.deleted, 0);
    const held = await h.depth(queue.url);
    assert.equal(held.visible + held.inFlight, 60, "nothing was deleted");
    await sleep(3_500); // the visibility timeout expires: SQS will redeliver all 60

    const rerun = await runCli(["run"], h.env(url, queue.name));
    assert.equal(rerun.code, 0, rerun.stderr);
    const summary = summaryOf(rerun);
    // Every copy received is a duplicate (more than 60 if a server delivers one twice).
    assert.ok(Number(summary.received) >= 60);
    assert.equal(summary.inserted, 0);
    assert.equal(summary.duplicates, summary.received);
    assert.equal(summary.deleted, summary.received);

    const rows = await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM user_logins");
    const rejected = await pool.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM etl.rejected_messages",
    );
    assert.equal(rows.rows[0]?.n, crashed.summary.inserted);
    assert.equal(rejected.rows[0]?.n, crashed.summary.rejectedTotal);
    assert.equal(crashed.summary.inserted + crashed.summary.rejectedTotal, 60);
    assert.deepEqual(await h.depth(queue.url), { visible: 0, inFlight: 0 });

    // And a plain rerun on the now empty queue changes nothing.
    const again = await runCli(["run"], h.env(url, queue.name));
    assert.equal(again.code, 0, again.stderr);
    const after = await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM user_logins");
    assert.equal(after.rows[0]?.n, crashed.summary.inserted);
  });

  test("database unreachable: exit 1, nothing received, every message still in the queue", async () => {
    const queue = await h.createQueue();
    await h.send(queue.url, generateSample({ count: 25, seed: 3 }));
    const result = await runCli(
      ["run", "--startup-wait", "1"],
      h.env("postgres://postgres:secret-pw@127.0.0.1:1/postgres", queue.name),
    );
    assert.equal(result.code, 1, result.stderr);
    assert.match(
      result.stderr,
      /Cannot connect to Postgres at postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:1/,
    );
    assert.ok(!result.stderr.includes("secret-pw"), "the database password never reaches the logs");
    assert.deepEqual(await h.depth(queue.url), { visible: 25, inFlight: 0 });
  });

  test("configuration errors exit 2, name the setting, and receive nothing", async () => {
    const { url } = await h.freshDatabase();
    const queue = await h.createQueue();
    await h.send(queue.url, generateSample({ count: 5, seed: 5 }));
    const cases: [string[], Record<string, string>, RegExp][] = [
      [["run"], { PII_HASH_KEY: "" }, /PII_HASH_KEY is not set.*etl keygen/],
      [["run"], { PII_HASH_KEY: "too-short" }, /PII_HASH_KEY is too weak: 9 base64 characters/],
      [["run", "--batch-size", "abc"], {}, /--batch-size must be a whole number/],
      [["run"], { ETL_CONCURRENCY: "0" }, /ETL_CONCURRENCY must be a whole number from 1 to 64/],
      [["run"], { DATABASE_URL: "mysql://x" }, /DATABASE_URL must be a postgres:\/\/ URL/],
      [["run", "--no-such-flag"], {}, /unknown option/],
      [["run", "--batch-size", "0x10"], {}, /--batch-size must be a whole number/],
      [["run", "--max-runtime", "1e3"], {}, /--max-runtime must be a whole number/],
      [["run", "--batch-size", "10", "--batch-size", "20"], {}, /given more than once/],
      [
        ["rejected", "--reason", "nope"],
        {},
        /--reason must be one of invalid_json, not_an_object, /,
      ],
      [["replay", "--reason", "nope"], {}, /--reason must be one of invalid_json, /],
      [["run"], { ETL_BATCH_SIZE: "1e2" }, /ETL_BATCH_SIZE must be a whole number/],
    ];
    for (const [args, env, expected] of cases) {
      const result = await runCli(args, h.env(url, queue.name, env));
      assert.equal(result.code, 2, `${args.join(" ")} ${JSON.stringify(env)}: ${result.stderr}`);
      assert.match(result.stderr, expected);
    }
    assert.deepEqual(await h.depth(queue.url), { visible: 5, inFlight: 0 });
  });

  test("connection settings no wait can fix exit 2 at once with one line naming the setting", async () => {
    const { url } = await h.freshDatabase();
    const queue = await h.createQueue();
    await h.send(queue.url, generateSample({ count: 3, seed: 3 }));
    const wrongPassword = new URL(url);
    wrongPassword.password = "not-the-password";
    const noDatabase = new URL(url);
    noDatabase.pathname = "/no_such_database";
    const missingUrl = queue.url.replace(/login-queue-[^/]*$/, "no-such-queue-url");
    const home = mkdtempSync(join(tmpdir(), "login-etl-home-"));
    const cases: [string, string[], Record<string, string>, RegExp][] = [
      [
        "wrong password",
        ["run"],
        { DATABASE_URL: wrongPassword.href },
        /refused the credentials in DATABASE_URL/,
      ],
      [
        "unknown database",
        ["run"],
        { DATABASE_URL: noDatabase.href },
        /database named in DATABASE_URL .* does not exist/,
      ],
      [
        "a --queue-url that does not exist",
        ["run", "--queue-url", missingUrl],
        {},
        /Queue http\S+no-such-queue-url does not exist/,
      ],
      // A profile that is not there: the SDK's credential chain finds nothing.
      [
        "no AWS credentials",
        ["run"],
        { AWS_PROFILE: "no-such-profile", HOME: home },
        /No AWS credentials: the SDK's default chain/,
      ],
    ];
    try {
      for (const [what, args, env, expected] of cases) {
        const result = await runCli(
          args,
          h.env(url, queue.name, { ETL_STARTUP_WAIT: "30", ...env }),
        );
        assert.equal(result.code, 2, `${what}: ${result.stderr}`);
        const errors = result.logs.filter((l) => Number(l.level) >= 50).map((l) => String(l.msg));
        assert.equal(errors.length, 1, `${what}: one error line\n${result.stderr}`);
        assert.match(errors[0] ?? "", expected, what);
        assert.ok(
          !result.logs.some((l) => /^waiting for/.test(String(l.msg))),
          `${what}: not waited for\n${result.stderr}`,
        );
        assert.ok(!result.stderr.includes("not-the-password"), what);
      }
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
    assert.deepEqual(await h.depth(queue.url), { visible: 3, inFlight: 0 }, "nothing received");

    // Not even behind the other side's start-up wait: SQS is down, and waiting 60 s for it
    // would not fix the password.
    const sqsDown = await runCli(
      ["run"],
      h.env(url, queue.name, {
        DATABASE_URL: wrongPassword.href,
        SQS_ENDPOINT: "http://127.0.0.1:9",
        ETL_STARTUP_WAIT: "60",
      }),
      { timeoutMs: 20_000 },
    );
    assert.equal(sqsDown.code, 2, sqsDown.stderr);
    assert.match(sqsDown.stderr, /refused the credentials in DATABASE_URL/);
  });

  test("an empty variable counts as unset: the .env value applies, then the default", async () => {
    const { url, pool } = await h.freshDatabase();
    const queue = await h.createQueue();
    await h.send(queue.url, generateSample({ count: 4, seed: 4, wrongShapeRate: 0 }));
    const result = await runCli(["run"], h.env(url, "", { SQS_QUEUE_NAME: "" }), {
      dotenv: `SQS_QUEUE_NAME=${queue.name}\n`,
    });
    assert.equal(result.code, 0, result.stderr);
    const rows = await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM user_logins");
    assert.equal(rows.rows[0]?.n, 4, "the queue named in .env was drained");
  });

  test("off a terminal, every line on stderr is one JSON object, whatever happens", async () => {
    const { url } = await h.freshDatabase();
    const queue = await h.createQueue();
    await h.send(queue.url, generateSample({ count: 3, seed: 3 }));
    const cases: [string, string[], Record<string, string>][] = [
      ["a run (the AWS SDK's Node-version warning included)", ["run"], {}],
      ["an unknown flag", ["run", "--no-such-flag"], {}],
      ["a missing key", ["run"], { PII_HASH_KEY: "" }],
      [
        "a database that is down",
        ["run", "--startup-wait", "1"],
        { DATABASE_URL: "postgres://x@127.0.0.1:1/x" },
      ],
    ];
    for (const [what, args, env] of cases) {
      const result = await runCli(args, h.env(url, queue.name, env));
      const lines = result.stderr.split("\n").filter((l) => l.trim() !== "");
      assert.ok(lines.length > 0, what);
      for (const line of lines) {
        assert.doesNotThrow(() => JSON.parse(line), `${what}: not JSON: ${line}`);
      }
    }
  });

  test("a queue that does not exist exits 2 with a message naming it", async () => {
    const { url } = await h.freshDatabase();
    const result = await runCli(["run"], h.env(url, "no-such-queue"));
    assert.equal(result.code, 2, result.stderr);
    const errors = result.logs.filter((l) => l.level === 50).map((l) => String(l.msg));
    assert.equal(errors.length, 1, result.stderr);
    assert.match(
      errors[0] ?? "",
      /^Queue "no-such-queue" does not exist at http:\/\/127\.0\.0\.1:\d+\. Create it/,
    );
    assert.ok(!result.stderr.includes("waiting for SQS"), "a missing queue is not waited for");
  });

  test("--max-messages stops receiving at the limit and leaves the rest in the queue", async () => {
    const { url, pool } = await h.freshDatabase();
    const queue = await h.createQueue();
    await h.send(queue.url, generateSample({ count: 50, seed: 9, wrongShapeRate: 0 }));
    const result = await runCli(["run", "--max-messages", "23"], h.env(url, queue.name));
    assert.equal(result.code, 0, result.stderr);
    const count = await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM user_logins");
    assert.equal(count.rows[0]?.n, 23);
    assert.deepEqual(await h.depth(queue.url), { visible: 27, inFlight: 0 });
  });

  test("no raw ip or device id in any log line (trace level) or any table", async () => {
    const { url, pool } = await h.freshDatabase();
    const queue = await h.createQueue();
    const bodies = generateSample({ count: 120, seed: 13 });
    bodies.push(
      '{"user_id":"bad","ip":"203.0.113.77","device_id":"123-45-6789","app_version":"x"}',
    );
    bodies.push("not json at all 198.51.100.23 and 987-65-4321");
    await h.send(queue.url, bodies);
    const result = await runCli(["run"], h.env(url, queue.name, { LOG_LEVEL: "trace" }));
    assert.equal(result.code, 0, result.stderr);

    const raw = new Set<string>(["203.0.113.77", "123-45-6789", "198.51.100.23", "987-65-4321"]);
    for (const body of bodies) {
      try {
        const parsed = JSON.parse(body) as { ip?: unknown; device_id?: unknown };
        if (typeof parsed.ip === "string") raw.add(parsed.ip);
        if (typeof parsed.device_id === "string") raw.add(parsed.device_id);
      } catch {
        // the non-JSON body's values are listed above
      }
    }
    const tables = await dumpAllText(pool);
    const output = result.stdout + result.stderr;
    for (const value of raw) {
      assert.ok(!output.includes(value), `raw value ${value} leaked into the output`);
      assert.ok(!tables.includes(value), `raw value ${value} leaked into a table`);
    }
    assert.ok(!output.includes(h.key), "the key never reaches the logs");
  });
});
