// Versioned migrations and least privilege: after `etl init-db` by the owner, a run executes no
// DDL and takes no lock that waits behind another run's open batch, and the whole pipeline works
// under a role granted exactly what the README lists.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { after, before, test } from "node:test";
import pg from "pg";
import { userLoginsDdl } from "../../src/login-columns.js";
import { MIGRATIONS } from "../../src/sink/migrations/index.js";
import { describeMigration, SCHEMA_LOCK_ID } from "../../src/sink/schema.js";
import { Harness, runCli } from "../support/harness.js";

let h: Harness;
before(async () => {
  h = await Harness.start();
});
after(async () => {
  await h?.stop();
});

const VALID = JSON.stringify({
  user_id: "u-schema",
  app_version: "2.3.0",
  device_type: "ios",
  ip: "203.0.113.7",
  locale: "RU",
  device_id: "123-45-6789",
});

async function initDb(url: string): Promise<void> {
  const r = await runCli(["init-db"], { DATABASE_URL: url, ETL_STARTUP_WAIT: "2" });
  assert.equal(r.code, 0, r.stderr);
}

test("init-db records each migration once; a second init-db applies nothing", async () => {
  const { url, pool } = await h.freshDatabase();
  const first = await runCli(["init-db"], { DATABASE_URL: url, ETL_STARTUP_WAIT: "2" });
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /^applied 001 initial/);
  const second = await runCli(["init-db"], { DATABASE_URL: url, ETL_STARTUP_WAIT: "2" });
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stdout, /schema is current; no migration to apply/);
  const recorded = await pool.query("SELECT version, name FROM etl.schema_migrations");
  assert.deepEqual(
    recorded.rows,
    MIGRATIONS.map((m) => ({ version: m.version, name: m.name })),
  );
});

test("init-db checks user_logins against the declared columns", async () => {
  const { url, pool } = await h.freshDatabase();
  await initDb(url);
  await pool.query("ALTER TABLE user_logins DROP COLUMN locale");
  await pool.query("ALTER TABLE user_logins ALTER COLUMN app_version TYPE bigint");
  const r = await runCli(["init-db"], { DATABASE_URL: url, ETL_STARTUP_WAIT: "2" });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /column locale \(varchar\(32\)\) is missing/);
  assert.match(r.stderr, /column app_version is bigint, not integer/);
});

test("a run on a current schema executes no DDL at all", async () => {
  const { url, pool } = await h.freshDatabase();
  await initDb(url);
  // Any DDL from now on in this database fails its statement, and so the run.
  await pool.query(`
    CREATE FUNCTION forbid_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'DDL during a run: %', tg_tag; END $$;
    CREATE EVENT TRIGGER no_ddl ON ddl_command_start EXECUTE FUNCTION forbid_ddl();`);
  const queue = await h.createQueue();
  await h.send(queue.url, [VALID, "not json"]);
  const run = await runCli(["run"], h.env(url, queue.name));
  assert.equal(run.code, 0, run.stderr);
  const rows = await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM user_logins");
  assert.equal(rows.rows[0]?.n, 1);
  // The trigger is live: the same DDL the schema would run is refused.
  await assert.rejects(
    pool.query("CREATE INDEX IF NOT EXISTS x ON etl.processed_messages (processed_at)"),
    /DDL during a run/,
  );
  await pool.query("DROP EVENT TRIGGER no_ddl");
});

