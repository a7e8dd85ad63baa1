// The metrics contract (src/metrics/contract.ts): what a run renders, and that the README's
// table, the alert rules and the dashboard name only metrics that exist.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import {
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import {
  MESSAGE_OUTCOMES,
  METRICS,
  type RunReport,
  runRegistry,
} from "../../src/metrics/contract.js";
import { writeTextfile } from "../../src/metrics/textfile.js";
import { RunStats } from "../../src/summary.js";
import { REJECT_REASONS } from "../../src/types.js";

const repoFile = (path: string) =>
  readFileSync(new URL(`../../../${path}`, import.meta.url), "utf8");

function report(overrides: Partial<RunReport> = {}): RunReport {
  const stats = new RunStats();
  stats.received = 10;
  stats.inserted = 7;
  stats.duplicates = 1;
  stats.deleted = 10;
  stats.addRejected({ invalid_json: 2 });
  return {
    queue: "login-queue",
    startedAt: new Date(1_800_000_000_000),
    finishedAt: new Date(1_800_000_012_500),
    exitCode: 0,
    summary: stats.summarize("drained", false),
    depth: { visible: 3, inFlight: 1, delayed: 0 },
    deadLetterDepth: { visible: 4, inFlight: 0, delayed: 0 },
    ...overrides,
  };
}

const lineOf = (text: string, start: string) => text.split("\n").find((l) => l.startsWith(start));

describe("metrics contract", () => {
  test("a successful run: every series, zeros included, labelled with the queue", async () => {
    const text = await runRegistry(report()).metrics();
    assert.equal(
      lineOf(text, "login_etl_last_success_timestamp_seconds"),
      'login_etl_last_success_timestamp_seconds{queue="login-queue"} 1800000012.5',
    );
    assert.match(text, /^login_etl_last_run_duration_seconds\{queue="login-queue"\} 12\.5$/m);
    assert.match(
      text,
      /^login_etl_last_run_messages\{outcome="quarantined",queue="login-queue"\} 2$/m,
    );
    assert.match(
      text,
      /^login_etl_last_run_messages\{outcome="duplicate",queue="login-queue"\} 1$/m,
    );
    for (const outcome of MESSAGE_OUTCOMES) assert.match(text, new RegExp(`outcome="${outcome}"`));
    for (const reason of REJECT_REASONS) {
      assert.match(text, new RegExp(`^login_etl_last_run_quarantined\\{reason="${reason}",`, "m"));
    }
    assert.match(text, /^login_etl_queue_messages\{state="in_flight",queue="login-queue"\} 1$/m);
    assert.match(text, /^login_etl_dead_letter_queue_messages\{queue="login-queue"\} 4$/m);
    for (const m of Object.values(METRICS))
      assert.match(text, new RegExp(`^# TYPE ${m.name} gauge$`, "m"));
  });

  test("a failed run carries the last success it is given, or has none; an unknown depth is NaN", async () => {
    const failed = report({
      exitCode: 1,
      summary: undefined,
      depth: "unknown",
      deadLetterDepth: "unknown",
    });
    const carried = await runRegistry(failed, 1_700_000_000).metrics();
    assert.match(
      carried,
      /^login_etl_last_success_timestamp_seconds\{queue="login-queue"\} 1700000000$/m,
    );
    assert.match(carried, /^login_etl_last_run_exit_code\{queue="login-queue"\} 1$/m);
    assert.match(
      carried,
      /^login_etl_last_run_messages\{outcome="received",queue="login-queue"\} 0$/m,
    );
    // NaN, not absent: a Pushgateway would otherwise keep showing an earlier run's depth.
    // (prom-client writes "Nan"; Prometheus parses floats case-insensitively.)
    assert.match(
      carried,
      /^login_etl_queue_messages\{state="visible",queue="login-queue"\} NaN$/im,
    );
    assert.match(carried, /^login_etl_dead_letter_queue_messages\{queue="login-queue"\} NaN$/im);
    const none = await runRegistry(failed).metrics();
    assert.doesNotMatch(none, /login_etl_last_success_timestamp_seconds/);
    const noDlq = await runRegistry(report({ deadLetterDepth: "none" })).metrics();
    assert.doesNotMatch(noDlq, /login_etl_dead_letter_queue_messages/);
  });

  test("the README's metrics table lists each metric with its labels, and nothing else", () => {
    const readme = repoFile("README.md");
    const rows = [...readme.matchAll(/^\| `(login_etl_[a-z_]+(?:\{[a-z_, ]+\})?)` \|/gm)].map(
      (m) => m[1],
    );
    const expected = Object.values(METRICS).map(
      (m) => `${m.name}${m.labels.length > 0 ? `{${m.labels.join(", ")}}` : ""}`,
    );
    assert.deepEqual(rows, expected, 'README "Monitoring" table, in declaration order');
  });

  test("the alert rules and the dashboard use only published metrics", () => {
    const names = new Set<string>(Object.values(METRICS).map((m) => m.name));
    for (const file of ["ops/prometheus/alerts.yml", "ops/grafana/login-etl-dashboard.json"]) {
      const used = new Set(repoFile(file).match(/\blogin_etl_[a-z_]+/g) ?? []);
      for (const name of used)
        assert.ok(names.has(name), `${file} uses ${name}, which is not published`);
    }
    const alerts = repoFile("ops/prometheus/alerts.yml");
    for (const alert of [
      "LoginEtlNoRecentSuccess",
      "LoginEtlQuarantineSpike",
      "LoginEtlDeadLetterQueueNotEmpty",
    ]) {
      assert.match(alerts, new RegExp(`alert: ${alert}\\b`));
    }
  });

  test("the dashboard is a well-formed Grafana dashboard", () => {
    const d = JSON.parse(repoFile("ops/grafana/login-etl-dashboard.json")) as {
      uid: string;
      title: string;
      schemaVersion: number;
      templating: { list: { name: string }[] };
      panels: {
        id: number;
        type: string;
        gridPos: { x: number; y: number; w: number; h: number };
        datasource: { uid: string };
        targets: { refId: string; expr: string }[];
      }[];
    };
    assert.equal(d.uid, "login-etl");
    assert.ok(d.schemaVersion >= 36);
    assert.deepEqual(
      d.templating.list.map((v) => v.name),
      ["datasource", "queue"],
    );
    const ids = d.panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, "panel ids are unique");
    for (const p of d.panels) {
      assert.ok(["stat", "timeseries"].includes(p.type), p.type);
      // Grafana's own variable syntax, not a template literal.
      assert.equal(p.datasource.uid, ["$", "{datasource}"].join(""));
      assert.ok(p.gridPos.x + p.gridPos.w <= 24, `panel ${p.id} fits the 24-column grid`);
      assert.ok(p.targets.length > 0);
      for (const t of p.targets)
        assert.match(t.expr, /queue=~"\$queue"/, `panel ${p.id} follows the queue picker`);
    }
  });
});

