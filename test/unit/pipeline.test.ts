// The run loop's flow control, with in-memory stages: ordering (delete only after commit),
// backpressure, limits and stopping. The real SQS/Postgres stages are covered in test/integration.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import pino from "pino";
import { type PipelineOptions, runPipeline, type Stages } from "../../src/pipeline.js";
import type { ReceivedMessage, TransformResult } from "../../src/types.js";

const logger = pino({ level: "silent" });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const options = (over: Partial<PipelineOptions> = {}): PipelineOptions => ({
  concurrency: 3,
  batchSize: 20,
  writeConcurrency: 2,
  lingerMs: 5,
  maxHeldChars: 1_000_000_000,
  maxMessages: undefined,
  maxRuntimeSeconds: undefined,
  stopGraceMs: 30_000,
  dryRun: false,
  ...over,
});

const row = (id: string): TransformResult => ({
  kind: "row",
  row: {
    user_id: id,
    device_type: null,
    masked_ip: null,
    masked_device_id: null,
    locale: null,
    app_version: null,
    create_date: "2026-01-01",
  },
  originals: { ip: null, device_id: null },
  droppedFields: [],
});

/** An in-memory queue with the same contract as the real stages. */
function fakeQueue(total: number, over: Partial<Stages> = {}, body = "{}") {
  const waiting: ReceivedMessage[] = Array.from({ length: total }, (_, i) => ({
    messageId: `m${i}`,
    receiptHandle: `r${i}`,
    body,
    sentTimestamp: 0,
    receiveCount: 1,
  }));
  const committed = new Set<string>();
  const deleted = new Set<string>();
  const events: string[] = [];
  let held = 0;
  let maxHeld = 0;
  let heldChars = 0;
  let maxHeldChars = 0;
  const stages: Stages = {
    receive: async (max) => {
      await sleep(1);
      const got = waiting.splice(0, max);
      held += got.length;
      maxHeld = Math.max(maxHeld, held);
      heldChars += got.length * body.length;
      maxHeldChars = Math.max(maxHeldChars, heldChars);
      return got;
    },
    transform: (m) => row(m.messageId),
    write: async (items) => {
      await sleep(3);
      for (const i of items) committed.add(i.message.messageId);
      events.push(`commit:${items.length}`);
      return { inserted: items.length, duplicates: 0, rejected: {} };
    },
    delete: async (messages) => {
      for (const m of messages) {
        assert.ok(committed.has(m.messageId), `deleted ${m.messageId} before its commit`);
        deleted.add(m.messageId);
      }
      held -= messages.length;
      heldChars -= messages.length * body.length;
      events.push(`delete:${messages.length}`);
      return { deleted: messages.length, failed: 0, stale: 0 };
    },
    ...over,
  };
  return {
    stages,
    committed,
    deleted,
    events,
    waiting,
    maxHeld: () => maxHeld,
    maxHeldChars: () => maxHeldChars,
  };
}

