import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { loadConfig, redactUrl, settingsFromFlags } from "../../src/config.js";
import { ConfigError } from "../../src/errors.js";

const KEY = "k".repeat(32);

describe("loadConfig", () => {
  test("defaults match the docker-compose setup", () => {
    const c = loadConfig({}, { PII_HASH_KEY: KEY });
    assert.equal(c.queueName, "login-queue");
    assert.equal(c.region, "us-east-1");
    assert.equal(c.databaseUrl, "postgres://postgres:postgres@localhost:5432/postgres");
    assert.equal(c.sqsEndpoint, undefined);
    assert.equal(c.logLevel, "info");
    assert.equal(c.maxMessages, undefined);
    assert.equal(c.dryRun, false);
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

  test("the key is required for commands that mask, and must be at least 32 bytes", () => {
    assert.throws(() => loadConfig({}, {}), /PII_HASH_KEY is not set/);
    assert.throws(
      () => loadConfig({}, { PII_HASH_KEY: "x".repeat(31) }),
      /31 bytes; it must be at least 32/,
    );
    assert.equal(loadConfig({}, {}, { requireKey: false }).piiHashKey, undefined);
    // Bytes, not characters: 11 three-byte characters are 33 bytes.
    assert.equal(loadConfig({}, { PII_HASH_KEY: "€".repeat(11) }).piiHashKey?.length, 33);
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
});

describe("settingsFromFlags", () => {
  test("maps every commander flag name to its setting, including renamed ones", () => {
    const flags = {
      endpoint: "http://localhost:4566",
      queue: "q",
      queueUrl: "http://x/1/q",
      databaseUrl: "postgres://d",
      batchSize: "5",
      maxRuntime: "60",
      startupWait: "3",
      dryRun: true,
      json: true, // a command's own flag: not a setting, ignored
    };
    assert.deepEqual(settingsFromFlags(flags), {
      sqsEndpoint: "http://localhost:4566",
      queueName: "q",
      queueUrl: "http://x/1/q",
      databaseUrl: "postgres://d",
      batchSize: "5",
      maxRuntimeSeconds: "60",
      startupWaitSeconds: "3",
      dryRun: true,
    });
  });
});
