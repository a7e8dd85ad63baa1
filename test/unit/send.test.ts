import assert from "node:assert/strict";
import { test } from "node:test";
import { toBatches } from "../../src/sample/send.js";

test("toBatches keeps batches within 10 entries and 256 KiB", () => {
  const small = Array.from({ length: 25 }, (_, i) => `m${i}`);
  assert.deepEqual(
    toBatches(small).map((b) => b.length),
    [10, 10, 5],
  );
  const big = "x".repeat(100 * 1024);
  const sizes = toBatches([big, big, big, "a", big]).map((b) => b.length);
  assert.deepEqual(sizes, [2, 3]); // a third 100 KiB body would pass 256 KiB: new batch
  const huge = "y".repeat(300 * 1024);
  assert.deepEqual(
    toBatches(["a", huge, "b"]).map((b) => b.length),
    [1, 1, 1],
  );
  assert.deepEqual(toBatches([]), []);
});