describe("the metrics file", () => {
  const dir = mkdtempSync(join(tmpdir(), "login-etl-metrics-unit-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("0644 whatever the umask; a failed run carries the previous success over", async () => {
    const path = join(dir, "etl.prom");
    const previous = process.umask(0o077);
    try {
      await writeTextfile(report(), path);
      assert.equal(statSync(path).mode & 0o777, 0o644);
      await writeTextfile(report({ exitCode: 1, finishedAt: new Date(1_900_000_000_000) }), path);
    } finally {
      process.umask(previous);
    }
    const text = readFileSync(path, "utf8");
    assert.match(
      text,
      /^login_etl_last_success_timestamp_seconds\{queue="login-queue"\} 1800000012\.5$/m,
    );
    assert.match(text, /^login_etl_last_run_timestamp_seconds\{queue="login-queue"\} 1900000000$/m);
    assert.deepEqual(readdirSync(dir), ["etl.prom"], "no temporary file left");
  });

  test("a previous file over 1 MiB is not used; a name as long as the file system allows works", async () => {
    const path = join(dir, "big.prom");
    // The success line is cut at the 1 MiB boundary: read as is, it would be a time in 1970.
    const line = 'login_etl_last_success_timestamp_seconds{queue="login-queue"} 1796390000\n';
    const readable = 'login_etl_last_success_timestamp_seconds{queue="login-queue"} 17963';
    writeFileSync(path, `${"#".repeat(1024 * 1024 - readable.length - 1)}\n${line}`);
    await writeTextfile(report({ exitCode: 1 }), path);
    assert.doesNotMatch(readFileSync(path, "utf8"), /login_etl_last_success_timestamp_seconds\{/);

    const long = join(dir, `${"b".repeat(250)}.prom`); // 255 characters, the usual limit
    await writeTextfile(report(), long);
    assert.match(readFileSync(long, "utf8"), /login_etl_last_run_exit_code/);
    rmSync(long);
    rmSync(path);
  });

  test("a FIFO, a device or a directory at the path is refused without blocking", async () => {
    const fifo = join(dir, "fifo.prom");
    execFileSync("mkfifo", [fifo]);
    const device = join(dir, "zero.prom");
    symlinkSync("/dev/zero", device);
    for (const path of [fifo, device, dir]) {
      await assert.rejects(
        writeTextfile(report({ exitCode: 1 }), path),
        /is not a regular file/,
        path,
      );
    }
  });
});
