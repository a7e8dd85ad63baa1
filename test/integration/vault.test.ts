// The PII vault against real Postgres and a real SQS server: `etl run` with PII_VAULT_KEY keeps
// each distinct ip and device_id sealed; `etl reveal` returns the original, audited, and refuses
// without key or reason; `etl forget` erases one user and the entries only they used; the
// re-mask and the vault key rotation survive SIGKILL mid-way and finish on rerun, with the same
// groups of rows; and no table holds a readable ip or device id.
import assert from "node:assert/strict";
import { createHmac, randomBytes } from "node:crypto";
import { after, before, test } from "node:test";
import type pg from "pg";
import pino from "pino";
import { keyFingerprint } from "../../src/pii-key.js";
import { createBodyCipher } from "../../src/sink/body-cipher.js";
import { createPool } from "../../src/sink/database.js";
import { PostgresSink } from "../../src/sink/postgres-sink.js";
import { createVaultCipher } from "../../src/sink/vault-cipher.js";
import { sealInPlace } from "../../src/sink/vault-sealer.js";
import { createMasker, storedPayload, transformMessage } from "../../src/transform/index.js";
import type { SinkItem } from "../../src/types.js";
import { dumpAllText, FAULT_HOOKS, Harness, runCli } from "../support/harness.js";

let h: Harness;
before(async () => {
  h = await Harness.start();
});
after(async () => {
  await h?.stop();
});

const newKey = () => randomBytes(32).toString("hex");

/** A mask computed independently of src/ (HMAC-SHA-256 under the field's subkey). */
function maskWith(key: string, field: "ip" | "device_id", value: string): string {
  const subkey = createHmac("sha256", key).update(`login-etl/v1/mask/${field}`).digest();
  return createHmac("sha256", subkey).update(value).digest("hex");
}

interface Login {
  user_id: string;
  ip: string;
  device_id: string;
}
const body = (l: Login) => JSON.stringify({ ...l, device_type: "ios", app_version: "2.3.0" });

/** `n` logins over fewer devices and addresses, so rows share masks across users. */
function logins(n: number, prefix: string): Login[] {
  return Array.from({ length: n }, (_, i) => ({
    user_id: `${prefix}-user-${i % 17}`,
    ip: `10.${i % 7}.${i % 11}.${(i * 7) % 13}`,
    device_id: `${String(100 + (i % 23)).padStart(3, "0")}-45-${String(1000 + (i % 19))}`,
  }));
}

/** Every raw value must be absent, as text and as the hex a bytea column would show. */
function assertNoRaw(text: string, values: readonly string[], where: string): void {
  for (const value of values) {
    assert.ok(!text.includes(value), `${where} holds the raw value ${value}`);
    const hex = Buffer.from(value, "utf8").toString("hex");
    assert.ok(!text.includes(hex), `${where} holds the raw value ${value} as hex`);
  }
}

/** The groups of users per device mask, independent of what the masks are. */
async function deviceGroups(pool: pg.Pool): Promise<string[]> {
  const result = await pool.query<{ g: string }>(
    `SELECT string_agg(user_id || '/' || create_date, ',' ORDER BY user_id, create_date) AS g
       FROM user_logins GROUP BY masked_device_id`,
  );
  return result.rows.map((r) => r.g).sort();
}

/** A message as the sink gets it: the login's body, transformed with the harness's hash key. */
function sinkItem(messageId: string, login: Login): SinkItem {
  const message = {
    messageId,
    receiptHandle: messageId,
    body: body(login),
    sentTimestamp: Date.now(),
    receiveCount: 1,
  };
  return { message, result: transformMessage(message, createMasker(Buffer.from(h.key, "utf8"))) };
}

/** `use` a PostgresSink with the vault on (sealing in place), on a pool of its own, closed after. */
async function withVaultSink<T>(
  url: string,
  vaultKey: string,
  logger: pino.Logger,
  use: (sink: PostgresSink) => Promise<T>,
): Promise<T> {
  const key = Buffer.from(h.key, "utf8");
  const masker = createMasker(key);
  const pool = createPool(
    { databaseUrl: url, dbConnectTimeoutSeconds: 10, dbStatementTimeoutSeconds: 60 },
    2,
    logger,
  );
  try {
    const sink = new PostgresSink(pool, {
      cipher: createBodyCipher(key),
      maskPayload: (text) => storedPayload(text, masker),
      keys: {
        hash: keyFingerprint(key),
        vault: sealInPlace(createVaultCipher(Buffer.from(vaultKey, "utf8"))),
      },
      logger,
    });
    return await use(sink);
  } finally {
    await pool.end();
  }
}

/** A message an older transform rejected, as it sits in the tables: replay will load it. */
async function plantRejected(pool: pg.Pool, id: string, login: Login): Promise<void> {
  await pool.query(
    "INSERT INTO etl.processed_messages (message_id, outcome) VALUES ($1, 'rejected')",
    [id],
  );
  await pool.query(
    `INSERT INTO etl.rejected_messages (message_id, reason, detail, payload, body_sealed, receive_count, sent_at)
     VALUES ($1, 'invalid_app_version', 'old bug', '{}', $2, 1, now())`,
    [id, createBodyCipher(Buffer.from(h.key)).seal(body(login), id)],
  );
}

