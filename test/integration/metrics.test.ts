// Metrics as a monitoring system sees them: the textfile checked by the real `promtool check
// metrics`, a push received by a real Pushgateway on 127.0.0.1, the alert rules through
// `promtool test rules`, and the dashboard's queries parsed by promtool. The tools come from
// Debian's packages (test/support/prometheus-tools.ts).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { freePort } from "../../src/embedded/ports.js";
import { METRICS } from "../../src/metrics/contract.js";
import { Harness, parseLogs, runCli } from "../support/harness.js";
import {
  type PrometheusTools,
  type Pushgateway,
  prometheusTools,
  promtool,
  sampleValue,
  startPushgateway,
} from "../support/prometheus-tools.js";

const OPS = fileURLToPath(new URL("../../../ops/", import.meta.url));
const tools = prometheusTools();
const skip = typeof tools === "string" ? tools : false;
const VALID = (n: number) =>
  JSON.stringify({
    user_id: `u-${n}`,
    app_version: "2.3.0",
    device_type: "android",
    ip: `198.51.100.${n}`,
    locale: "RU",
    device_id: `593-47-${String(5900 + n)}`,
  });
const DATABASE_DOWN = "postgres://nobody:x@127.0.0.1:1/none";

let h: Harness;
let gateway: Pushgateway | undefined;
before(async () => {
  h = await Harness.start();
  if (typeof tools !== "string") gateway = await startPushgateway(tools);
});
after(async () => {
  await gateway?.stop();
  await h?.stop();
});

const T = () => tools as PrometheusTools;
const M = METRICS;

