// Fault injection: the process killed at every stage, Postgres restarted mid-run, SQS failing or
// throttling, partial deletes, visibility expiring under a lock, overlapping runs, signals. After
// each fault a rerun must leave every valid message in user_logins exactly once, every bad one
// rejected exactly once, and the queue empty.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type pg from "pg";
import type { Checkpoint } from "../../src/test-hooks.js";
import { startFaultProxy } from "../support/fault-proxy.js";
import { FAULT_HOOKS, Harness, runCli, summaryOf } from "../support/harness.js";
import { startSilentAfterCommit } from "../support/tcp-proxy.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let h: Harness;
before(async () => {
  h = await Harness.start();
});
after(async () => {
  await h?.stop();
});

/** Messages with unique user ids (so a duplicate row is visible), every 20th of the wrong shape. */
function corpus(n: number, prefix: string) {
  const bodies: string[] = [];
  const valid: string[] = [];
  for (let i = 0; i < n; i++) {
    if (i % 20 === 19) {
      bodies.push(JSON.stringify({ foo: "oops_wrong_msg_type", bar: `${prefix}-${i}` }));
    } else {
      const userId = `${prefix}-${i}`;
      valid.push(userId);
      bodies.push(
        JSON.stringify({
          user_id: userId,
          app_version: "2.3.0",
          device_type: i % 2 ? "ios" : "android",
          ip: `10.${i % 250}.${(i * 7) % 250}.${(i * 13) % 250}`,
          locale: i % 3 ? "RU" : null,
          device_id: `${String(i % 1000).padStart(3, "0")}-12-3456`,
        }),
      );
    }
  }
  return { bodies, valid, invalid: n - valid.length };
}

async function setup(n: number, prefix: string) {
  const db = await h.freshDatabase();
  const queue = await h.createQueue();
  const data = corpus(n, prefix);
  await h.send(queue.url, data.bodies);
  return { ...db, queue, ...data };
}

/** The invariant every fault test ends with. */
async function assertExactlyOnce(
  pool: pg.Pool,
  queueUrl: string,
  data: { valid: string[]; invalid: number; bodies: string[] },
) {
  const rows = await pool.query<{ user_id: string; n: number }>(
    "SELECT user_id, count(*)::int AS n FROM user_logins GROUP BY user_id",
  );
  const twice = rows.rows.filter((r) => r.n > 1).map((r) => r.user_id);
  assert.deepEqual(twice, [], "no message became two rows");
  assert.deepEqual(rows.rows.map((r) => r.user_id).sort(), [...data.valid].sort(), "none lost");
  const rejected = await pool.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM etl.rejected_messages",
  );
  assert.equal(rejected.rows[0]?.n, data.invalid, "every bad message rejected once");
  const ledger = await pool.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM etl.processed_messages",
  );
  assert.equal(ledger.rows[0]?.n, data.bodies.length);
  assert.deepEqual(await h.depth(queueUrl), { visible: 0, inFlight: 0 }, "the queue is empty");
}

async function rerun(url: string, queueName: string) {
  const result = await runCli(["run"], h.env(url, queueName));
  assert.equal(result.code, 0, result.stderr);
  return result;
}

describe("killed with SIGKILL at each stage, then rerun", () => {
  const stages: Checkpoint[] = ["after_receive", "mid_transaction", "after_commit", "mid_delete"];
  for (const stage of stages) {
    test(stage, async () => {
      const s = await setup(60, stage);
      const killed = await runCli(
        ["run", "--visibility-timeout", "2", "--batch-size", "30", "--concurrency", "1"],
        { ...h.env(s.url, s.queue.name), LOGIN_ETL_TEST_PAUSE_AT: stage },
        {
          nodeArgs: ["--import", FAULT_HOOKS],
          when: { pattern: /paused at /, act: (child) => child.kill("SIGKILL") },
        },
      );
      assert.equal(killed.signal, "SIGKILL", killed.stderr);
      assert.match(killed.stderr, new RegExp(`paused at ${stage}`));

      const committed = await s.pool
        .query<{ n: number }>("SELECT count(*)::int AS n FROM user_logins")
        .then(
          (r) => r.rows[0]?.n ?? 0,
          () => 0,
        ); // before a commit the tables may not exist
      if (stage === "after_receive" || stage === "mid_transaction") assert.equal(committed, 0);
      else assert.ok(committed > 0, "the killed run had committed a batch");

      await sleep(2_500); // the killed run's visibility timeout runs out
      const again = await rerun(s.url, s.queue.name);
      if (stage === "after_commit" || stage === "mid_delete") {
        assert.ok(Number(summaryOf(again).duplicates) > 0, "committed messages were skipped");
      }
      await assertExactlyOnce(s.pool, s.queue.url, s);
    });
  }
});

