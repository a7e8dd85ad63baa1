import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { Option } from "commander";
import { flagName, parseDecimal, wholeNumber } from "../../src/command-spec.js";
import { COMMANDS, type CommandEntry } from "../../src/commands/index.js";
import {
  clearEmptySettings,
  configWarnings,
  loadConfig,
  redactUrl,
  SETTINGS,
  settingsOf,
} from "../../src/config.js";
import { ConfigError } from "../../src/errors.js";

const KEY = "ef6ee28d1c09d0591b9869ed0584898981a34b8efde8dd34e0b4865289ebe644";

describe("loadConfig", () => {
  test("defaults match the docker-compose setup", () => {
    const c = loadConfig({}, { PII_HASH_KEY: KEY });
    assert.equal(c.queueName, "login-queue");
    assert.equal(c.region, "us-east-1");
    assert.equal(c.databaseUrl, "postgres://postgres:postgres@localhost:5432/postgres");
    assert.equal(c.sqsEndpoint, undefined);
    assert.equal(c.logLevel, "info");
    assert.equal(c.maxMessages, undefined);
    assert.deepEqual(c.piiHashKey, Buffer.from(KEY));
  });

  test("a flag beats the environment, which beats the default", () => {
    const env = { PII_HASH_KEY: KEY, ETL_BATCH_SIZE: "50", SQS_QUEUE_NAME: "from-env" };
    const c = loadConfig({ batchSize: "75" }, env);
    assert.equal(c.batchSize, 75);
    assert.equal(c.queueName, "from-env");
    assert.equal(c.concurrency, 8);
  });

  test("an empty environment variable counts as unset", () => {
    const c = loadConfig({}, { PII_HASH_KEY: KEY, SQS_ENDPOINT: "" });
    assert.equal(c.sqsEndpoint, undefined);
  });

  test("invalid values name the setting where they came from, and the fix", () => {
    assert.throws(
      () => loadConfig({ concurrency: "lots" }, { PII_HASH_KEY: KEY }),
      (e: unknown) =>
        e instanceof ConfigError &&
        /^Invalid configuration: --concurrency must be a whole number from 1 to 64 \(got "lots"\)\. Fix --concurrency or ETL_CONCURRENCY\.$/.test(
          e.message,
        ),
    );
    assert.throws(
      () => loadConfig({}, { PII_HASH_KEY: KEY, ETL_WAIT_TIME_SECONDS: "21" }),
      /ETL_WAIT_TIME_SECONDS must be a whole number from 1 to 20/,
    );
    assert.throws(
      () => loadConfig({}, { PII_HASH_KEY: KEY, SQS_ENDPOINT: "localhost" }),
      /SQS_ENDPOINT must be a URL/,
    );
    assert.throws(
      () => loadConfig({}, { PII_HASH_KEY: KEY, AWS_REGION: "mars" }),
      /AWS_REGION must be an AWS region/,
    );
    assert.throws(
      () => loadConfig({}, { PII_HASH_KEY: KEY, LOG_LEVEL: "loud" }),
      /LOG_LEVEL must be one of/,
    );
  });

  test("a bad DATABASE_URL is reported without echoing it (it may hold a password)", () => {
    assert.throws(
      () => loadConfig({}, { PII_HASH_KEY: KEY, DATABASE_URL: "mysql://u:hunter2@db/x" }),
      (e: unknown) =>
        e instanceof ConfigError &&
        !e.message.includes("hunter2") &&
        /DATABASE_URL/.test(e.message),
    );
  });

  test("the key is required for commands that mask, and must carry 256 bits", () => {
    assert.throws(() => loadConfig({}, {}), /PII_HASH_KEY is not set/);
    assert.equal(loadConfig({}, {}, { requireKey: false }).piiHashKey, undefined);
    // Entropy by alphabet, not bytes: 32 hex characters are 128 bits, whatever their byte count.
    const weak: [string, RegExp][] = [
      [KEY.slice(0, 32), /32 hex characters carry at most 128 bits.*64 hex/],
      ["x".repeat(64), /repeats itself/],
      ["€".repeat(50), /repeats itself/],
      ["ab".repeat(3), /carry at most 24 bits/],
      [
        "q8Vt0fQm3x9LwZpR2bYc7HsN4kJ6eGd1",
        /32 base64 characters carry at most 192 bits.*43 base64/,
      ],
    ];
    for (const [key, message] of weak) {
      assert.throws(() => loadConfig({}, { PII_HASH_KEY: key }), message, key);
    }
    assert.equal(loadConfig({}, { PII_HASH_KEY: KEY }).piiHashKey?.toString(), KEY);
    const base64 = "q8Vt0fQm3x9LwZpR2bYc7HsN4kJ6eGd1aUiOo5TrXy=";
    assert.equal(loadConfig({}, { PII_HASH_KEY: base64 }).piiHashKey?.length, base64.length);
    // Used byte for byte, never decoded: upper-case hex is a different key (the fingerprint
    // recorded in the database catches the change; see key-epochs).
    assert.notDeepEqual(
      loadConfig({}, { PII_HASH_KEY: KEY.toUpperCase() }).piiHashKey,
      loadConfig({}, { PII_HASH_KEY: KEY }).piiHashKey,
    );
  });

  test("whitespace around the key is refused, with the usual cause named", () => {
    for (const padded of [`${KEY}\n`, `${KEY}\r\n`, ` ${KEY}`, `${KEY}\t`]) {
      assert.throws(
        () => loadConfig({}, { PII_HASH_KEY: padded }),
        /starts or ends with whitespace \(a trailing newline from a secret file/,
      );
    }
  });
});

describe("redactUrl", () => {
  test("hides the password and keeps the rest", () => {
    assert.equal(
      redactUrl("postgres://app:s3cret@db:5432/prod"),
      "postgres://app:***@db:5432/prod",
    );
    assert.equal(redactUrl("postgres://db/prod"), "postgres://db/prod");
    assert.equal(redactUrl("::not a url"), "<unparseable url>");
  });

  test("hides every secret a connection URL can carry, in any spelling pg accepts", () => {
    const secret = "s3cr%40t";
    const forms = [
      `postgres://app@db/prod?password=${secret}`,
      `postgres://app@db/prod?sslmode=require&sslpassword=${secret}`,
      `postgres://app@db/prod?PassWord=${secret}&password=${secret}`,
      `postgres://app@db/prod?sslkey=/k/${secret}&options=-c%20x%3D${secret}`,
      `postgresql://app:${secret}@db/prod#${secret}`,
      // An unencoded '/' in the password: URL and pg read the rest as the path.
      `postgres://app:/${secret}@db.internal/prod`,
      `postgres://u:1234/${secret}@h/db`,
    ];
    for (const url of forms) {
      const shown = redactUrl(url);
      assert.ok(!shown.includes("s3cr"), `${url} → ${shown}`);
      assert.match(shown, /\*\*\*/);
    }
    assert.equal(
      redactUrl("postgres://db/prod?sslmode=require&application_name=etl&password=x"),
      "postgres://db/prod?sslmode=require&application_name=etl&password=***",
    );
  });

  test("a password in --database-url draws a warning; one in the environment does not", () => {
    assert.equal(configWarnings({ databaseUrl: "postgres://app:pw@db/prod" }).length, 1);
    assert.equal(configWarnings({ databaseUrl: "postgres://app@db/prod?password=pw" }).length, 1);
    assert.deepEqual(configWarnings({ databaseUrl: "postgres://app@db/prod" }), []);
    assert.deepEqual(configWarnings({}), []);
    const [push] = configWarnings({ pushgatewayUrl: "http://ops:pw@pushgateway:9091" });
    assert.match(String(push), /--pushgateway-url carries a password.*ETL_PUSHGATEWAY_URL/);
    assert.doesNotMatch(String(push), /pw@/);
    // A bare token may stand as the user name, or in any parameter.
    assert.equal(configWarnings({ pushgatewayUrl: "http://glc_T0KEN@pushgateway:9091" }).length, 1);
    assert.equal(configWarnings({ pushgatewayUrl: "http://pushgateway:9091/?token=t" }).length, 1);
    assert.deepEqual(configWarnings({ pushgatewayUrl: "http://pushgateway:9091" }), []);
    assert.equal(redactUrl("http://glc_T0KEN@pg:9091/", { hideUser: true }), "http://***@pg:9091/");
  });

  test("metrics settings: a *.prom file, an http(s) Pushgateway whose password is never echoed", () => {
    const ok = loadConfig(
      { metricsFile: "/var/lib/node_exporter/etl.prom" },
      { PII_HASH_KEY: KEY, ETL_PUSHGATEWAY_URL: "https://pg.example:9091" },
    );
    assert.equal(ok.metricsFile, "/var/lib/node_exporter/etl.prom");
    assert.equal(ok.pushgatewayUrl, "https://pg.example:9091");
    assert.throws(
      () => loadConfig({ metricsFile: "/tmp/etl.txt" }, { PII_HASH_KEY: KEY }),
      /--metrics-file must end in \.prom/,
    );
    assert.throws(
      () => loadConfig({}, { PII_HASH_KEY: KEY, ETL_PUSHGATEWAY_URL: "ftp://u:secret@x/" }),
      (err: Error) =>
        /ETL_PUSHGATEWAY_URL must be an http/.test(err.message) && !/secret/.test(err.message),
    );
  });
});

describe("settings and command flags, declared once", () => {
  const settings = Object.values(SETTINGS);

  test("every setting has its own flag and variable, and the README's table lists each", () => {
    const readme = readFileSync(new URL("../../../README.md", import.meta.url), "utf8");
    assert.equal(new Set(settings.map((s) => s.flag)).size, settings.length);
    assert.equal(new Set(settings.map((s) => s.env)).size, settings.length);
    for (const s of settings) {
      assert.match(readme, new RegExp(`\\| \`${s.env}\` \\| \`${s.flag}\` \\|`), s.env);
    }
  });

  test("a command reads only its own settings: a bad one it does not take is not an error", () => {
    const env = { ETL_BATCH_SIZE: "not a number", DATABASE_URL: "postgres://db/x" };
    const c = loadConfig({}, env, { requireKey: false, groups: ["database", "common"] });
    assert.equal(c.databaseUrl, "postgres://db/x");
    assert.equal(c.batchSize, 200, "a setting outside the groups keeps its default");
    assert.throws(() => loadConfig({}, env, { requireKey: false }), /ETL_BATCH_SIZE/);
    assert.equal(
      loadConfig({}, { PII_HASH_KEY: "short" }, { requireKey: false }).piiHashKey,
      undefined,
      "a command that does not mask never reads the key",
    );
  });

  test("a command's own default sits between the environment and the global default", () => {
    const options = { requireKey: false, defaults: { logLevel: "warn" as const } };
    assert.equal(loadConfig({}, {}, options).logLevel, "warn");
    assert.equal(loadConfig({}, { LOG_LEVEL: "debug" }, options).logLevel, "debug");
  });

  test("each command's flags are distinct from its settings' flags and keep their key's name", async () => {
    for (const [name, entry] of Object.entries(COMMANDS) as [string, CommandEntry][]) {
      const { command } = await entry.load();
      const settingFlags = settingsOf(command.settings).map((s): string => SETTINGS[s].flag);
      for (const [key, flag] of Object.entries(command.flags)) {
        const option = new Option(`${flagName(key)}${flag.arg ? ` ${flag.arg}` : ""}`, flag.help);
        assert.equal(option.attributeName(), key, `${name} ${flagName(key)}`);
        assert.ok(
          !settingFlags.includes(flagName(key)),
          `${name} ${flagName(key)} shadows a setting`,
        );
      }
      assert.ok(command.examples.length > 0, `${name} has an example`);
    }
  });
});

describe("whole numbers, from flags and the environment", () => {
  test("only decimal digits count: no hex, exponent, sign, fraction or empty string", () => {
    assert.equal(parseDecimal("42"), 42);
    assert.equal(parseDecimal(" 4 "), 4);
    for (const raw of ["0x10", "1e3", "-1", "+1", "1.0", "", " ", "4 4", "１２"]) {
      assert.ok(Number.isNaN(parseDecimal(raw)), `"${raw}" is not a whole number`);
    }
  });

  test("flags and settings share the rule", () => {
    assert.throws(() => wholeNumber(1)("1e3", "--limit"), ConfigError);
    assert.throws(
      () => loadConfig({ batchSize: "0x10" }, {}, { requireKey: false }),
      /--batch-size/,
    );
    assert.throws(
      () => loadConfig({}, { ETL_BATCH_SIZE: "1e2" }, { requireKey: false }),
      /ETL_BATCH_SIZE/,
    );
  });
});

describe("empty variables", () => {
  test("clearEmptySettings removes empty settings and the key, and nothing else", () => {
    const env: NodeJS.ProcessEnv = {
      SQS_QUEUE_NAME: "",
      PII_HASH_KEY: "",
      HOME: "",
      LOG_LEVEL: "debug",
    };
    clearEmptySettings(env);
    assert.deepEqual(env, { HOME: "", LOG_LEVEL: "debug" });
  });
});

describe("weak or mangled keys", () => {
  test("repeated blocks, runs, invisible characters and wrapping quotes are refused", () => {
    const cases: [string, RegExp][] = [
      ["0123456789abcdef".repeat(4), /repeats itself/],
      ["password123".repeat(4), /repeats itself/],
      ["abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", /run of consecutive characters/],
      [`${KEY}\u200b`, /invisible character/],
      [`${KEY.slice(0, 32)}\u00a0${KEY.slice(32)}`, /invisible character/],
      [`"${KEY}"`, /wrapped in quotes/],
      [`'${KEY}'`, /wrapped in quotes/],
    ];
    for (const [key, message] of cases) {
      assert.throws(() => loadConfig({}, { PII_HASH_KEY: key }), message, JSON.stringify(key));
    }
  });

  test("keys as keygen makes them always pass", () => {
    for (let i = 0; i < 200; i++) {
      const key = randomBytes(32).toString("hex");
      assert.equal(loadConfig({}, { PII_HASH_KEY: key }).piiHashKey?.toString(), key);
    }
  });
});