async function setup(vaultKey: string, data: Login[]) {
  const { url, pool } = await h.freshDatabase();
  const queue = await h.createQueue();
  const env = (extra: Record<string, string> = {}) =>
    h.env(url, queue.name, { PII_VAULT_KEY: vaultKey, ...extra });
  await h.send(queue.url, data.map(body));
  const run = await runCli(["run"], env());
  assert.equal(run.code, 0, run.stderr);
  return { url, pool, queue, env };
}

const distinct = (values: readonly string[]) => new Set(values).size;

test("reveal returns the original of a mask `etl run` loaded, audited; refuses without key, reason or a known mask", async () => {
  const vaultKey = newKey();
  const data = logins(40, "rv");
  const { pool, env } = await setup(vaultKey, data);

  const vault = await pool.query<{ field: string; n: number }>(
    "SELECT field, count(*)::int AS n FROM etl.pii_vault GROUP BY field ORDER BY field",
  );
  assert.deepEqual(vault.rows, [
    { field: "device_id", n: distinct(data.map((d) => d.device_id)) },
    { field: "ip", n: distinct(data.map((d) => d.ip)) },
  ]);
  // No row without its entry, no entry without a row.
  const orphans = await pool.query(`
    SELECT 1 FROM user_logins r WHERE NOT EXISTS
      (SELECT 1 FROM etl.pii_vault v WHERE v.field = 'ip' AND v.mask = decode(r.masked_ip, 'hex'))
    UNION ALL
    SELECT 1 FROM etl.pii_vault v WHERE v.field = 'device_id' AND NOT EXISTS
      (SELECT 1 FROM user_logins r WHERE r.masked_device_id = encode(v.mask, 'hex'))`);
  assert.equal(orphans.rows.length, 0);

  const target = data[5] as Login;
  const mask = h.mask("device_id", target.device_id);
  const shown = await runCli(
    [
      "reveal",
      "--field",
      "device_id",
      "--mask",
      mask.toUpperCase(),
      "--reason",
      "case 4711",
      "--actor",
      "alice",
    ],
    env(),
  );
  assert.equal(shown.code, 0, shown.stderr);
  assert.equal(shown.stdout, `${target.device_id}\n`);
  const ipShown = await runCli(
    ["reveal", "--field", "ip", "--mask", h.mask("ip", target.ip), "--reason", "case 4712"],
    // The hash key is not needed to reveal, and not given.
    { DATABASE_URL: env().DATABASE_URL, PII_VAULT_KEY: vaultKey },
  );
  assert.equal(ipShown.code, 0, ipShown.stderr);
  assert.equal(ipShown.stdout, `${target.ip}\n`);

  const audit = await pool.query(
    "SELECT actor, action, reason, field, mask, counts FROM etl.pii_audit ORDER BY audit_id",
  );
  assert.equal(audit.rows.length, 2);
  assert.deepEqual(audit.rows[0], {
    actor: "alice",
    action: "reveal",
    reason: "case 4711",
    field: "device_id",
    mask,
    counts: { outcome: "revealed" },
  });
  assert.ok((audit.rows[1] as { actor: string }).actor.length > 0, "the OS user by default");
  const server = await pool.query("SELECT DISTINCT db_user FROM etl.pii_audit");
  assert.deepEqual(server.rows, [{ db_user: "postgres" }], "the database user, set by the server");

  const refusals: [string, string[], Record<string, string>, number, RegExp][] = [
    ["no vault key", ["--reason", "x"], { PII_VAULT_KEY: "" }, 2, /PII_VAULT_KEY is not set/],
    ["no reason", [], {}, 2, /--reason/],
    ["a blank reason", ["--reason", "   "], {}, 2, /--reason must say why/],
    [
      "another vault key",
      ["--reason", "x"],
      { PII_VAULT_KEY: newKey() },
      2,
      /sealed under vault key/,
    ],
  ];
  for (const [what, extra, envExtra, code, message] of refusals) {
    const result = await runCli(["reveal", "--field", "device_id", "--mask", mask, ...extra], {
      ...env(),
      ...envExtra,
    });
    assert.equal(result.code, code, `${what}: ${result.stderr}`);
    assert.match(result.stderr, message, what);
    assert.equal(result.stdout, "", `${what}: nothing revealed`);
  }
  const unknown = await runCli(
    ["reveal", "--field", "ip", "--mask", mask, "--reason", "a device mask asked as an ip"],
    env(),
  );
  assert.equal(unknown.code, 1, unknown.stderr);
  assert.match(unknown.stderr, /no ip with mask [0-9a-f]{64} in the PII vault/);
  const malformed = await runCli(
    ["reveal", "--field", "ip", "--mask", "10.0.0.1", "--reason", "x"],
    env(),
  );
  assert.equal(malformed.code, 2, malformed.stderr);
  assert.ok(!malformed.stderr.includes("10.0.0.1"), "a malformed mask is not echoed");

  // An entry planted by whoever holds the vault key and may insert into the vault, before the
  // real value arrives (first writer wins): with PII_HASH_KEY, reveal checks and refuses it.
  const plantedFor = "203.0.113.99";
  const planted = h.mask("ip", plantedFor);
  const forger = createVaultCipher(Buffer.from(vaultKey, "utf8"));
  await pool.query(
    `INSERT INTO etl.pii_vault (field, mask, hash_key, vault_key, sealed)
     SELECT 'ip', decode($1, 'hex'), hash_key, vault_key, $2 FROM etl.pii_vault LIMIT 1`,
    [planted, forger.seal("ip", planted, "198.51.100.66")],
  );
  const checked = await runCli(
    ["reveal", "--field", "ip", "--mask", planted, "--reason", "planted check"],
    env(),
  );
  assert.equal(checked.code, 1, checked.stderr);
  assert.match(checked.stderr, /does not give that mask under PII_HASH_KEY: it was planted/);
  assert.equal(checked.stdout, "");
  const unchecked = await runCli(
    ["reveal", "--field", "ip", "--mask", planted, "--reason", "without the hash key"],
    { DATABASE_URL: env().DATABASE_URL, PII_VAULT_KEY: vaultKey },
  );
  assert.equal(unchecked.code, 0, unchecked.stderr);
  assert.match(unchecked.stderr, /shown unchecked/);
  await pool.query("DELETE FROM etl.pii_vault WHERE mask = decode($1, 'hex')", [planted]);

  // A sealed value copied onto another mask does not open there (additional data binds it).
  const other = h.mask("device_id", (data[6] as Login).device_id);
  await pool.query(
    `UPDATE etl.pii_vault SET sealed = (SELECT sealed FROM etl.pii_vault WHERE mask = decode($1, 'hex'))
      WHERE field = 'device_id' AND mask = decode($2, 'hex')`,
    [mask, other],
  );
  const moved = await runCli(
    ["reveal", "--field", "device_id", "--mask", other, "--reason", "tamper check"],
    env(),
  );
  assert.equal(moved.code, 1, moved.stderr);
  assert.match(moved.stderr, /does not open with its own key/);
  assert.equal(moved.stdout, "");

  const trail = await runCli(["reveal-audit", "--json"], { DATABASE_URL: env().DATABASE_URL });
  assert.equal(trail.code, 0, trail.stderr);
  const records = JSON.parse(trail.stdout) as { action: string; counts: { outcome: string } }[];
  assert.deepEqual(
    records.map((r) => r.counts.outcome),
    ["damaged", "revealed", "mismatch", "unknown", "other-key", "revealed", "revealed"],
    "every attempt that reached the vault is audited, newest first",
  );

  const status = await runCli(["status"], env());
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, /PII vault\s+on: vault key [0-9a-f]{16} since /);

  // A run without the vault key on a database that keeps one loads nothing.
  const queueLeft = await h.createQueue();
  await h.send(queueLeft.url, [
    body({ user_id: "late", ip: "10.1.1.1", device_id: "999-99-9999" }),
  ]);
  const without = await runCli(["run"], h.env(env().DATABASE_URL, queueLeft.name));
  assert.equal(without.code, 2, without.stderr);
  assert.match(without.stderr, /keeps a PII vault/);
  assert.deepEqual(await h.depth(queueLeft.url), { visible: 1, inFlight: 0 });

  const sameKey = await runCli(["run"], env({ PII_VAULT_KEY: h.key }));
  assert.equal(sameKey.code, 2, sameKey.stderr);
  assert.match(sameKey.stderr, /PII_VAULT_KEY is the same as PII_HASH_KEY/);

  // Nothing readable anywhere: every table, and every command's logs.
  const raw = data.flatMap((d) => [d.ip, d.device_id]);
  assertNoRaw(await dumpAllText(pool), raw, "the database");
  for (const result of [unknown, moved, trail, without]) {
    assertNoRaw(result.stdout + result.stderr, raw, "command output");
  }
  assertNoRaw(shown.stderr, raw, "reveal's log");
});