describe("Postgres", () => {
  test("restarted in the middle of a run: the run stops or carries on; a rerun completes", async () => {
    const s = await setup(400, "restart");
    let restarted: Promise<void> | undefined;
    const first = await runCli(
      ["run", "--batch-size", "20", "--concurrency", "2", "--visibility-timeout", "3"],
      { ...h.env(s.url, s.queue.name), LOGIN_ETL_TEST_SLOW_MS: "30" },
      {
        nodeArgs: ["--import", FAULT_HOOKS],
        when: {
          pattern: /(reached after_commit[\s\S]*){3}/,
          act: () => {
            restarted = h.postgres.restart();
          },
        },
      },
    );
    assert.ok(restarted, "the restart happened during the run");
    await restarted;
    assert.ok(first.code === 0 || first.code === 1, first.stderr);
    if (first.code === 1) {
      assert.match(first.stderr, /terminat|shut ?down|connect/i, "the failure names the cause");
    }
    await sleep(3_500);
    await rerun(s.url, s.queue.name);
    await assertExactlyOnce(s.pool, s.queue.url, s);
  });
});

describe("a database that goes silent (no error, no reset: the answers just stop)", () => {
  /** A corpus loaded through a proxy that goes silent after the first commit. */
  async function silentSetup(prefix: string) {
    const s = await setup(120, prefix);
    // Migrated directly, so the first COMMIT through the proxy is the first batch's.
    const init = await runCli(["init-db"], { DATABASE_URL: s.url });
    assert.equal(init.code, 0, init.stderr);
    const proxy = await startSilentAfterCommit(s.url);
    return { ...s, proxy };
  }
  const args = ["run", "--batch-size", "10", "--concurrency", "2", "--visibility-timeout", "4"];

  test("--max-runtime is a hard bound: exit 1 with a summary; what was held returns to the queue; a rerun completes", async () => {
    const s = await silentSetup("silent-runtime");
    try {
      const first = await runCli(
        [...args, "--max-runtime", "3", "--stop-grace", "2"],
        h.env(s.proxy.url, s.queue.name),
        { timeoutMs: 45_000 },
      );
      assert.ok(s.proxy.silent, "the proxy went silent during the run");
      assert.equal(first.code, 1, first.stderr);
      assert.match(first.stderr, /still being written 2 s after the run stopped/);
      const summary = summaryOf(first);
      assert.equal(summary.stopReason, "max_runtime");
      assert.ok(Number(summary.abandoned) > 0, JSON.stringify(summary));
    } finally {
      await s.proxy.close();
    }
    // Nothing keeps the abandoned messages invisible: once their visibility timeout (4 s) is
    // over, the rerun receives every one of them (fauxqs only counts them visible again then).
    await sleep(5_000);
    await rerun(s.url, s.queue.name);
    await assertExactlyOnce(s.pool, s.queue.url, s);
  });

  test("without a runtime limit, the statement timeout ends the run: exit 1 naming the timeout; a rerun completes", async () => {
    const s = await silentSetup("silent-timeout");
    try {
      const first = await runCli(
        args,
        { ...h.env(s.proxy.url, s.queue.name), ETL_DB_STATEMENT_TIMEOUT: "1" },
        { timeoutMs: 45_000 },
      );
      assert.ok(s.proxy.silent, "the proxy went silent during the run");
      assert.equal(first.code, 1, first.stderr);
      assert.match(first.stderr, /timeout/i);
      summaryOf(first);
    } finally {
      await s.proxy.close();
    }
    await sleep(5_000);
    await rerun(s.url, s.queue.name);
    await assertExactlyOnce(s.pool, s.queue.url, s);
  });
});