describe("metrics", { skip }, () => {
  test("--metrics-file: promtool-valid, the contract's values, a failed run keeps the last success", async () => {
    const { url } = await h.freshDatabase();
    const queue = await h.createQueue();
    await h.send(queue.url, [VALID(1), VALID(2), VALID(3), "not json", VALID(4)]);
    const file = join(h.scratch, `etl-${queue.name}.prom`);

    const ok = await runCli(["run", "--metrics-file", file], h.env(url, queue.name));
    assert.equal(ok.code, 0, ok.stderr);
    const first = readFileSync(file, "utf8");
    const check = promtool(T(), ["check", "metrics"], first);
    assert.equal(check.code, 0, check.output);
    assert.equal(check.output.trim(), "", "promtool's lint has nothing to say");
    const at = (name: string, labels: Record<string, string> = {}) =>
      sampleValue(first, name, { queue: queue.name, ...labels });
    assert.equal(at(M.lastRunExitCode.name), 0);
    assert.equal(at(M.lastRunMessages.name, { outcome: "received" }), 5);
    assert.equal(at(M.lastRunMessages.name, { outcome: "inserted" }), 4);
    assert.equal(at(M.lastRunMessages.name, { outcome: "quarantined" }), 1);
    assert.equal(at(M.lastRunMessages.name, { outcome: "deleted" }), 5);
    assert.equal(at(M.lastRunMessages.name, { outcome: "duplicate" }), 0);
    assert.equal(at(M.lastRunQuarantined.name, { reason: "invalid_json" }), 1);
    assert.equal(at(M.lastRunQuarantined.name, { reason: "invalid_ip" }), 0);
    assert.equal(at(M.queueMessages.name, { state: "visible" }), 0);
    const success = at(M.lastSuccessTimestamp.name);
    assert.equal(success, at(M.lastRunTimestamp.name));
    assert.ok(Math.abs((success ?? 0) - Date.now() / 1_000) < 120, "a Unix time in seconds");
    assert.ok((at(M.lastRunDuration.name) ?? -1) > 0);

    // The database goes away: the run fails (exit 1), the file says so, the success stays.
    await failingRun(queue.name, ["--metrics-file", file]);
    const second = readFileSync(file, "utf8");
    assert.equal(promtool(T(), ["check", "metrics"], second).code, 0);
    const now = (name: string, labels: Record<string, string> = {}) =>
      sampleValue(second, name, { queue: queue.name, ...labels });
    assert.equal(now(M.lastRunExitCode.name), 1);
    assert.equal(now(M.lastSuccessTimestamp.name), success, "a failed run keeps the last success");
    assert.ok((now(M.lastRunTimestamp.name) ?? 0) >= (success ?? 0));
    assert.equal(now(M.lastRunMessages.name, { outcome: "received" }), 0);
    assert.deepEqual(
      readdirSync(h.scratch).filter((f) => f.includes(queue.name)),
      [`etl-${queue.name}.prom`],
      "no temporary file left beside it",
    );
  });

  test("a first run that fails still writes its metrics, with no success time", async () => {
    const queue = await h.createQueue();
    const file = join(h.scratch, `first-${queue.name}.prom`);
    await failingRun(queue.name, ["--metrics-file", file]);
    const text = readFileSync(file, "utf8");
    assert.equal(promtool(T(), ["check", "metrics"], text).code, 0);
    assert.equal(sampleValue(text, M.lastRunExitCode.name, { queue: queue.name }), 1);
    assert.doesNotMatch(text, new RegExp(M.lastSuccessTimestamp.name));
  });

  test("Pushgateway: job login-etl grouped by queue; a failed run keeps the last success", async () => {
    const pg = gateway as Pushgateway;
    const { url } = await h.freshDatabase();
    const { queue, dlq } = await queueWithDeadLetter();
    await h.send(queue.url, [VALID(7), VALID(8), "{}"]);
    await h.send(dlq.url, ["stuck"]);
    const env = h.env(url, queue.name, { ETL_PUSHGATEWAY_URL: pg.url });

    const ok = await runCli(["run"], env);
    assert.equal(ok.code, 0, ok.stderr);
    const scraped = await pg.scrape();
    assert.equal(promtool(T(), ["check", "metrics"], scraped).code, 0);
    const group = { job: "login-etl", queue: queue.name };
    const at = (text: string, name: string, labels: Record<string, string> = {}) =>
      sampleValue(text, name, { ...group, ...labels });
    assert.equal(at(scraped, M.lastRunExitCode.name), 0);
    assert.equal(at(scraped, M.lastRunMessages.name, { outcome: "received" }), 3);
    assert.equal(at(scraped, M.lastRunQuarantined.name, { reason: "missing_user_id" }), 1);
    assert.equal(at(scraped, M.deadLetterQueueMessages.name), 1);
    const success = at(scraped, M.lastSuccessTimestamp.name);

    await failingRun(queue.name, ["--pushgateway-url", pg.url]);
    const after = await pg.scrape();
    assert.equal(at(after, M.lastRunExitCode.name), 1);
    assert.equal(at(after, M.lastSuccessTimestamp.name), success);
    // The failed run could not read the depths: unknown (NaN), not the earlier run's values.
    assert.ok(Number.isNaN(at(after, M.deadLetterQueueMessages.name)));
    assert.ok(Number.isNaN(at(after, M.queueMessages.name, { state: "visible" })));
    assert.ok((at(after, M.lastRunTimestamp.name) ?? 0) >= (success ?? 0));
  });

  test("a dead, silent, hostile or refusing Pushgateway and an unwritable file never change the exit code", async () => {
    const { url, pool } = await h.freshDatabase();
    const silent = await silentServer();
    const hostile = await hostileServer();
    const fifo = join(h.scratch, "fifo.prom");
    execFileSync("mkfifo", [fifo]);
    const cases: [push: string, file: string][] = [
      // nothing listening; a password in the user info
      [`http://user:s3cret-pass@127.0.0.1:${await freePort()}`, "/nonexistent/dir/etl.prom"],
      // accepts, never answers; a FIFO where the file goes (reading it would block forever)
      [`http://127.0.0.1:${silent.port}`, fifo],
      // answers 404; a directory where the file goes
      [`${(gateway as Pushgateway).url}/no-such-prefix`, join(h.scratch, "dir.prom")],
      // a 500 with a 64 MiB body (prom-client's client held all of it); a bare token as user
      [`http://glc_T0KEN@127.0.0.1:${hostile.port}/huge-error`, "/nonexistent/etl.prom"],
      // a redirect is not a push
      [`http://127.0.0.1:${hostile.port}/redirect`, "/nonexistent/etl.prom"],
      // a 401 that echoes the credentials and the query it was sent
      [`http://ops:s3cret@127.0.0.1:${hostile.port}/echo?token=T0KEN`, "/nonexistent/etl.prom"],
    ];
    mkdirSync(join(h.scratch, "dir.prom"));
    try {
      for (const [i, [push, file]] of cases.entries()) {
        const queue = await h.createQueue();
        await h.send(queue.url, [VALID(20 + i)]);
        const run = await runCli(
          ["run", "--pushgateway-url", push, "--metrics-file", file],
          h.env(url, queue.name),
          { timeoutMs: 40_000 },
        );
        assert.equal(run.code, 0, `${push} ${file}: ${run.stderr}`);
        const warnings = run.logs.filter((l) => l.level === 40).map((l) => String(l.msg));
        const pushed = warnings.find((m) => m.startsWith("could not push metrics"));
        assert.ok(pushed, run.stderr);
        assert.ok(pushed.length < 600, "an error answer is quoted short");
        if (push.includes("redirect")) assert.match(pushed, /HTTP 307: redirected/);
        assert.ok(warnings.some((m) => m.startsWith("could not write the metrics file")));
        const basic = Buffer.from("ops:s3cret").toString("base64");
        assert.ok(!/s3cret|T0KEN/.test(run.stderr) && !run.stderr.includes(basic), run.stderr);
        for (const line of run.stderr.trim().split("\n")) JSON.parse(line);
      }
      const rows = await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM user_logins");
      assert.equal(rows.rows[0]?.n, cases.length, "every run loaded its message");
    } finally {
      await silent.close();
      await hostile.close();
    }
  });

  test("a --from-dlq run publishes nothing (it would replace the main queue's metrics)", async () => {
    const { url } = await h.freshDatabase();
    const { queue, dlq } = await queueWithDeadLetter();
    await h.send(dlq.url, [VALID(40)]);
    const file = join(h.scratch, `dlq-${queue.name}.prom`);
    const run = await runCli(["run", "--from-dlq", "--metrics-file", file], h.env(url, queue.name));
    assert.equal(run.code, 0, run.stderr);
    assert.ok(!readdirSync(h.scratch).some((f) => f.startsWith("dlq-")), "no file");
    assert.ok(run.logs.some((l) => /not published for a --from-dlq run/.test(String(l.msg))));
  });

  test("a dry run publishes nothing; a file that is not *.prom is refused (exit 2)", async () => {
    const { url } = await h.freshDatabase();
    const queue = await h.createQueue();
    await h.send(queue.url, [VALID(30)]);
    const file = join(h.scratch, `dry-${queue.name}.prom`);
    const dry = await runCli(["run", "--dry-run", "--metrics-file", file], h.env(url, queue.name));
    assert.equal(dry.code, 0, dry.stderr);
    assert.ok(!readdirSync(h.scratch).some((f) => f.startsWith("dry-")), "no file");

    const wrong = await runCli(
      ["run", "--metrics-file", join(h.scratch, "etl.txt")],
      h.env(url, queue.name),
    );
    assert.equal(wrong.code, 2, wrong.stderr);
    const [line] = parseLogs(wrong.stderr);
    assert.match(String(line?.msg), /ETL_METRICS_FILE|--metrics-file/);
    assert.match(String(line?.msg), /\.prom/);
  });

  test("ops/prometheus/alerts.yml: promtool check rules and the rule unit tests", () => {
    const check = promtool(T(), ["check", "rules", join(OPS, "prometheus", "alerts.yml")]);
    assert.equal(check.code, 0, check.output);
    const unit = promtool(T(), ["test", "rules", join(OPS, "prometheus", "alerts.test.yml")]);
    assert.equal(unit.code, 0, unit.output);
    assert.match(unit.output, /SUCCESS/);
  });

  test("the Grafana dashboard's queries parse (promtool) and use only published metrics", () => {
    const dashboard = JSON.parse(
      readFileSync(join(OPS, "grafana", "login-etl-dashboard.json"), "utf8"),
    ) as { panels: { targets: { expr: string }[] }[] };
    const exprs = dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr));
    assert.ok(exprs.length >= 5);
    // As recording rules, with Grafana's variable replaced, promtool parses every query.
    const rules = {
      groups: [
        {
          name: "dashboard",
          rules: exprs.map((expr, i) => ({
            record: `dashboard:query_${i}`,
            expr: expr.replaceAll("$queue", ".*"),
          })),
        },
      ],
    };
    const file = join(h.scratch, "dashboard-rules.yml");
    writeFileSync(file, JSON.stringify(rules)); // JSON is YAML
    const check = promtool(T(), ["check", "rules", file]);
    assert.equal(check.code, 0, check.output);
  });
});