test("replay writes the vault entries of the rows it loads, once per value, in its transaction", async () => {
  const vaultKey = newKey();
  const data = logins(10, "rp");
  const { pool, env } = await setup(vaultKey, data);
  const before = await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM etl.pii_vault");
  // Three messages an older transform rejected: two share a device id no run has seen, one
  // brings an address already in the vault.
  const known = data[0] as Login;
  const replayed: Login[] = [
    { user_id: "rp-late-1", ip: "198.51.100.1", device_id: "777-77-7777" },
    { user_id: "rp-late-2", ip: "198.51.100.2", device_id: "777-77-7777" },
    { user_id: "rp-late-3", ip: known.ip, device_id: "888-88-8888" },
  ];
  for (const [i, login] of replayed.entries()) await plantRejected(pool, `m-replay-${i}`, login);
  const replay = await runCli(["replay", "--json"], env());
  assert.equal(replay.code, 0, replay.stderr);
  assert.equal(JSON.parse(replay.stdout).loaded, 3, replay.stdout);

  const added = await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM etl.pii_vault");
  // Two new addresses and two new device ids; the known address is not added again.
  assert.equal((added.rows[0]?.n ?? 0) - (before.rows[0]?.n ?? 0), 4);
  for (const [field, value] of [
    ["device_id", "777-77-7777"],
    ["ip", "198.51.100.2"],
    ["device_id", "888-88-8888"],
    ["ip", known.ip],
  ] as const) {
    const shown = await runCli(
      ["reveal", "--field", field, "--mask", h.mask(field, value), "--reason", "replay check"],
      env(),
    );
    assert.equal(shown.code, 0, shown.stderr);
    assert.equal(shown.stdout, `${value}\n`);
  }
});

