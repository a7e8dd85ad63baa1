// The throw-away services behind `etl demo` (and behind these tests) leave nothing behind: no
// Postgres folder, no password file, no server process, whether the demo finishes, is
// interrupted (Ctrl-C, SIGTERM) or is killed outright (then the next start cleans up). Each test
// gives the demo its own TMPDIR, so what is left in it is exactly what the demo left.
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { POSTGRES_DIR_PREFIX } from "../../src/embedded/postgres.js";
import { runCli } from "../support/harness.js";

const made: string[] = [];
after(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

/** A TMPDIR for one demo. As root, Postgres runs as another user, who must be able to enter it. */
function demoTmp(mode = 0o755): string {
  const dir = mkdtempSync(join(tmpdir(), "login-etl-demo-tmp-"));
  chmodSync(dir, mode);
  made.push(dir);
  return dir;
}

/** Every process whose command line mentions `dir` (a postgres server started in it). */
function processesIn(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, "utf8").includes(dir)) pids.push(Number(entry));
    } catch {
      // Gone in the meantime.
    }
  }
  return pids;
}

function leftovers(dir: string) {
  return { files: readdirSync(dir), processes: processesIn(dir) };
}

const demo = (dir: string, count: number, options: Parameters<typeof runCli>[2] = {}) =>
  runCli(["demo", "--count", String(count)], { TMPDIR: dir }, { timeoutMs: 120_000, ...options });

const SIGNAL_NUMBER = { SIGINT: 2, SIGTERM: 15 } as const;

describe("embedded services leave nothing behind", () => {
  test("a demo that finishes removes its Postgres folder and stops its server", async () => {
    const dir = demoTmp();
    const result = await demo(dir, 50);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /Demo finished; the embedded services are stopped and removed/);
    assert.deepEqual(leftovers(dir), { files: [], processes: [] });
  });

  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    test(`${signal} while the demo runs: services stopped, files removed, exit ${128 + SIGNAL_NUMBER[signal]}`, async () => {
      const dir = demoTmp();
      let during: ReturnType<typeof leftovers> | undefined;
      const result = await demo(dir, 20_000, {
        when: {
          stream: "stdout",
          pattern: /Running the pipeline/,
          act: (child) => {
            during = leftovers(dir);
            child.kill(signal);
          },
        },
      });
      assert.ok(during, "the demo reached its run");
      assert.equal(during.files.filter((f) => f.startsWith(POSTGRES_DIR_PREFIX)).length, 1);
      assert.ok(during.processes.length > 0, "Postgres was running when the signal came");
      assert.equal(result.code, 128 + SIGNAL_NUMBER[signal], result.stderr);
      assert.match(result.stderr, new RegExp(`${signal}: stopping the embedded services`));
      assert.deepEqual(leftovers(dir), { files: [], processes: [] });
    });
  }

  test("after a SIGKILL, the next start stops the orphaned server and removes its folder", async () => {
    const dir = demoTmp();
    const killed = await demo(dir, 20_000, {
      when: { stream: "stdout", pattern: /Running the pipeline/, act: (c) => c.kill("SIGKILL") },
    });
    assert.equal(killed.signal, "SIGKILL");
    const orphaned = leftovers(dir);
    assert.equal(orphaned.files.filter((f) => f.startsWith(POSTGRES_DIR_PREFIX)).length, 1);
    assert.ok(orphaned.processes.length > 0, "SIGKILL cannot be caught: the server outlives it");

    const next = await demo(dir, 10);
    assert.equal(next.code, 0, next.stderr);
    assert.deepEqual(leftovers(dir), { files: [], processes: [] });
  });

  test("a temp folder the server's account cannot enter: one line saying what to set (as root), or it just works", async () => {
    const dir = demoTmp(0o700);
    const result = await demo(dir, 10);
    if (process.getuid?.() === 0) {
      // Postgres runs as another user, who cannot enter a mode-700 folder of root's.
      assert.equal(result.code, 1, result.stderr);
      assert.match(
        result.stderr,
        /runs as user '\w+', who cannot enter .*set TMPDIR to a folder every user can enter/,
      );
      assert.doesNotMatch(result.stderr, /\n\s+at /, "no stack trace");
    } else {
      // Not root: the server runs as us, and our own private folder is fine.
      assert.equal(result.code, 0, result.stderr);
    }
    assert.deepEqual(leftovers(dir), { files: [], processes: [] });
  });
});
