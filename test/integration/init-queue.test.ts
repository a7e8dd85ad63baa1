// `etl init-queue` against a real SQS server (fauxqs, moto or LocalStack: see
// test/support/sqs-target.ts): it creates the queue, its dead-letter queue and the redrive
// policy; run again it changes nothing; it never replaces a policy an operator chose.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { GetQueueAttributesCommand, GetQueueUrlCommand } from "@aws-sdk/client-sqs";
import { Harness, runCli } from "../support/harness.js";

let h: Harness;
before(async () => {
  h = await Harness.start();
});
after(async () => {
  await h?.stop();
});

async function attributesOf(name: string): Promise<Record<string, string>> {
  const { QueueUrl } = await h.sqs.send(new GetQueueUrlCommand({ QueueName: name }));
  const out = await h.sqs.send(
    new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ["All"] }),
  );
  return out.Attributes ?? {};
}

function env(queueName: string) {
  return { SQS_ENDPOINT: h.sqsServer.endpoint, SQS_QUEUE_NAME: queueName, ETL_STARTUP_WAIT: "2" };
}

describe("etl init-queue", () => {
  test("creates the queue and a dead-letter queue with a redrive policy; a second run changes nothing", async () => {
    const name = h.queueName();
    const first = await runCli(["init-queue", "--json"], env(name));
    assert.equal(first.code, 0, first.stderr);
    const created = JSON.parse(first.stdout);
    assert.equal(created.queue.created, true);
    assert.equal(created.deadLetterQueue.created, true);
    assert.equal(created.deadLetterQueue.name, `${name}-dlq`);
    assert.deepEqual(created.redrive, { state: "set", maxReceiveCount: 5 });

    const dlq = await attributesOf(`${name}-dlq`);
    assert.equal(
      dlq.MessageRetentionPeriod,
      String(14 * 24 * 3600),
      "the DLQ keeps messages longest",
    );
    const policy = (await attributesOf(name)).RedrivePolicy ?? "{}";
    const redrive = JSON.parse(policy);
    assert.equal(redrive.deadLetterTargetArn, dlq.QueueArn);
    assert.equal(Number(redrive.maxReceiveCount), 5);

    const again = await runCli(["init-queue"], env(name));
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /^dead-letter queue\s+exists\s/m);
    assert.match(again.stdout, /^queue\s+exists\s/m);
    assert.match(again.stdout, /^redrive policy\s+in place\s+to \S+-dlq after 5 receives$/m);
    assert.equal((await attributesOf(name)).RedrivePolicy, policy, "the policy is unchanged");

    // etl status reads the same policy back.
    const status = await runCli(["status", "--json"], {
      ...env(name),
      DATABASE_URL: "postgres://nobody:x@127.0.0.1:1/none",
      ETL_STARTUP_WAIT: "0",
    });
    const queue = JSON.parse(status.stdout).queue;
    assert.equal(queue.ok, true, status.stderr);
    assert.equal(queue.value.deadLetter.maxReceiveCount, 5);
  });

  test("adds a redrive policy to an existing queue without one, and leaves a different one alone", async () => {
    const bare = await h.createQueue();
    const added = await runCli(
      ["init-queue", "--max-receive-count", "3", "--dlq", `${bare.name}-dead`],
      env(bare.name),
    );
    assert.equal(added.code, 0, added.stderr);
    assert.match(added.stdout, /^queue\s+exists\s/m);
    assert.match(added.stdout, /^redrive policy\s+set\s+to \S+-dead after 3 receives$/m);
    const policy = (await attributesOf(bare.name)).RedrivePolicy ?? "{}";
    assert.equal(Number(JSON.parse(policy).maxReceiveCount), 3);

    const other = await runCli(["init-queue", "--max-receive-count", "7"], env(bare.name));
    assert.equal(other.code, 0, other.stderr);
    assert.match(other.stdout, /^redrive policy\s+left as it is: /m);
    assert.equal(
      (await attributesOf(bare.name)).RedrivePolicy,
      policy,
      "an operator's policy stays",
    );
  });

  test("bad flags exit 2 before touching SQS; an unreachable endpoint exits 1 naming it", async () => {
    const name = h.queueName();
    const bad = await runCli(["init-queue", "--max-receive-count", "1001"], env(name));
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--max-receive-count must be a whole number from 1 to 1000/);
    for (const [args, message] of [
      [["--dlq", name], /must be another queue than/],
      [["--dlq", "bad name!"], /bad name!\\?" is not a valid SQS queue name/],
      [["--dlq", `${name}-dlq.fifo`], /must both be FIFO queues \(\.fifo\) or both standard/],
    ] as const) {
      const refused = await runCli(["init-queue", ...args], env(name));
      assert.equal(refused.code, 2, refused.stderr);
      assert.match(refused.stderr, message);
      assert.match(refused.stderr, /nothing was created/);
    }
    const down = await runCli(["init-queue", "--startup-wait", "0"], {
      ...env(name),
      SQS_ENDPOINT: "http://127.0.0.1:1",
    });
    assert.equal(down.code, 1, down.stderr);
    assert.match(down.stderr, /Could not set up .* at http:\/\/127\.0\.0\.1:1/);
    await assert.rejects(
      h.sqs.send(new GetQueueUrlCommand({ QueueName: name })),
      "nothing created",
    );
  });
});