test("a row the table drops (a trigger returning NULL) leaves no vault entry behind, in a run or a replay", async () => {
  const { pool, env, queue } = await setup(newKey(), logins(3, "tg"));
  await pool.query(`
    CREATE FUNCTION skip_test_users() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN IF NEW.user_id LIKE 'test-%' THEN RETURN NULL; END IF; RETURN NEW; END $$;
    CREATE TRIGGER skip_test_users BEFORE INSERT ON user_logins
      FOR EACH ROW EXECUTE FUNCTION skip_test_users()`);
  const kept: Login = { user_id: "tg-kept", ip: "198.51.100.7", device_id: "555-55-5555" };
  const dropped: Login = { user_id: "test-1", ip: "198.51.100.8", device_id: "666-66-6666" };
  await h.send(queue.url, [body(kept), body(dropped)]);
  const run = await runCli(["run"], env());
  assert.equal(run.code, 0, run.stderr);
  // Replay too: one rejected message the table keeps, one it drops.
  const keptLater: Login = { user_id: "tg-later", ip: "198.51.100.17", device_id: "575-55-5555" };
  const droppedLater: Login = { user_id: "test-2", ip: "198.51.100.18", device_id: "676-66-6666" };
  await plantRejected(pool, "m-tg-kept", keptLater);
  await plantRejected(pool, "m-tg-dropped", droppedLater);
  const replay = await runCli(["replay"], env());
  assert.equal(replay.code, 0, replay.stderr);
  const masks = await pool.query<{ field: string; mask: string }>(
    "SELECT field, encode(mask, 'hex') AS mask FROM etl.pii_vault",
  );
  const has = (field: "ip" | "device_id", value: string) =>
    masks.rows.some((m) => m.field === field && m.mask === h.mask(field, value));
  for (const [login, by] of [
    [kept, "run"],
    [keptLater, "replay"],
  ] as const) {
    assert.ok(
      has("ip", login.ip) && has("device_id", login.device_id),
      `${by}: kept row's entries`,
    );
  }
  for (const [login, by] of [
    [dropped, "run"],
    [droppedLater, "replay"],
  ] as const) {
    assert.ok(!has("ip", login.ip), `${by}: no entry for the dropped row's ip`);
    assert.ok(
      !has("device_id", login.device_id),
      `${by}: no entry for the dropped row's device id`,
    );
  }
});

test("a value first seen in a batch in a duplicate message still gets its entry from a later new one", async () => {
  const vaultKey = newKey();
  const { url, pool } = await setup(vaultKey, logins(2, "dp"));
  // A message whose row and entry were erased after it was loaded (its id stays in the ledger),
  // delivered again in one batch with a new message carrying the same values.
  await pool.query(
    "INSERT INTO etl.processed_messages (message_id, outcome) VALUES ('m-old', 'loaded')",
  );
  const login = { user_id: "dp-new", ip: "198.51.100.9", device_id: "999-99-9999" };
  const outcome = await withVaultSink(url, vaultKey, pino({ level: "silent" }), (sink) =>
    sink.write([
      sinkItem("m-old", { ...login, user_id: "dp-old" }),
      sinkItem("m-new", { ...login, user_id: "dp-new" }),
    ]),
  );
  assert.deepEqual(outcome, { inserted: 1, rejected: {}, duplicates: 1 });
  const entries = await pool.query<{ field: string }>(
    "SELECT field FROM etl.pii_vault WHERE encode(mask, 'hex') = ANY($1::text[]) ORDER BY field",
    [[h.mask("ip", login.ip), h.mask("device_id", login.device_id)]],
  );
  assert.deepEqual(
    entries.rows.map((r) => r.field),
    ["device_id", "ip"],
    "the new row's values are in the vault",
  );
});