describe("SQS misbehaving", () => {
  test("unreachable at start: exit 1 with the endpoint named, nothing written", async () => {
    const { url, pool } = await h.freshDatabase();
    const result = await runCli(
      ["run", "--startup-wait", "1"],
      h.env(url, "login-queue", { SQS_ENDPOINT: "http://127.0.0.1:1" }),
    );
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /Cannot reach SQS at http:\/\/127\.0\.0\.1:1/);
    // Not even the schema: migrating waits until the queue is known.
    const tables = await pool.query("SELECT to_regclass('public.user_logins') AS t");
    assert.equal(tables.rows[0]?.t, null);
  });

  test("ReceiveMessage failing mid-run: SDK retries, then exit 1 naming the endpoint; rerun completes", async () => {
    const s = await setup(200, "sqs500");
    const proxy = await startFaultProxy(h.sqsServer.endpoint);
    proxy.faults.push({
      action: "ReceiveMessage",
      respond: (n) => (n < 4 ? "pass" : { status: 500, code: "InternalError" }),
    });
    try {
      const failed = await runCli(
        ["run", "--visibility-timeout", "2", "--concurrency", "1", "--batch-size", "10"],
        h.env(s.url, s.queue.name, { SQS_ENDPOINT: proxy.endpoint }),
      );
      assert.equal(failed.code, 1, failed.stderr);
      assert.match(failed.stderr, new RegExp(`ReceiveMessage failed at ${proxy.endpoint}`));
      assert.ok((proxy.seen.get("ReceiveMessage") ?? 0) >= 4 + 5, "the SDK retried");
    } finally {
      await proxy.close();
    }
    await sleep(2_500);
    await rerun(s.url, s.queue.name);
    await assertExactlyOnce(s.pool, s.queue.url, s);
  });

  test("throttling on a third of all calls: retried with backoff, the run completes", async () => {
    const s = await setup(300, "throttle");
    const proxy = await startFaultProxy(h.sqsServer.endpoint);
    let throttled = 0;
    let retriedAfterThrottle = 0;
    proxy.faults.push({
      action: "*",
      // At most twice for the same call: a call throttled on all 5 attempts would fail the run,
      // and how often that happens would depend on how the pollers' retries interleave.
      respond: (n, attempt) => {
        if (attempt > 1) retriedAfterThrottle++;
        if (n % 3 !== 2 || attempt > 2) return "pass";
        throttled++;
        return { status: 400, code: "ThrottlingException" };
      },
    });
    try {
      const result = await runCli(
        ["run"],
        h.env(s.url, s.queue.name, { SQS_ENDPOINT: proxy.endpoint }),
      );
      assert.equal(result.code, 0, result.stderr);
      assert.ok(throttled >= 10, `only ${throttled} calls were throttled`);
      assert.ok(retriedAfterThrottle >= throttled, "throttled calls were not all retried");
    } finally {
      await proxy.close();
    }
    await assertExactlyOnce(s.pool, s.queue.url, s);
  });

  test("DeleteMessageBatch partial failures are retried per entry", async () => {
    const s = await setup(200, "partial");
    const proxy = await startFaultProxy(h.sqsServer.endpoint);
    proxy.faults.push({
      action: "DeleteMessageBatch",
      respond: (n) => (n < 6 ? "drop-half" : "pass"),
    });
    try {
      const result = await runCli(
        ["run"],
        h.env(s.url, s.queue.name, { SQS_ENDPOINT: proxy.endpoint }),
      );
      assert.equal(result.code, 0, result.stderr);
      const summary = summaryOf(result);
      assert.equal(summary.deleted, 200);
      assert.equal(summary.deleteFailed, 0);
    } finally {
      await proxy.close();
    }
    await assertExactlyOnce(s.pool, s.queue.url, s);
  });

  test("deletes that keep failing: exit 1; the messages come back and are skipped, not reloaded", async () => {
    const s = await setup(100, "nodelete");
    const proxy = await startFaultProxy(h.sqsServer.endpoint);
    proxy.faults.push({ action: "DeleteMessageBatch", respond: () => "drop-half" });
    let failedDeletes = 0;
    try {
      const result = await runCli(
        ["run", "--visibility-timeout", "2"],
        h.env(s.url, s.queue.name, { SQS_ENDPOINT: proxy.endpoint }),
      );
      assert.equal(result.code, 1, result.stderr);
      failedDeletes = Number(summaryOf(result).deleteFailed);
      assert.ok(failedDeletes > 0);
    } finally {
      await proxy.close();
    }
    await sleep(2_500);
    const again = await rerun(s.url, s.queue.name);
    assert.equal(summaryOf(again).inserted, 0);
    assert.equal(summaryOf(again).duplicates, failedDeletes);
    await assertExactlyOnce(s.pool, s.queue.url, s);
  });

  test("visibility expiring while a batch waits on a lock: the redelivered copy is not a second row", async () => {
    const s = await setup(40, "locked");
    // Tables first, then a session that blocks every INSERT into user_logins.
    assert.equal((await runCli(["init-db"], { DATABASE_URL: s.url })).code, 0);
    const locker = await s.pool.connect();
    await locker.query("BEGIN");
    await locker.query("LOCK TABLE user_logins IN SHARE MODE");
    // Run A cannot extend visibility (its extension calls fail), so its messages are redelivered
    // (to run B, or to A's own next polls) while A's transaction waits on the lock with the
    // ledger rows claimed.
    const proxy = await startFaultProxy(h.sqsServer.endpoint);
    proxy.faults.push({
      action: "ChangeMessageVisibilityBatch",
      respond: () => ({ status: 500, code: "InternalError" }),
    });
    try {
      const a = runCli(
        ["run", "--visibility-timeout", "2", "--batch-size", "40", "--concurrency", "1"],
        h.env(s.url, s.queue.name, { SQS_ENDPOINT: proxy.endpoint }),
      );
      await waitForLockWait(s.pool);
      await sleep(2_500); // A's messages become visible again
      const b = runCli(["run", "--concurrency", "1"], h.env(s.url, s.queue.name));
      await sleep(2_000); // B has received them and waits on A's ledger rows
      await locker.query("COMMIT");
      const [ra, rb] = await Promise.all([a, b]);
      assert.ok(ra.code === 0 || ra.code === 1, ra.stderr); // A's deletes may find stale handles
      assert.equal(rb.code, 0, rb.stderr);
      // The expired copies were received again, by B or by A's own next polls; the ledger let
      // exactly one transaction load each message and turned every other copy into a skip.
      const [sa, sb] = [summaryOf(ra), summaryOf(rb)];
      const received = Number(sa.received) + Number(sb.received);
      assert.ok(received > 40, `the messages were redelivered (received ${received})`);
      assert.equal(Number(sa.inserted) + Number(sb.inserted), s.valid.length);
      assert.equal(Number(sa.rejectedTotal) + Number(sb.rejectedTotal), s.invalid);
      assert.equal(Number(sa.duplicates) + Number(sb.duplicates), received - 40);
    } finally {
      locker.release();
      await proxy.close();
    }
    await assertExactlyOnce(s.pool, s.queue.url, s);
  });
});

