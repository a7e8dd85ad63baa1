// Building the SQS client and finding the queue. Queue URLs differ between AWS, LocalStack and
// emulators, so unless the user gives a URL we always ask GetQueueUrl for it.
import {
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  QueueDoesNotExist,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { type Config, redactUrl } from "../config.js";
import { describeError, QueueNotFoundError, SqsAccessError, SqsError } from "../errors.js";
import type { Logger } from "../logger.js";
import { waitFor } from "../startup-wait.js";

type ClientConfig = Pick<Config, "region" | "sqsEndpoint" | "waitTimeSeconds" | "concurrency">;

export function createSqsClient(config: ClientConfig, env: NodeJS.ProcessEnv = process.env) {
  // LocalStack and emulators accept any credentials; the convention is test/test. Against real
  // AWS (no endpoint) the SDK's default chain (env, profile, SSO, instance role) is used.
  const useLocalCredentials =
    config.sqsEndpoint !== undefined && !env.AWS_ACCESS_KEY_ID && !env.AWS_PROFILE;
  const client = new SQSClient({
    region: config.region,
    ...(config.sqsEndpoint ? { endpoint: config.sqsEndpoint } : {}),
    ...(useLocalCredentials
      ? { credentials: { accessKeyId: "test", secretAccessKey: "test" } }
      : {}),
    // Standard mode retries throttling and 5xx with backoff; a few more attempts than the
    // default 3 ride out a brief endpoint hiccup without failing a whole cron run.
    maxAttempts: 5,
    requestHandler: {
      connectionTimeout: 5_000,
      // A long poll legitimately takes waitTimeSeconds; anything much longer is a hung socket.
      requestTimeout: (config.waitTimeSeconds + 15) * 1_000,
    },
    // The SDK re-hashes every received body with MD5 to compare with MD5OfBody. HTTPS already
    // guarantees integrity in transit, and the profile showed ~7% of the run's CPU here.
    md5: false,
  });
  // The logger middleware filters every request and response for sensitive fields even when no
  // logger is configured; we never give the SDK a logger, so it is pure cost (see bench/).
  client.middlewareStack.remove("loggerMiddleware");
  return client;
}

/** The endpoint a client talks to, for error messages. */
export function endpointLabel(config: Pick<Config, "sqsEndpoint" | "region">): string {
  const endpoint = config.sqsEndpoint;
  if (!endpoint) return `AWS SQS (${config.region})`;
  // Shown in logs and errors: an endpoint URL may carry credentials or a token like any other.
  const u = new URL(endpoint);
  return u.username || u.password || u.search || u.hash
    ? redactUrl(endpoint, { hideUser: true })
    : endpoint;
}

/**
 * The queue URL: looked up by name (GetQueueUrl), or, when given, confirmed to exist
 * (GetQueueAttributes; a role without that permission is trusted as given). Waits up to
 * startupWaitSeconds for an endpoint that does not answer yet (a LocalStack container still
 * starting); a queue that does not exist and credentials that are missing or refused are
 * configuration errors (exit 2) and are not waited for.
 */
export async function resolveQueueUrl(
  client: SQSClient,
  config: Pick<Config, "queueUrl" | "queueName" | "sqsEndpoint" | "region" | "startupWaitSeconds">,
  logger: Logger,
): Promise<string> {
  const endpoint = endpointLabel(config);
  const { queueUrl } = config;
  const operation = queueUrl ? "GetQueueAttributes" : "GetQueueUrl";
  const queue = queueUrl ?? `"${config.queueName}"`;
  try {
    return await waitFor(
      async () => {
        try {
          return queueUrl
            ? await confirmQueueUrl(client, queueUrl)
            : await lookUpQueueUrl(client, config.queueName);
        } catch (err) {
          throw asStartupError(err, { operation, endpoint, queue });
        }
      },
      {
        seconds: config.startupWaitSeconds,
        isTransient: (err) => !(err instanceof SqsError) && isTransient(err),
        onRetry: (err, attempt) =>
          logger.warn({ attempt, endpoint }, `waiting for SQS: ${describeError(err)}`),
      },
    );
  } catch (err) {
    if (err instanceof SqsError) throw err;
    throw new SqsError(
      `Cannot reach SQS at ${endpoint}: ${describeError(err)}. Check SQS_ENDPOINT, AWS_REGION and ` +
        "credentials, and that the service is up.",
      { operation, endpoint },
      { cause: err },
    );
  }
}

async function lookUpQueueUrl(client: SQSClient, queueName: string): Promise<string> {
  const out = await client.send(new GetQueueUrlCommand({ QueueName: queueName }));
  if (!out.QueueUrl) throw new Error("GetQueueUrl returned no QueueUrl");
  return out.QueueUrl;
}

async function confirmQueueUrl(client: SQSClient, queueUrl: string): Promise<string> {
  try {
    await client.send(
      new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["QueueArn"] }),
    );
  } catch (err) {
    // `run` needs no GetQueueAttributes permission (README "IAM"): then take the URL as given.
    if (errorName(err) !== "AccessDenied" && errorName(err) !== "AccessDeniedException") throw err;
  }
  return queueUrl;
}