test("forget erases exactly one user's rows and the vault entries no other row uses, audited, in one transaction", async () => {
  const shared = { ip: "192.0.2.1", device_id: "111-11-1111" };
  const data: Login[] = [
    { user_id: "leaver", ip: shared.ip, device_id: "222-22-2222" },
    { user_id: "leaver", ip: "192.0.2.2", device_id: "222-22-2222" },
    { user_id: "leaver", ip: "192.0.2.3", device_id: shared.device_id },
    { user_id: "stayer", ip: shared.ip, device_id: shared.device_id },
    { user_id: "stayer", ip: "192.0.2.9", device_id: "333-33-3333" },
  ];
  const vaultKey = newKey();
  const { pool, env, queue } = await setup(vaultKey, data);
  // Rejected messages of both users (an app_version that does not encode): sealed originals.
  const bad = (user: string) =>
    JSON.stringify({
      user: { id: user },
      ip: "192.0.2.77",
      device_id: "777-77-7777",
      app_version: "2.x",
    });
  await h.send(queue.url, [bad("leaver"), bad("stayer")]);
  assert.equal((await runCli(["run"], env())).code, 0);
  assert.equal((await pool.query("SELECT 1 FROM etl.rejected_messages")).rows.length, 2);
  const before = await pool.query(
    "SELECT * FROM user_logins WHERE user_id = 'stayer' ORDER BY masked_ip",
  );
  // A row another tool wrote, its "mask" not hex (the vault compares masks as bytes): erased
  // with the rest, not a reason for forget to fail.
  await pool.query(
    "INSERT INTO user_logins (user_id, masked_ip, masked_device_id) VALUES ('leaver', 'gAAAA-token', 'x')",
  );

  const forget = await runCli(
    ["forget", "--user-id", "leaver", "--reason", "GDPR request 118", "--actor", "dpo"],
    { DATABASE_URL: env().DATABASE_URL, PII_HASH_KEY: h.key },
  );
  assert.equal(forget.code, 0, forget.stderr);
  assert.match(
    forget.stdout,
    /erased 4 rows, 3 vault entries no other row uses and 1 rejected messages/,
  );
  const rejectedLeft = await pool.query<{ payload: string }>(
    "SELECT payload FROM etl.rejected_messages",
  );
  assert.equal(rejectedLeft.rows.length, 1);
  assert.match(
    rejectedLeft.rows[0]?.payload ?? "",
    /stayer/,
    "only the leaver's rejected message is gone",
  );
  assert.equal(
    (await pool.query("SELECT 1 FROM user_logins WHERE user_id = 'leaver'")).rows.length,
    0,
  );
  const after = await pool.query(
    "SELECT * FROM user_logins WHERE user_id = 'stayer' ORDER BY masked_ip",
  );
  assert.deepEqual(after.rows, before.rows, "the other user's rows are untouched");
  const left = await pool.query<{ field: string; mask: string }>(
    "SELECT field, encode(mask, 'hex') AS mask FROM etl.pii_vault ORDER BY field, mask",
  );
  const expected = [
    { field: "device_id", mask: h.mask("device_id", shared.device_id) },
    { field: "device_id", mask: h.mask("device_id", "333-33-3333") },
    { field: "ip", mask: h.mask("ip", shared.ip) },
    { field: "ip", mask: h.mask("ip", "192.0.2.9") },
  ].sort((a, b) => (a.field + a.mask).localeCompare(b.field + b.mask));
  assert.deepEqual(left.rows, expected, "only the entries the leaver alone used are gone");

  const gone = await runCli(
    [
      "reveal",
      "--field",
      "device_id",
      "--mask",
      h.mask("device_id", "222-22-2222"),
      "--reason",
      "after erasure",
    ],
    env(),
  );
  assert.equal(gone.code, 1, "an erased user's mask opens for nobody");
  const stillShared = await runCli(
    ["reveal", "--field", "ip", "--mask", h.mask("ip", shared.ip), "--reason", "the stayer's ip"],
    env(),
  );
  assert.equal(stillShared.stdout, `${shared.ip}\n`);

  const audit = await pool.query(
    "SELECT actor, reason, counts FROM etl.pii_audit WHERE action = 'forget'",
  );
  assert.deepEqual(audit.rows, [
    {
      actor: "dpo",
      reason: "GDPR request 118",
      counts: { rows: 4, vaultEntries: 3, rejectedMessages: 1, rejectedUnopened: 0 },
    },
  ]);
  assert.ok(!(await dumpAllText(pool)).includes("leaver"), "the erased user id is kept nowhere");

  const nobody = await runCli(["forget", "--user-id", "nobody", "--reason", "request 119"], {
    DATABASE_URL: env().DATABASE_URL,
  });
  assert.equal(nobody.code, 0, nobody.stderr);
  assert.match(nobody.stdout, /nothing erased/);
  assert.match(nobody.stdout, /rejected messages were not searched: set PII_HASH_KEY/);
  const noReason = await runCli(["forget", "--user-id", "stayer"], {
    DATABASE_URL: env().DATABASE_URL,
  });
  assert.equal(noReason.code, 2);
  assert.equal((await pool.query("SELECT 1 FROM user_logins")).rows.length, 2);
});