/** A queue with a dead-letter queue (redrive policy, 5 receives). */
async function queueWithDeadLetter() {
  const dlq = await h.createQueue();
  const RedrivePolicy = JSON.stringify({
    deadLetterTargetArn: await h.queueArn(dlq.url),
    maxReceiveCount: 5,
  });
  return { queue: await h.createQueue({ RedrivePolicy }), dlq };
}

/** A run that cannot reach its database (exit 1), publishing with `flags`. */
async function failingRun(queueName: string, flags: string[]): Promise<void> {
  const failed = await runCli(
    ["run", "--startup-wait", "0", ...flags],
    h.env(DATABASE_DOWN, queueName),
  );
  assert.equal(failed.code, 1, failed.stderr);
}

/**
 * An HTTP server answering /huge-error with a 500 and 64 MiB, /redirect with a 307, /echo with a
 * 401 quoting the credentials and the query it was sent.
 */
async function hostileServer(): Promise<{ port: number; close(): Promise<void> }> {
  const chunk = Buffer.alloc(1024 * 1024, "x");
  const server = createHttpServer((req, res) => {
    req.resume();
    if (req.url?.startsWith("/echo")) {
      res.writeHead(401).end(`unauthorized: ${req.headers.authorization} for ${req.url}`);
      return;
    }
    if (req.url?.startsWith("/redirect")) {
      res.writeHead(307, { Location: "https://elsewhere.invalid/" }).end();
      return;
    }
    res.writeHead(500, { "Content-Type": "text/plain" });
    let sent = 0;
    const more = () => {
      while (sent < 64 && res.write(chunk)) sent++;
      if (sent >= 64) res.end();
      else res.once("drain", more);
    };
    res.on("close", () => {
      sent = 64;
    });
    more();
  });
  return listening(server, () => server.closeAllConnections());
}

/** A TCP server that accepts connections and never answers them. */
async function silentServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<import("node:net").Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on("error", () => {});
  });
  return listening(server, () => {
    for (const s of sockets) s.destroy();
  });
}

/** The server listening on 127.0.0.1 (a port the OS picks); close() drops its connections. */
async function listening(
  server: Server,
  dropConnections: () => void,
): Promise<{ port: number; close(): Promise<void> }> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        dropConnections();
        server.close(() => resolve());
      }),
  };
}
