// The run summary: the rate leaves out the final empty long poll; a dry run says "would".
import assert from "node:assert/strict";
import { test } from "node:test";
import { formatSummary, RunStats } from "../../src/summary.js";

test("the rate counts the time until the last batch, not the final empty long poll", async () => {
  const stats = new RunStats();
  stats.received = 1;
  await new Promise((resolve) => setTimeout(resolve, 20));
  stats.batchDone();
  await new Promise((resolve) => setTimeout(resolve, 200)); // the final empty poll
  const s = stats.summarize("drained", false);
  assert.ok(s.seconds >= 0.2);
  assert.ok(
    s.messagesPerSecond > 1 / s.seconds,
    `${s.messagesPerSecond} msg/s over ${s.seconds} s`,
  );
});

test("a dry run's summary says what would have been done", () => {
  const stats = new RunStats();
  stats.received = 3;
  stats.inserted = 2;
  stats.addRejected({ invalid_json: 1 });
  const dry = formatSummary(stats.summarize("drained", true));
  assert.match(dry, /^would insert 2$/m);
  assert.match(dry, /^would reject 1 \(invalid_json=1\)$/m);
  assert.doesNotMatch(dry, /^inserted/m);
  assert.match(formatSummary(stats.summarize("drained", false)), /^inserted {5}2$/m);
});