/** Errors that no start-up wait can fix, as configuration errors naming the fix; others as they are. */
function asStartupError(
  err: unknown,
  where: { operation: string; endpoint: string; queue: string },
): unknown {
  const context = { operation: where.operation, endpoint: where.endpoint };
  const name = errorName(err);
  if (isQueueMissing(err)) {
    return new QueueNotFoundError(
      `Queue ${where.queue} does not exist at ${where.endpoint}. Create it, or set ` +
        "SQS_QUEUE_NAME / SQS_QUEUE_URL (and AWS_REGION / SQS_ENDPOINT) to the right one.",
      context,
      { cause: err },
    );
  }
  if (name === "CredentialsProviderError") {
    return new SqsAccessError(
      `No AWS credentials: the SDK's default chain (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, ` +
        "AWS_PROFILE and the ~/.aws files, SSO, web identity, a container or instance role) " +
        `found none (${describeError(err)}). Provide one of them; for LocalStack set SQS_ENDPOINT.`,
      context,
      { cause: err },
    );
  }
  if (REFUSED_CREDENTIALS.has(name)) {
    return new SqsAccessError(
      `${where.endpoint} refused the AWS credentials (${name}): check AWS_ACCESS_KEY_ID / ` +
        "AWS_SECRET_ACCESS_KEY or AWS_PROFILE, and that they belong to the queue's account.",
      context,
      { cause: err },
    );
  }
  if (name === "AccessDenied" || name === "AccessDeniedException") {
    return new SqsAccessError(
      `The AWS credentials may not call ${where.operation} on queue ${where.queue}: grant the ` +
        'IAM policy in the README ("IAM: the least SQS permissions").',
      context,
      { cause: err },
    );
  }
  return err;
}

/** Error names AWS gives credentials it does not accept (unknown key, bad secret, expired). */
const REFUSED_CREDENTIALS = new Set([
  "InvalidClientTokenId",
  "UnrecognizedClientException",
  "SignatureDoesNotMatch",
  "IncompleteSignature",
  "InvalidAccessKeyId",
  "ExpiredToken",
  "ExpiredTokenException",
]);

function errorName(err: unknown): string {
  const name = (err as { name?: unknown } | null)?.name;
  return typeof name === "string" ? name : "";
}

export function isQueueMissing(err: unknown): boolean {
  if (err instanceof QueueDoesNotExist) return true;
  const name = (err as { name?: unknown; Code?: unknown })?.name;
  return (
    name === "QueueDoesNotExist" ||
    name === "AWS.SimpleQueueService.NonExistentQueue" ||
    (err as { Code?: unknown })?.Code === "AWS.SimpleQueueService.NonExistentQueue"
  );
}

/** Network errors and 5xx are worth waiting out at start-up; auth and validation errors are not. */
export function isTransient(err: unknown): boolean {
  const e = err as { $metadata?: { httpStatusCode?: number }; code?: string; name?: string };
  const status = e?.$metadata?.httpStatusCode;
  if (status !== undefined) return status >= 500 || status === 429;
  return true; // no HTTP response at all: connection refused, reset, DNS, timeout
}