test("rotate-key --remask keeps the groups and the number of distinct masks, survives SIGKILL mid-way and finishes on rerun", async () => {
  const vaultKey = newKey();
  const data = logins(120, "rm");
  const { pool, env, queue } = await setup(vaultKey, data);
  const groupsBefore = await deviceGroups(pool);
  const distinctBefore = await pool.query(
    "SELECT count(DISTINCT masked_ip)::int AS ips, count(DISTINCT masked_device_id)::int AS devices FROM user_logins",
  );

  const rotated = newKey();
  const killed = await runCli(
    ["rotate-key", "--remask", "--batch-size", "5", "--reason", "yearly rotation"],
    { ...env({ PII_HASH_KEY: rotated, LOGIN_ETL_TEST_PAUSE_AT: "after_rotation_batch" }) },
    {
      nodeArgs: ["--import", FAULT_HOOKS],
      when: { pattern: /paused at after_rotation_batch/, act: (child) => child.kill("SIGKILL") },
    },
  );
  assert.equal(killed.signal, "SIGKILL", killed.stderr);
  const mid = await pool.query<{ hash_key: string; n: number }>(
    "SELECT hash_key, count(*)::int AS n FROM etl.pii_vault GROUP BY hash_key ORDER BY n",
  );
  assert.equal(mid.rows.length, 2, "killed half way: entries under both keys");
  assert.equal(mid.rows[0]?.n, 5, "one batch committed");

  // Runs keep loading meanwhile: the new key runs (the epoch changed), the old one does not.
  const more = logins(30, "rm");
  await h.send(queue.url, more.map(body));
  const old = await runCli(["run"], env());
  assert.equal(old.code, 2, old.stderr);
  const fresh = await runCli(["run"], env({ PII_HASH_KEY: rotated }));
  assert.equal(fresh.code, 0, fresh.stderr);

  // The spelling, `etl key rotate`, is the same command.
  const rerun = await runCli(
    ["key", "rotate", "--remask", "--batch-size", "5", "--reason", "yearly rotation"],
    env({ PII_HASH_KEY: rotated }),
  );
  assert.equal(rerun.code, 0, rerun.stderr);
  assert.match(rerun.stdout, /already the current one/);
  assert.match(rerun.stdout, /every row's masks are the current key's/);

  // Every mask is now the new key's, computed independently; the groups are the same.
  const all = [...data, ...more];
  const rows = await pool.query<{ user_id: string; masked_ip: string; masked_device_id: string }>(
    "SELECT user_id, masked_ip, masked_device_id FROM user_logins",
  );
  assert.equal(rows.rows.length, all.length);
  const newIps = new Set(all.map((d) => maskWith(rotated, "ip", d.ip)));
  const newDevices = new Set(all.map((d) => maskWith(rotated, "device_id", d.device_id)));
  for (const r of rows.rows) {
    assert.ok(newIps.has(r.masked_ip), "every ip mask is the new key's");
    assert.ok(newDevices.has(r.masked_device_id), "every device mask is the new key's");
  }
  const distinctAfter = await pool.query(
    "SELECT count(DISTINCT masked_ip)::int AS ips, count(DISTINCT masked_device_id)::int AS devices FROM user_logins",
  );
  assert.deepEqual(distinctAfter.rows, distinctBefore.rows, "the new rows used known values only");
  const groupsAfter = await deviceGroups(pool);
  assert.equal(groupsAfter.length, groupsBefore.length);
  const originalDates = await pool.query<{ d: string }>(
    "SELECT DISTINCT create_date::text AS d FROM user_logins",
  );
  assert.equal(originalDates.rows.length, 1, "one day: the groups compare by user");
  const byUsers = (groups: string[]) =>
    groups.map((g) => [...new Set(g.split(",").map((x) => x.split("/")[0]))].join(",")).sort();
  assert.deepEqual(
    byUsers(groupsAfter),
    byUsers(groupsBefore),
    "GROUP BY masked_device_id: same groups",
  );
  const vaultKeys = await pool.query("SELECT DISTINCT hash_key FROM etl.pii_vault");
  assert.equal(vaultKeys.rows.length, 1);

  const reveal = await runCli(
    [
      "reveal",
      "--field",
      "device_id",
      "--mask",
      maskWith(rotated, "device_id", (data[0] as Login).device_id),
      "--reason",
      "after re-mask",
    ],
    env(),
  );
  assert.equal(reveal.stdout, `${(data[0] as Login).device_id}\n`);
  const audit = await pool.query<{ counts: { finished: boolean; entries: number } }>(
    "SELECT counts FROM etl.pii_audit WHERE action = 'remask' ORDER BY audit_id",
  );
  assert.deepEqual(
    audit.rows.map((r) => r.counts.finished),
    [false, true],
    "the killed re-mask is audited with what it did, the rerun as finished",
  );
  assert.equal(audit.rows[0]?.counts.entries, 5);
  assertNoRaw(
    await dumpAllText(pool),
    all.flatMap((d) => [d.ip, d.device_id]),
    "the database",
  );
});

