// Operator commands as child processes against the real services: seed, status, rejected,
// replay, prune; and the run's flags (--queue, --endpoint) rather than environment variables.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createBodyCipher } from "../../src/sink/body-cipher.js";
import { Harness, runCli } from "../support/harness.js";

let h: Harness;
before(async () => {
  h = await Harness.start();
});
after(async () => {
  await h?.stop();
});

const VALID = {
  user_id: "u-replay",
  app_version: "0.96",
  device_type: "ios",
  ip: "203.0.113.9",
  locale: null,
  device_id: "111-22-3333",
};

describe("operator commands", () => {
  test("seed sends samples or a file's lines; run takes --queue and --endpoint flags", async () => {
    const { url, pool } = await h.freshDatabase();
    const queue = await h.createQueue();
    const env = h.env(url, "unused-by-this-test");
    delete (env as Record<string, string>).SQS_QUEUE_NAME;
    delete (env as Record<string, string>).SQS_ENDPOINT;
    const flags = ["--queue", queue.name, "--endpoint", h.sqsServer.endpoint];

    const sample = await runCli(["seed", "--count", "35", ...flags], env);
    assert.equal(sample.code, 0, sample.stderr);
    assert.match(sample.stdout, /^sent 35 message\(s\) to /);

    const file = join(h.scratch, "events.jsonl");
    writeFileSync(file, `${JSON.stringify(VALID)}\n\n{"foo":"oops_wrong_msg_type","bar":"123"}\n`);
    const fromFile = await runCli(["seed", "--file", file, ...flags], env);
    assert.equal(fromFile.code, 0, fromFile.stderr);
    assert.match(fromFile.stdout, /^sent 2 message\(s\)/);
    assert.deepEqual(await h.depth(queue.url), { visible: 37, inFlight: 0 });

    const run = await runCli(["run", ...flags], env);
    assert.equal(run.code, 0, run.stderr);
    const rows = await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM user_logins");
    const rejectedRows = await pool.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM etl.rejected_messages",
    );
    const loaded = rows.rows[0]?.n ?? 0;
    const rejected = rejectedRows.rows[0]?.n ?? 0;
    assert.equal(loaded + rejected, 37);
    assert.ok(rejected >= 1, "the wrong-shape line from the file is rejected");
  });

  test("status reports queue depth, the dead-letter queue, rows, rejected messages and the last run", async () => {
    const { url } = await h.freshDatabase();
    const dlq = await h.createQueue();
    const dlqArn = await h.queueArn(dlq.url);
    const queue = await h.createQueue({
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 5 }),
    });
    await h.send(queue.url, [JSON.stringify(VALID), "not json", JSON.stringify(VALID)]);
    await h.send(dlq.url, ["poison"]);

    const before = await runCli(["status", "--json"], h.env(url, queue.name));
    assert.equal(before.code, 0, before.stderr);
    const b = JSON.parse(before.stdout);
    assert.equal(b.queue.ok, true);
    assert.equal(b.queue.value.depth.visible, 3);
    assert.equal(b.queue.value.deadLetter.depth.visible, 1);
    assert.equal(b.queue.value.deadLetter.maxReceiveCount, 5);
    assert.equal(b.database.ok, true);
    assert.equal(b.database.value.initialised, false, "no tables before the first run");

    const run = await runCli(["run"], h.env(url, queue.name));
    assert.equal(run.code, 0, run.stderr);

    const afterRun = await runCli(["status", "--json"], h.env(url, queue.name));
    assert.equal(afterRun.code, 0, afterRun.stderr);
    const a = JSON.parse(afterRun.stdout);
    assert.equal(a.queue.value.depth.visible, 0);
    assert.deepEqual(a.database.value.rowsLoaded, { count: 2, exact: true });
    assert.equal(a.database.value.rejected[0].reason, "invalid_json");
    assert.equal(a.database.value.rejected[0].count, 1);
    assert.equal(a.database.value.lastRun.exitCode, 0);
    assert.equal(a.database.value.lastRun.summary.received, 3);

    const text = await runCli(["status"], h.env(url, queue.name));
    assert.match(text.stdout, /user_logins rows\s+2\n/);
    assert.match(text.stdout, /dead-letter queue\s+1 message\(s\) after 5 receives/);
  });

  test("status exits 1 and still reports the queue when the database is down", async () => {
    const queue = await h.createQueue();
    const result = await runCli(
      ["status", "--startup-wait", "0"],
      h.env("postgres://postgres:pw@127.0.0.1:1/postgres", queue.name),
    );
    assert.equal(result.code, 1);
    assert.match(result.stdout, /waiting \(approx\.\)\s+0/);
    assert.match(result.stdout, /database: unreachable\n\s+Cannot connect to Postgres/);
  });

  test("rejected lists rejected messages by reason with masked payloads", async () => {
    const { url } = await h.freshDatabase();
    const queue = await h.createQueue();
    const badIp = JSON.stringify({ ...VALID, user_id: "bad-version", app_version: "v2" });
    await h.send(queue.url, [badIp, "{truncated 198.51.100.7"]);
    assert.equal((await runCli(["run"], h.env(url, queue.name))).code, 0);

    const all = await runCli(["rejected"], h.env(url, queue.name));
    assert.equal(all.code, 0, all.stderr);
    assert.match(all.stdout, /invalid_app_version\s+1/);
    assert.match(all.stdout, /invalid_json\s+1/);
    assert.ok(!all.stdout.includes("203.0.113.9") && !all.stdout.includes("198.51.100.7"));
    assert.ok(!all.stdout.includes("111-22-3333"));
    assert.match(all.stdout, /hmac:[0-9a-f]{64}/);

    const one = await runCli(
      ["rejected", "--reason", "invalid_json", "--json"],
      h.env(url, queue.name),
    );
    const parsed = JSON.parse(one.stdout);
    assert.equal(parsed.messages.length, 1);
    assert.equal(parsed.messages[0].reason, "invalid_json");
  });

  test("replay loads rejected messages that now pass, exactly once, and keeps the rest", async () => {
    const { url, pool } = await h.freshDatabase();
    const queue = await h.createQueue();
    // Rejected messages three messages through a real run...
    await h.send(queue.url, [
      JSON.stringify({ ...VALID, user_id: "still-bad", app_version: "v2" }),
      "not json",
    ]);
    assert.equal((await runCli(["run"], h.env(url, queue.name))).code, 0);
    // ...and add two as an older, buggier transform would have left them: one valid message
    // rejected for its version, and one sealed under a key we no longer have.
    const cipher = createBodyCipher(Buffer.from(h.key));
    const oldCipher = createBodyCipher(Buffer.alloc(32, 7));
    await pool.query(
      "INSERT INTO etl.processed_messages (message_id, outcome) VALUES ('m-fixed', 'rejected'), ('m-oldkey', 'rejected')",
    );
    await pool.query(
      `INSERT INTO etl.rejected_messages (message_id, reason, detail, payload, body_sealed, receive_count, sent_at)
       VALUES ('m-fixed', 'invalid_app_version', 'old bug', '{}', $1, 1, '2026-02-03T23:59:59Z'),
              ('m-oldkey', 'invalid_app_version', 'old bug', '{}', $2, 1, '2026-02-03T00:00:00Z')`,
      [
        cipher.seal(JSON.stringify(VALID), "m-fixed"),
        oldCipher.seal(JSON.stringify(VALID), "m-oldkey"),
      ],
    );

    const dry = await runCli(["replay", "--dry-run", "--json"], h.env(url, queue.name));
    assert.equal(dry.code, 0, dry.stderr);
    assert.deepEqual(JSON.parse(dry.stdout), {
      examined: 4,
      loaded: 1,
      stillRejected: { invalid_app_version: 1, invalid_json: 1 },
      undecryptable: 1,
    });
    const afterDry = await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM user_logins");
    assert.equal(afterDry.rows[0]?.n, 0, "a dry run rolls back");

    const real = await runCli(
      ["replay", "--reason", "invalid_app_version", "--json"],
      h.env(url, queue.name),
    );
    assert.equal(real.code, 0, real.stderr);
    assert.equal(JSON.parse(real.stdout).loaded, 1);
    const again = await runCli(["replay", "--json"], h.env(url, queue.name));
    assert.equal(JSON.parse(again.stdout).loaded, 0, "a second replay loads nothing again");

    const rows = await pool.query(
      "SELECT user_id, masked_ip, masked_device_id, locale, app_version, create_date::text AS create_date FROM user_logins",
    );
    assert.deepEqual(rows.rows, [
      {
        user_id: "u-replay",
        masked_ip: h.mask("ip", "203.0.113.9"),
        masked_device_id: h.mask("device_id", "111-22-3333"),
        locale: null,
        app_version: 96_000,
        create_date: "2026-02-03",
      },
    ]);
    const left = await pool.query<{ message_id: string }>(
      "SELECT message_id FROM etl.rejected_messages ORDER BY message_id",
    );
    assert.equal(left.rows.length, 3);
    assert.ok(!left.rows.some((r) => r.message_id === "m-fixed"));
    const ledger = await pool.query(
      "SELECT outcome FROM etl.processed_messages WHERE message_id = 'm-fixed'",
    );
    assert.deepEqual(ledger.rows, [{ outcome: "loaded" }]);
  });

  test("prune refuses ages under the queue's retention and deletes only old ledger rows", async () => {
    const { url, pool } = await h.freshDatabase();
    const queue = await h.createQueue({ MessageRetentionPeriod: "86400" });
    await h.send(queue.url, [JSON.stringify(VALID), JSON.stringify({ ...VALID, user_id: "u2" })]);
    assert.equal((await runCli(["run"], h.env(url, queue.name))).code, 0);
    await pool.query(
      `UPDATE etl.processed_messages SET processed_at = now() - interval '40 hours'
        WHERE message_id = (SELECT min(message_id) FROM etl.processed_messages)`,
    );

    const refused = await runCli(["prune", "--older-than", "12h"], h.env(url, queue.name));
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(
      refused.stderr,
      /Refusing to prune: the queue keeps messages for 1 days.*--older-than 1d or more/,
    );

    const bad = await runCli(["prune", "--older-than", "soon"], h.env(url, queue.name));
    assert.equal(bad.code, 2);

    const pruned = await runCli(["prune", "--older-than", "36h"], h.env(url, queue.name));
    assert.equal(pruned.code, 0, pruned.stderr);
    assert.match(pruned.stdout, /deleted 1 ledger row\(s\)/);
    const left = await pool.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM etl.processed_messages",
    );
    assert.equal(left.rows[0]?.n, 1);
  });

  test("keygen prints a fresh 64-hex-character key each time", async () => {
    const a = await runCli(["keygen"], {});
    const b = await runCli(["keygen"], {});
    assert.match(a.stdout, /^[0-9a-f]{64}\n$/);
    assert.notEqual(a.stdout, b.stdout);
  });

  test("etl key groups the key commands under the issue's names; each is its flat command", async () => {
    const help = await runCli(["key", "--help"], {});
    assert.equal(help.code, 0, help.stderr);
    for (const [sub, flat] of [
      ["rotate", "rotate-key"],
      ["rotate-vault", "rotate-vault-key"],
      ["gen", "keygen"],
    ]) {
      assert.match(help.stdout, new RegExp(`\\n  ${sub} [^]*?\\(etl ${flat}\\)`), sub);
    }
    assert.match((await runCli(["key", "gen"], {})).stdout, /^[0-9a-f]{64}\n$/);
    // The group member owns the same flags: --reason is required, a usage error (2) without it.
    const noReason = await runCli(["key", "rotate", "--remask"], {});
    assert.equal(noReason.code, 2, noReason.stderr);
    assert.match(noReason.stderr, /--reason/);
    const unknown = await runCli(["key", "spin"], {});
    assert.equal(unknown.code, 2, unknown.stderr);
    // Help for a member, however asked, is the member's own: its flags and exit codes.
    for (const ask of [
      ["help", "key", "rotate"],
      ["key", "help", "rotate"],
      ["key", "rotate", "--help"],
    ]) {
      const shown = await runCli(ask, {});
      assert.equal(shown.code, 0, shown.stderr);
      assert.match(shown.stdout, /^Usage: etl key rotate /, ask.join(" "));
      assert.match(shown.stdout, /--remask/, ask.join(" "));
      assert.match(shown.stdout, /Exit codes/, ask.join(" "));
    }
  });
});