test("a run starting while another run's batch is blocked finishes at once", async () => {
  const { url, pool } = await h.freshDatabase();
  await initDb(url);
  // Run A's batch transaction blocks inside a trigger until this test releases lock 4242, while
  // holding its row locks on user_logins and the ledger.
  await pool.query(`
    CREATE FUNCTION wait_for_test() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN PERFORM pg_advisory_lock_shared(4242); PERFORM pg_advisory_unlock_shared(4242);
          RETURN NEW; END $$;
    CREATE TRIGGER slow BEFORE INSERT ON user_logins FOR EACH ROW EXECUTE FUNCTION wait_for_test();`);
  const gate = new pg.Client({ connectionString: url });
  await gate.connect();
  try {
    await gate.query("SELECT pg_advisory_lock(4242)");
    const busy = await h.createQueue();
    await h.send(busy.url, [VALID]);
    let aDone = false;
    const a = runCli(["run"], h.env(url, busy.name)).finally(() => {
      aDone = true;
    });
    // Until A's backend is waiting on the advisory lock inside its batch.
    for (let i = 0; ; i++) {
      const waiting = await pool.query(
        `SELECT 1 FROM pg_stat_activity
          WHERE datname = current_database() AND application_name = 'login-etl'
            AND wait_event_type = 'Lock' AND wait_event = 'advisory'`,
      );
      if (waiting.rowCount) break;
      assert.ok(i < 300, "run A never reached its batch");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const empty = await h.createQueue();
    const b = await runCli(["run"], h.env(url, empty.name), { timeoutMs: 30_000 });
    assert.equal(b.code, 0, b.stderr);
    assert.equal(aDone, false, "run B finished while run A's batch was still open");
    await gate.query("SELECT pg_advisory_unlock(4242)");
    const resultA = await a;
    assert.equal(resultA.code, 0, resultA.stderr);
  } finally {
    await gate.end();
  }
  const rows = await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM user_logins");
  assert.equal(rows.rows[0]?.n, 1);
});

/** The GRANT statements of the README's least-privilege block, for this database and role. */
function readmeGrants(database: string, role: string): string[] {
  const readme = readFileSync(new URL("../../../README.md", import.meta.url), "utf8");
  const block = /```sql\n(-- login-etl grants:[^\n]*\n[\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(block, "README has the login-etl grants block");
  const statements = block
    .split("\n")
    .filter((line) => line.startsWith("GRANT "))
    .map((line) =>
      line.replaceAll("etl_runner", role).replace("DATABASE logins", `DATABASE ${database}`),
    );
  assert.ok(statements.length >= 5, "the block lists the grants");
  return statements;
}

let roles = 0;
/** A login role with nothing granted yet, and its connection URL to the database. */
async function createRole(pool: pg.Pool, url: string): Promise<{ role: string; url: string }> {
  const role = `etl_runner_${process.pid}_${++roles}`;
  const password = `pw-${Math.random().toString(36).slice(2)}`;
  await pool.query(`CREATE ROLE ${role} LOGIN PASSWORD '${password}'`);
  const u = new URL(url);
  u.username = role;
  u.password = password;
  return { role, url: u.href };
}

test("the whole pipeline runs under a role granted exactly what the README lists", async () => {
  const { url, pool } = await h.freshDatabase();
  await initDb(url);
  const database = new URL(url).pathname.slice(1);
  const runner = await createRole(pool, url);
  await pool.query(`REVOKE ALL ON DATABASE ${database} FROM PUBLIC`);
  for (const grant of readmeGrants(database, runner.role)) await pool.query(grant);

  const queue = await h.createQueue();
  await h.send(queue.url, [VALID, VALID.replace('"2.3.0"', '"2.x"'), "not json"]);
  const env = h.env(runner.url, queue.name);
  const run = await runCli(["run"], env);
  assert.equal(run.code, 0, run.stderr);
  const rows = await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM user_logins");
  assert.equal(rows.rows[0]?.n, 1);

  const status = await runCli(["status", "--json"], env);
  assert.equal(status.code, 0, status.stderr);
  const s = JSON.parse(status.stdout);
  assert.equal(s.database.ok, true, status.stdout);
  assert.deepEqual(s.database.value.schema, {
    version: MIGRATIONS.length,
    pending: [],
    unknown: [],
  });
  assert.equal(s.database.value.lastRun.summary.received, 3);

  const rejected = await runCli(["rejected", "--json"], env);
  assert.equal(rejected.code, 0, rejected.stderr);
  assert.equal(JSON.parse(rejected.stdout).messages.length, 2);

  const replay = await runCli(["replay"], env);
  assert.equal(replay.code, 0, replay.stderr);
  assert.match(replay.stdout, /examined\s+2/);

  const prune = await runCli(["prune", "--older-than", "30d"], env);
  assert.equal(prune.code, 0, prune.stderr);
  assert.match(prune.stdout, /deleted 0 ledger row/);

  // With the PII vault: the first use records the vault key, a value seen again takes the
  // ON CONFLICT path; the role adds entries but cannot read a sealed value back.
  const vaultEnv = { ...env, PII_VAULT_KEY: randomBytes(32).toString("hex") };
  for (const user of ["vault-1", "vault-2"]) {
    await h.send(queue.url, [VALID.replace(/"user_id":"[^"]*"/, `"user_id":"${user}"`)]);
    const vaultRun = await runCli(["run"], vaultEnv);
    assert.equal(vaultRun.code, 0, vaultRun.stderr);
  }
  const vaulted = await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM etl.pii_vault");
  assert.equal(vaulted.rows[0]?.n, 2, "one ip and one device id");

  // Nothing beyond the grants: the role cannot create, alter or drop.
  const asRunner = new pg.Client({ connectionString: runner.url });
  await asRunner.connect();
  try {
    await assert.rejects(asRunner.query("SELECT sealed FROM etl.pii_vault"), { code: "42501" });
    await assert.rejects(asRunner.query("SELECT * FROM etl.pii_audit"), { code: "42501" });
    await assert.rejects(asRunner.query("CREATE TABLE public.x (a int)"), { code: "42501" });
    await assert.rejects(asRunner.query("DROP TABLE etl.runs"), { code: "42501" });
  } finally {
    await asRunner.end();
  }
});

test("a role that may not create the missing schema is told to run init-db as the owner (exit 2)", async () => {
  const { url, pool } = await h.freshDatabase();
  const database = new URL(url).pathname.slice(1);
  const runner = await createRole(pool, url);
  await pool.query(`REVOKE ALL ON DATABASE ${database} FROM PUBLIC`);
  await pool.query(`GRANT CONNECT ON DATABASE ${database} TO ${runner.role}`);
  const queue = await h.createQueue();
  await h.send(queue.url, [VALID]);
  const run = await runCli(["run"], h.env(runner.url, queue.name));
  assert.equal(run.code, 2, run.stderr);
  assert.match(run.stderr, /needs schema migration 001 initial/);
  assert.match(run.stderr, /run `etl init-db` as the owner/);
  assert.deepEqual(await h.depth(queue.url), { visible: 1, inFlight: 0 }, "nothing received");
});

test("a database made before migrations were numbered is adopted with its rows", async () => {
  const { url, pool } = await h.freshDatabase();
  const [initial] = MIGRATIONS;
  assert.ok(initial);
  await pool.query(`CREATE SCHEMA etl; ${initial.sql}`);
  await pool.query("INSERT INTO user_logins (user_id) VALUES ('from-before')");
  const queue = await h.createQueue();
  const run = await runCli(["run"], h.env(url, queue.name));
  assert.equal(run.code, 0, run.stderr);
  const rows = await pool.query("SELECT user_id FROM user_logins");
  assert.deepEqual(rows.rows, [{ user_id: "from-before" }]);
  const versions = await pool.query("SELECT version FROM etl.schema_migrations");
  assert.deepEqual(
    versions.rows,
    MIGRATIONS.map((m) => ({ version: m.version })),
  );
});

test("a schema migrated by a newer login-etl is refused (exit 2), not written to", async () => {
  const { url, pool } = await h.freshDatabase();
  await initDb(url);
  await pool.query("INSERT INTO etl.schema_migrations (version, name) VALUES (999, 'future')");
  const queue = await h.createQueue();
  await h.send(queue.url, [VALID]);
  const run = await runCli(["run"], h.env(url, queue.name));
  assert.equal(run.code, 2, run.stderr);
  assert.match(run.stderr, /records version\(s\) 999, which this login-etl does not know/);
  assert.deepEqual(await h.depth(queue.url), { visible: 1, inFlight: 0 });
});

/** A role with exactly the README's grants on an initialised database. */
async function readmeRole(pool: pg.Pool, url: string) {
  const database = new URL(url).pathname.slice(1);
  const runner = await createRole(pool, url);
  await pool.query(`REVOKE ALL ON DATABASE ${database} FROM PUBLIC`);
  for (const grant of readmeGrants(database, runner.role)) await pool.query(grant);
  return runner;
}

test("a run that waited for another process's migration finds it applied and runs (no DDL, exit 0)", async () => {
  const { url, pool } = await h.freshDatabase();
  await initDb(url);
  const runner = await readmeRole(pool, url);
  // Migration 001 goes missing, and the owner's init-db is applying it (holding the lock) when
  // the restricted run starts: the run must wait, read again, and find nothing left to do.
  await pool.query("DELETE FROM etl.schema_migrations");
  const owner = new pg.Client({ connectionString: url });
  await owner.connect();
  try {
    await owner.query("BEGIN");
    await owner.query("SELECT pg_advisory_xact_lock($1)", [SCHEMA_LOCK_ID]);
    for (const m of MIGRATIONS) {
      await owner.query("INSERT INTO etl.schema_migrations (version, name) VALUES ($1, $2)", [
        m.version,
        m.name,
      ]);
    }
    const queue = await h.createQueue();
    await h.send(queue.url, [VALID]);
    const running = runCli(["run"], h.env(runner.url, queue.name));
    await waitForLockWaiter(pool);
    await owner.query("COMMIT");
    const run = await running;
    assert.equal(run.code, 0, run.stderr);
  } finally {
    await owner.end();
  }
  const rows = await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM user_logins");
  assert.equal(rows.rows[0]?.n, 1);
});

/** Until some backend waits for an advisory lock. */
async function waitForLockWaiter(pool: pg.Pool): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const r = await pool.query(
      "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted",
    );
    if (r.rows.length > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error("no process waited for the schema lock");
}

test("init-db on a current schema executes no DDL, so the restricted role may run it too", async () => {
  const { url, pool } = await h.freshDatabase();
  await initDb(url);
  const runner = await readmeRole(pool, url);
  const r = await runCli(["init-db"], { DATABASE_URL: runner.url, ETL_STARTUP_WAIT: "2" });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /schema is current; no migration to apply/);
});

test("an owner role named etl: user_logins is public.user_logins, never a new etl.user_logins", async () => {
  const { url, pool } = await h.freshDatabase();
  const database = new URL(url).pathname.slice(1);
  // "$user" comes first on the default search_path: for a role named etl that is schema etl.
  const role = `etl`;
  await pool.query(
    `DO $$ BEGIN CREATE ROLE ${role} LOGIN PASSWORD 'etl-pw'; EXCEPTION WHEN duplicate_object THEN NULL; END $$`,
  );
  await pool.query(`ALTER DATABASE ${database} OWNER TO ${role}`);
  await pool.query(`GRANT CREATE ON SCHEMA public TO ${role}`);
  const u = new URL(url);
  u.username = role;
  u.password = "etl-pw";
  const asEtl = new pg.Client({ connectionString: u.href });
  await asEtl.connect();
  try {
    // The analysts created their table first, as the README's compose set-up does.
    await asEtl.query(userLoginsDdl());
    await asEtl.query("INSERT INTO user_logins (user_id) VALUES ('analyst-row')");
  } finally {
    await asEtl.end();
  }
  await initDb(u.href);
  const queue = await h.createQueue();
  await h.send(queue.url, [VALID]);
  const run = await runCli(["run"], h.env(u.href, queue.name));
  assert.equal(run.code, 0, run.stderr);
  const tables = await pool.query<{ name: string }>(
    "SELECT table_schema || '.' || table_name AS name FROM information_schema.tables WHERE table_name = 'user_logins'",
  );
  assert.deepEqual(
    tables.rows.map((t) => t.name),
    ["public.user_logins"],
  );
  const rows = await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM public.user_logins");
  assert.equal(rows.rows[0]?.n, 2);
});

test("dry runs and `etl rejected` change nothing, not even the schema (exit 2 naming init-db); a wrong queue name leaves the database as it was", async () => {
  const { url, pool } = await h.freshDatabase();
  const queue = await h.createQueue();
  await h.send(queue.url, [VALID]);
  const dry = await runCli(["run", "--dry-run"], h.env(url, queue.name));
  assert.equal(dry.code, 0, dry.stderr);
  const wrongQueue = await runCli(["run"], h.env(url, `${queue.name}-nope`));
  assert.equal(wrongQueue.code, 2, wrongQueue.stderr);
  for (const args of [
    ["replay", "--dry-run"],
    ["prune", "--older-than", "30d", "--dry-run"],
    ["rejected"],
    ["rejected", "--json"],
  ]) {
    const r = await runCli(args, h.env(url, queue.name));
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.ok(
      r.stderr.includes(`lacks schema migration ${MIGRATIONS.map(describeMigration).join(", ")} `),
      r.stderr,
    );
    assert.match(r.stderr, /run `etl init-db`/);
  }
  const schemas = await pool.query("SELECT 1 FROM pg_namespace WHERE nspname = 'etl'");
  assert.equal(schemas.rows.length, 0, "no schema was created");
});
