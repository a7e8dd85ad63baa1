// The dead-letter queue and exactly-once, with a real redrive policy on the SQS server. A message
// committed but never deleted, and one never committed, both end up in the DLQ after too many
// receives; `etl run --from-dlq` loads the second and skips the first, because in the DLQ they
// keep their MessageIds (a console redrive would give them new ones).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Harness, runCli, summaryOf } from "../support/harness.js";
import { commitWithoutDeleting } from "../support/partial-run.js";

let h: Harness;
before(async () => {
  h = await Harness.start();
});
after(async () => {
  await h?.stop();
});

const login = (userId: string) =>
  JSON.stringify({ user_id: userId, app_version: "1.0.0", ip: "10.1.2.3", device_id: "x-1" });

test("messages that reached the DLQ are loaded exactly once with run --from-dlq; status says how", async () => {
  const { url, pool } = await h.freshDatabase();
  const dlq = await h.createQueue();
  const queue = await h.createQueue({
    RedrivePolicy: JSON.stringify({
      deadLetterTargetArn: await h.queueArn(dlq.url),
      maxReceiveCount: "1",
    }),
  });
  const env = h.env(url, queue.name, { ETL_VISIBILITY_TIMEOUT: "2" });

  // Ten messages committed by a consumer that died before deleting them.
  await h.send(
    queue.url,
    Array.from({ length: 10 }, (_, i) => login(`committed-${i}`)),
  );
  await commitWithoutDeleting(h, url, queue.url, 2);
  // Five more received by a consumer that died before committing.
  await h.send(
    queue.url,
    Array.from({ length: 5 }, (_, i) => login(`uncommitted-${i}`)),
  );
  const abandoned = await h.receiveAndAbandon(queue.url, 5, 2);
  assert.equal(abandoned.length, 5);
  // Past their visibility timeout (some servers only notice on the next receive).
  await new Promise((resolve) => setTimeout(resolve, 2_500));

  // Received once already (maxReceiveCount 1): the next receive moves them to the DLQ.
  const main = await runCli(["run"], env);
  assert.equal(main.code, 0, main.stderr);
  assert.equal(summaryOf(main).inserted, 0);
  const waiting = await h.depth(dlq.url);
  assert.equal(waiting.visible + waiting.inFlight, 15, "all fifteen are in the dead-letter queue");

  const status = await runCli(["status"], env);
  assert.match(status.stdout, /load them with `etl run --from-dlq`/);
  assert.match(status.stdout, /never redrive them from the console/);

  const drain = await runCli(["run", "--from-dlq"], env);
  assert.equal(drain.code, 0, drain.stderr);
  const summary = summaryOf(drain);
  assert.equal(summary.inserted, 5, "the uncommitted five load now");
  assert.equal(summary.duplicates, 10, "the committed ten are skipped by the ledger");
  const rows = await pool.query<{ user_id: string; n: number }>(
    "SELECT user_id, count(*)::int AS n FROM user_logins GROUP BY user_id",
  );
  assert.equal(rows.rows.length, 15);
  assert.ok(
    rows.rows.every((r) => r.n === 1),
    "no event became two rows",
  );
  assert.deepEqual(await h.depth(dlq.url), { visible: 0, inFlight: 0 });
});

test("--from-dlq on a queue without a dead-letter queue exits 2 saying so", async () => {
  const { url } = await h.freshDatabase();
  const queue = await h.createQueue();
  const result = await runCli(["run", "--from-dlq"], h.env(url, queue.name));
  assert.equal(result.code, 2, result.stderr);
  assert.match(result.stderr, /has no dead-letter queue \(no RedrivePolicy\)/);
});