test("rotate-vault-key seals the vault again in batches, survives SIGKILL, and then only the new key reveals", async () => {
  const oldKey = newKey();
  const data = logins(60, "vk");
  const { pool, env } = await setup(oldKey, data);
  const total = (await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM etl.pii_vault"))
    .rows[0]?.n;
  const rotated = newKey();
  const rotateEnv = env({ PII_VAULT_KEY: rotated, PII_VAULT_KEY_PREVIOUS: oldKey });

  const noPrevious = await runCli(
    ["rotate-vault-key", "--reason", "x"],
    env({ PII_VAULT_KEY: rotated }),
  );
  assert.equal(noPrevious.code, 2, noPrevious.stderr);
  assert.match(noPrevious.stderr, /PII_VAULT_KEY_PREVIOUS/);

  const killed = await runCli(
    ["rotate-vault-key", "--batch-size", "7", "--reason", "custodian left"],
    { ...rotateEnv, LOGIN_ETL_TEST_PAUSE_AT: "after_rotation_batch" },
    {
      nodeArgs: ["--import", FAULT_HOOKS],
      when: { pattern: /paused at after_rotation_batch/, act: (child) => child.kill("SIGKILL") },
    },
  );
  assert.equal(killed.signal, "SIGKILL", killed.stderr);
  const mid = await pool.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM etl.pii_vault GROUP BY vault_key ORDER BY n",
  );
  assert.deepEqual(
    mid.rows.map((r) => r.n),
    [7, (total ?? 0) - 7],
  );

  // Half way: a run with the old key is refused, and so is a re-mask that could not open every
  // entry, before it changes anything.
  const oldRun = await runCli(["run"], env());
  assert.equal(oldRun.code, 2, oldRun.stderr);
  const remask = await runCli(
    ["rotate-key", "--remask", "--reason", "too early"],
    env({ PII_VAULT_KEY: rotated, PII_HASH_KEY: newKey() }),
  );
  assert.equal(remask.code, 2, remask.stderr);
  assert.match(
    remask.stderr,
    /a vault key rotation not finished\?\). Finish `etl rotate-vault-key` first/,
  );
  const epochs = await pool.query("SELECT 1 FROM etl.key_epochs");
  assert.equal(epochs.rows.length, 1, "no new hash epoch was recorded");
  const rerun = await runCli(
    ["rotate-vault-key", "--batch-size", "7", "--reason", "custodian left"],
    rotateEnv,
  );
  assert.equal(rerun.code, 0, rerun.stderr);
  assert.match(rerun.stdout, /already the current one/);
  const sealedUnder = await pool.query("SELECT DISTINCT vault_key FROM etl.pii_vault");
  assert.equal(sealedUnder.rows.length, 1);

  const target = data[3] as Login;
  const mask = h.mask("ip", target.ip);
  const withNew = await runCli(
    ["reveal", "--field", "ip", "--mask", mask, "--reason", "r"],
    env({ PII_VAULT_KEY: rotated }),
  );
  assert.equal(withNew.stdout, `${target.ip}\n`, withNew.stderr);
  const withOld = await runCli(["reveal", "--field", "ip", "--mask", mask, "--reason", "r"], env());
  assert.equal(withOld.code, 2, "the old key opens nothing any more");
  const audit = await pool.query<{ counts: { finished: boolean; entries: number } }>(
    "SELECT counts FROM etl.pii_audit WHERE action = 'rotate-vault-key' ORDER BY audit_id",
  );
  assert.deepEqual(
    audit.rows.map((r) => [r.counts.finished, r.counts.entries]),
    [
      [false, 7],
      [true, (total ?? 0) - 7],
    ],
  );
});

test("without a vault, rotate-key --remask is refused and a plain rotation says masks do not compare", async () => {
  const { url } = await h.freshDatabase();
  const queue = await h.createQueue();
  await h.send(queue.url, [body({ user_id: "u", ip: "10.0.0.1", device_id: "123-45-6789" })]);
  assert.equal((await runCli(["run"], h.env(url, queue.name))).code, 0);
  const remask = await runCli(
    ["rotate-key", "--remask", "--reason", "x"],
    h.env(url, queue.name, { PII_HASH_KEY: newKey() }),
  );
  assert.equal(remask.code, 2, remask.stderr);
  assert.match(remask.stderr, /--remask needs the PII vault \(PII_VAULT_KEY\)/);
  const plain = await runCli(
    ["rotate-key", "--reason", "x"],
    h.env(url, queue.name, { PII_HASH_KEY: newKey() }),
  );
  assert.equal(plain.code, 0, plain.stderr);
  assert.match(plain.stdout, /do not compare/);
});

test("a run still going with the old key stops at its next batch once the key is rotated; nothing loads under the old key after", async () => {
  const vaultKey = newKey();
  const first = logins(20, "live");
  const { pool, env, queue } = await setup(vaultKey, first);
  const later = logins(60, "live").slice(20);
  await h.send(queue.url, later.map(body));

  let committed: () => void = () => {};
  const firstCommit = new Promise<void>((resolve) => {
    committed = resolve;
  });
  const running = runCli(
    ["run"],
    env({
      ETL_BATCH_SIZE: "5",
      ETL_CONCURRENCY: "1",
      ETL_VISIBILITY_TIMEOUT: "5",
      LOGIN_ETL_TEST_SLOW_MS: "400",
    }),
    {
      nodeArgs: ["--import", FAULT_HOOKS],
      when: { pattern: /reached after_commit/, act: () => committed() },
    },
  );
  await firstCommit;
  const rotated = newKey();
  const rotate = await runCli(
    ["rotate-key", "--remask", "--reason", "rotated under load"],
    env({ PII_HASH_KEY: rotated }),
  );
  assert.equal(rotate.code, 0, rotate.stderr);
  const old = await running;
  assert.equal(old.code, 2, old.stderr);
  assert.match(old.stderr, /rotated while this process was running/);

  // What it received and did not commit returns after its visibility timeout (5 s).
  await new Promise((resolve) => setTimeout(resolve, 6_000));
  const rest = await runCli(["run"], env({ PII_HASH_KEY: rotated }));
  assert.equal(rest.code, 0, rest.stderr);
  const rows = await pool.query<{ masked_ip: string; masked_device_id: string }>(
    "SELECT masked_ip, masked_device_id FROM user_logins",
  );
  const all = [...first, ...later];
  assert.equal(rows.rows.length, all.length, "every message loaded exactly once");
  const newDevices = new Set(all.map((d) => maskWith(rotated, "device_id", d.device_id)));
  const newIps = new Set(all.map((d) => maskWith(rotated, "ip", d.ip)));
  for (const r of rows.rows) {
    assert.ok(newDevices.has(r.masked_device_id) && newIps.has(r.masked_ip), "no old mask is left");
  }
});

