// The census runner (test/run.ts) on fixture files that node's runner alone reports as passed
// or that must fail: a suite that can go green without running its tests guards nothing.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";

const RUNNER = fileURLToPath(new URL("../run.js", import.meta.url));
const FIXTURES = fileURLToPath(new URL("../../../test/fixtures/census/", import.meta.url));

function census(...fixtures: string[]) {
  return censusWith({}, ...fixtures);
}

function censusWith(extra: Record<string, string>, ...fixtures: string[]) {
  // Without NODE_TEST_CONTEXT: inherited, it would make the nested runner report to this one.
  // Without CI unless a test sets it: the runner is stricter in CI.
  const { NODE_TEST_CONTEXT: _, CI: __, ...inherited } = process.env;
  const env = { ...inherited, ...extra };
  const out = spawnSync(
    process.execPath,
    [RUNNER, "--files", ...fixtures.map((f) => `${FIXTURES}${f}`)],
    { encoding: "utf8", env, timeout: 60_000 },
  );
  return { code: out.status, stdout: out.stdout };
}

describe("the census runner", () => {
  test("passes a file whose tests pass, and ends with 'N passed, N failed'", () => {
    const r = census("unit/passes.test.mjs");
    assert.equal(r.code, 0, r.stdout);
    assert.match(r.stdout, /✔ passes\.test\.mjs\s+2 passed, 0 failed/);
    assert.match(r.stdout, /\n2 passed, 0 failed\n$/);
  });

  test("fails a file whose process exits 0 before its tests finish", () => {
    const r = census("unit/passes.test.mjs", "unit/exits-early.test.mjs");
    assert.equal(r.code, 1, r.stdout);
    assert.match(
      r.stdout,
      /✖ exits-early\.test\.mjs\s+1 passed, 0 failed\n\s+test failed\n\s+never finished: two; three/,
    );
    assert.match(r.stdout, /\n3 passed, 1 failed\n$/);
  });

  test("fails a file whose process exits 0 between two test declarations", () => {
    const r = census("unit/exits-between-declarations.test.mjs");
    assert.equal(r.code, 1, r.stdout);
    assert.match(
      r.stdout,
      /✖ exits-between-declarations\.test\.mjs\s+1 passed, 0 failed\n\s+test failed/,
    );
  });

  test("fails a file that runs no test", () => {
    const r = census("unit/no-tests.test.mjs");
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stdout, /✖ no-tests\.test\.mjs\s+0 passed, 0 failed\n\s+ran no test/);
  });

  test("fails an integration test that skips, and one whose service did not start", () => {
    const r = census("integration/skips.test.mjs", "integration/before-fails.test.mjs");
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stdout, /1 skipped \(integration tests may not skip\)/);
    assert.match(r.stdout, /✖ before-fails\.test\.mjs\s+0 passed, 1 failed/);
    assert.match(r.stdout, /Postgres did not start/, "the reason is shown");
  });

  test("fails an integration suite that is skipped as a whole", () => {
    const r = census("integration/skipped-suite.test.mjs");
    assert.equal(r.code, 1, r.stdout);
    assert.match(
      r.stdout,
      /1 passed, 0 failed, 1 skipped\n\s+1 skipped \(integration tests may not skip\)/,
    );
  });

  test("a suite skipped for a missing test tool passes outside CI and fails in CI", () => {
    const here = censusWith({}, "integration/tool-unavailable.test.mjs");
    assert.equal(here.code, 0, here.stdout);
    assert.match(here.stdout, /1 passed, 0 failed, 1 skipped\n$/);
    const ci = censusWith({ CI: "true" }, "integration/tool-unavailable.test.mjs");
    assert.equal(ci.code, 1, ci.stdout);
    assert.match(ci.stdout, /1 skipped for a missing tool \(CI must run them\)/);
  });

  test("fails a file that does not exist (not compiled)", () => {
    const r = census("unit/missing.test.mjs");
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stdout, /✖ missing\.test\.mjs[^\n]*\n\s+not compiled/);
  });
});