/** Until some login-etl session is waiting for a lock. */
async function waitForLockWait(pool: pg.Pool) {
  for (let i = 0; i < 100; i++) {
    const r = await pool.query(
      "SELECT 1 FROM pg_stat_activity WHERE application_name = 'login-etl' AND wait_event_type = 'Lock'",
    );
    if (r.rows.length > 0) return;
    await sleep(100);
  }
  assert.fail("the run never waited on the lock");
}

describe("concurrency and signals", () => {
  test("three runs on the same queue at once: every message exactly once", async () => {
    // 600, not more: moto's ReceiveMessage costs ~0.3 s on a queue of 1,500 (it scans and
    // deep-copies), which makes a bigger queue a test of moto's speed rather than of ours.
    const s = await setup(600, "three");
    // Each batch is held 100 ms before it commits, so no run can drain the queue before the
    // others have started (with held messages capped, a run holds at most a few hundred).
    const runs = await Promise.all(
      [1, 2, 3].map(() =>
        runCli(
          ["run", "--batch-size", "50"],
          { ...h.env(s.url, s.queue.name), LOGIN_ETL_TEST_SLOW_MS: "100" },
          { nodeArgs: ["--import", FAULT_HOOKS] },
        ),
      ),
    );
    for (const r of runs) assert.equal(r.code, 0, r.stderr);
    const inserted = runs.reduce((a, r) => a + Number(summaryOf(r).inserted), 0);
    assert.equal(inserted, s.valid.length);
    assert.ok(
      runs.every((r) => Number(summaryOf(r).received) > 0),
      "all three took part",
    );
    await assertExactlyOnce(s.pool, s.queue.url, s);
  });

  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    test(`${signal} mid-run: finishes what it holds, exits 0 promptly with a summary`, async () => {
      const s = await setup(600, signal);
      let sentAt = 0;
      const result = await runCli(
        ["run", "--batch-size", "20", "--concurrency", "2", "--visibility-timeout", "3"],
        { ...h.env(s.url, s.queue.name), LOGIN_ETL_TEST_SLOW_MS: "50" },
        {
          nodeArgs: ["--import", FAULT_HOOKS],
          when: {
            pattern: /(reached after_commit[\s\S]*){2}/,
            act: (child) => {
              sentAt = Date.now();
              child.kill(signal);
            },
          },
        },
      );
      const tookMs = Date.now() - sentAt;
      assert.equal(result.code, 0, result.stderr);
      assert.ok(tookMs < 5_000, `exited ${tookMs} ms after ${signal}`);
      const summary = summaryOf(result);
      assert.equal(summary.stopReason, "signal");
      assert.equal(summary.deleted, summary.received, "everything received was finished");
      assert.ok(Number(summary.received) < 600, "it stopped early");
      // A long poll cut short by the signal may already have taken messages that the run never
      // saw (moto and AWS hand them out as the poll returns): they are in flight, not lost, and
      // reappear after the visibility timeout. And a message may be delivered twice (moto does,
      // under concurrent polls), so what left the queue is what the ledger holds.
      const ledger = await s.pool.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM etl.processed_messages",
      );
      const depth = await h.depth(s.queue.url);
      assert.equal(depth.visible + depth.inFlight, 600 - (ledger.rows[0]?.n ?? 0));
      await h.waitUntilNoneInFlight(s.queue.url, 10_000);
      await rerun(s.url, s.queue.name);
      await assertExactlyOnce(s.pool, s.queue.url, s);
    });
  }
});