test("a vault made before migration 004 (hex masks) is converted in place and still reveals; a mask that is not hex stops the migration", async () => {
  const vaultKey = newKey();
  const target: Login = { user_id: "mig-1", ip: "198.51.100.44", device_id: "444-44-4444" };
  const { url, pool, env } = await setup(vaultKey, [target]);
  // Back to migration 003's form: masks as hex text, keyed (field, mask).
  const toVersion3 = `
    ALTER TABLE etl.pii_vault DROP CONSTRAINT pii_vault_pkey, DROP CONSTRAINT pii_vault_mask_bytes;
    ALTER TABLE etl.pii_vault ALTER COLUMN mask TYPE text COLLATE "C" USING encode(mask, 'hex');
    ALTER TABLE etl.pii_vault ADD CONSTRAINT pii_vault_pkey PRIMARY KEY (field, mask);
    DELETE FROM etl.schema_migrations WHERE version = 4;`;
  await pool.query(toVersion3);
  const initDb = () => runCli(["init-db"], { DATABASE_URL: url, ETL_STARTUP_WAIT: "2" });
  const upgraded = await initDb();
  assert.equal(upgraded.code, 0, upgraded.stderr);
  const types = await pool.query<{ type: string }>(
    "SELECT pg_typeof(mask)::text AS type FROM etl.pii_vault LIMIT 1",
  );
  assert.deepEqual(types.rows, [{ type: "bytea" }]);
  const mask = h.mask("ip", target.ip);
  const shown = await runCli(
    ["reveal", "--field", "ip", "--mask", mask, "--reason", "after the migration"],
    env(),
  );
  assert.equal(shown.code, 0, shown.stderr);
  assert.equal(shown.stdout.trim(), target.ip);

  // An entry no run could have made: the migration stops on it, and changes nothing.
  await pool.query(toVersion3);
  // Upper case or whitespace too: decode() would accept them and make the entry the key of the
  // real lower-case masks, its sealed value bound to the other text.
  for (const planted of ["'not-a-mask'", "upper(mask)", "' ' || mask || E'\\n'"]) {
    await pool.query(
      `INSERT INTO etl.pii_vault (field, mask, hash_key, vault_key, sealed)
       SELECT 'device_id', ${planted}, hash_key, vault_key, sealed
         FROM etl.pii_vault WHERE field = 'ip'`,
    );
    const refused = await initDb();
    assert.notEqual(refused.code, 0, planted);
    assert.match(refused.stderr, /holds a mask that is not 64 lowercase hex digits/, planted);
    const version = await pool.query<{ v: number }>(
      "SELECT max(version)::int AS v FROM etl.schema_migrations",
    );
    assert.deepEqual(version.rows, [{ v: 3 }], "nothing of migration 004 was kept");
    await pool.query(
      "DELETE FROM etl.pii_vault WHERE field = 'device_id' AND mask !~ '^[0-9a-f]{64}$'",
    );
  }
});

test("two batches proposing the same new values in opposite orders do not deadlock", async () => {
  // Each vault insert sleeps first, so both statements are half way when they meet: in the order
  // the rows came, one would hold a's entry and wait for b's while the other holds b's and waits
  // for a's, a deadlock Postgres breaks after 1 s by failing one batch (retried, logged).
  const vaultKey = newKey();
  const { url, pool } = await setup(vaultKey, logins(1, "dl"));
  await pool.query(`
    CREATE FUNCTION slow_vault() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN PERFORM pg_sleep(0.2); RETURN NEW; END $$;
    CREATE TRIGGER slow_vault BEFORE INSERT ON etl.pii_vault
      FOR EACH ROW EXECUTE FUNCTION slow_vault()`);
  const pair: Login[] = [
    { user_id: "dl-a", ip: "198.51.100.21", device_id: "121-21-2121" },
    { user_id: "dl-b", ip: "198.51.100.22", device_id: "122-22-2222" },
  ];
  const items = (prefix: string, order: Login[]) =>
    order.map((login, i) => sinkItem(`${prefix}-${i}`, login));
  const warnings: string[] = [];
  const logger = pino({ level: "warn" }, { write: (line: string) => warnings.push(line) });
  const outcomes = await withVaultSink(url, vaultKey, logger, (sink) =>
    Promise.all([
      sink.write(items("forward", pair)),
      sink.write(items("reverse", [...pair].reverse())),
    ]),
  );
  assert.deepEqual(
    outcomes.map((o) => o.inserted),
    [2, 2],
  );
  assert.deepEqual(warnings, [], "no batch was retried");
  const entries = await pool.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM etl.pii_vault WHERE encode(mask, 'hex') = ANY($1::text[])",
    [pair.flatMap((l) => [h.mask("ip", l.ip), h.mask("device_id", l.device_id)])],
  );
  assert.equal(entries.rows[0]?.n, 4, "each value once");
});