describe("runPipeline", () => {
  test("drains the queue; every message is committed, then deleted", async () => {
    const q = fakeQueue(537);
    const { summary, error } = await runPipeline(q.stages, options(), logger);
    assert.equal(error, undefined);
    assert.equal(summary.received, 537);
    assert.equal(summary.inserted, 537);
    assert.equal(summary.deleted, 537);
    assert.equal(summary.drained, true);
    assert.equal(summary.stopReason, "drained");
    assert.equal(q.deleted.size, 537);
  });

  test("backpressure: never holds more than batch × (writers + 1) + pollers × 10", async () => {
    const q = fakeQueue(3_000, {});
    const slowWrite = q.stages.write;
    q.stages.write = async (items) => {
      await sleep(15); // a slow database: pollers must wait rather than pile messages up
      return slowWrite(items);
    };
    const o = options({ concurrency: 4, batchSize: 25, writeConcurrency: 2 });
    const { summary } = await runPipeline(q.stages, o, logger);
    assert.equal(summary.deleted, 3_000);
    const bound = o.batchSize * (o.writeConcurrency + 1) + o.concurrency * 10;
    assert.ok(q.maxHeld() <= bound, `held ${q.maxHeld()} > bound ${bound}`);
    assert.ok(q.maxHeld() >= o.batchSize, "the bound is not so tight that batches cannot fill");
  });

  test("large messages: the held body text stays near maxHeldChars, not at 640 messages", async () => {
    const q = fakeQueue(400, {}, "x".repeat(100_000));
    const write = q.stages.write;
    q.stages.write = async (items) => {
      await sleep(10);
      return write(items);
    };
    const o = options({ concurrency: 2, batchSize: 20, maxHeldChars: 1_000_000 });
    const { summary } = await runPipeline(q.stages, o, logger);
    assert.equal(summary.deleted, 400);
    // At most one receive per poller beyond the limit.
    const bound = o.maxHeldChars + o.concurrency * 10 * 100_000;
    assert.ok(q.maxHeldChars() <= bound, `held ${q.maxHeldChars()} chars > ${bound}`);
    assert.ok(q.maxHeld() < 60, `held ${q.maxHeld()} messages: the count bound alone allows 80`);
  });

  test("large messages: a batch is cut by characters, so one transaction's parameters stay bounded", async () => {
    const body = "x".repeat(100_000);
    const q = fakeQueue(200, {}, body);
    const sizes: number[] = [];
    const write = q.stages.write;
    q.stages.write = async (items) => {
      sizes.push(items.length);
      return write(items);
    };
    // writeConcurrency 2 → a batch holds at most 4_000_000 / 4 characters: 10 of these bodies.
    const o = options({ concurrency: 2, batchSize: 500, maxHeldChars: 4_000_000 });
    const { summary } = await runPipeline(q.stages, o, logger);
    assert.equal(summary.deleted, 200);
    assert.ok(Math.max(...sizes) <= 10, `batches of ${Math.max(...sizes)} messages`);
    assert.ok(Math.max(...sizes) >= 5, "batches still fill up to the character bound");
  });

  test("a message larger than the batch's character bound is a batch of its own", async () => {
    const q = fakeQueue(3, {}, "x".repeat(2_000_000));
    const sizes: number[] = [];
    const write = q.stages.write;
    q.stages.write = async (items) => {
      sizes.push(items.length);
      return write(items);
    };
    const o = options({ concurrency: 1, maxHeldChars: 4_000_000 });
    const { summary } = await runPipeline(q.stages, o, logger);
    assert.equal(summary.deleted, 3);
    assert.deepEqual(sizes, [1, 1, 1]);
  });

  test("--max-messages receives exactly that many and leaves the rest", async () => {
    const q = fakeQueue(100);
    const { summary } = await runPipeline(q.stages, options({ maxMessages: 33 }), logger);
    assert.equal(summary.received, 33);
    assert.equal(summary.stopReason, "max_messages");
    assert.equal(summary.drained, false);
    assert.equal(q.waiting.length, 67);
  });

  test("a failed commit stops the run and deletes nothing of that batch", async () => {
    const q = fakeQueue(200);
    let writes = 0;
    const write = q.stages.write;
    q.stages.write = async (items) => {
      if (++writes === 2) throw new Error("connection terminated");
      return write(items);
    };
    const { summary, error } = await runPipeline(
      q.stages,
      options({ writeConcurrency: 1 }),
      logger,
    );
    assert.match(String(error), /connection terminated/);
    assert.equal(summary.stopReason, "error");
    assert.equal(q.deleted.size, q.committed.size, "only committed messages were deleted");
    assert.ok(q.committed.size < 200);
  });

  test("an external stop (SIGTERM) finishes what is held, then returns", async () => {
    const stop = new AbortController();
    const q = fakeQueue(10_000);
    const receive = q.stages.receive;
    let calls = 0;
    q.stages.receive = async (max, signal) => {
      if (++calls === 10) stop.abort();
      return receive(max, signal);
    };
    const { summary } = await runPipeline(q.stages, options(), logger, stop.signal);
    assert.equal(summary.stopReason, "signal");
    assert.ok(summary.received > 0 && summary.received < 10_000);
    assert.equal(summary.deleted, summary.received, "everything received was finished");
  });

  test("--max-runtime stops receiving once the time is up", async () => {
    const q = fakeQueue(1_000_000);
    const receive = q.stages.receive;
    q.stages.receive = async (max, signal) => {
      await sleep(5);
      return receive(max, signal);
    };
    const started = Date.now();
    const { summary } = await runPipeline(q.stages, options({ maxRuntimeSeconds: 1 }), logger);
    assert.equal(summary.stopReason, "max_runtime");
    assert.ok(Date.now() - started < 3_000);
    assert.equal(summary.deleted, summary.received);
  });

  test("an empty poll while messages are still held does not end the run early", async () => {
    // The first poll returns 10 messages whose commit is slow; meanwhile the queue looks empty;
    // then 10 more appear (e.g. their visibility timeout expired elsewhere) and must be taken.
    const q = fakeQueue(20);
    const late = q.waiting.splice(10);
    const write = q.stages.write;
    q.stages.write = async (items) => {
      await sleep(30); // several empty polls happen meanwhile, with 10 messages held
      q.waiting.push(...late.splice(0));
      return write(items);
    };
    const { summary } = await runPipeline(q.stages, options({ concurrency: 1 }), logger);
    assert.equal(summary.received, 20);
    assert.equal(summary.drained, true);
  });
});

describe("progress", () => {
  test("onProgress is called while the run goes on, with counts that only grow", async () => {
    const q = fakeQueue(400);
    const receive = q.stages.receive;
    q.stages.receive = async (max, signal) => {
      await sleep(2);
      return receive(max, signal);
    };
    const seen: number[] = [];
    const { summary } = await runPipeline(
      q.stages,
      options({ onProgress: (s) => seen.push(s.received), progressIntervalMs: 10 }),
      logger,
    );
    assert.ok(seen.length >= 2, `called ${seen.length} times`);
    assert.deepEqual(
      seen,
      [...seen].sort((a, b) => a - b),
    );
    assert.ok((seen.at(-1) ?? 0) <= summary.received);
  });
});
