// Building the SQS client and finding the queue. Queue URLs differ between AWS, LocalStack and
// emulators, so unless the user gives a URL we always ask GetQueueUrl for it.
import { GetQueueUrlCommand, QueueDoesNotExist, SQSClient } from "@aws-sdk/client-sqs";
import type { Config } from "../config.js";
import { describeError, QueueNotFoundError, SqsError } from "../errors.js";
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
  return config.sqsEndpoint ?? `AWS SQS (${config.region})`;
}

/**
 * Resolve the queue URL, waiting up to startupWaitSeconds for the endpoint to answer (a
 * LocalStack container that is still starting refuses connections for a while).
 */
export async function resolveQueueUrl(
  client: SQSClient,
  config: Pick<Config, "queueUrl" | "queueName" | "sqsEndpoint" | "region" | "startupWaitSeconds">,
  logger: Logger,
): Promise<string> {
  if (config.queueUrl) return config.queueUrl;
  const endpoint = endpointLabel(config);
  try {
    return await waitFor(
      async () => {
        try {
          const out = await client.send(new GetQueueUrlCommand({ QueueName: config.queueName }));
          if (!out.QueueUrl) throw new Error("GetQueueUrl returned no QueueUrl");
          return out.QueueUrl;
        } catch (err) {
          if (isQueueMissing(err)) {
            throw new QueueNotFoundError(
              `Queue "${config.queueName}" does not exist at ${endpoint}. Create it, or set ` +
                "SQS_QUEUE_NAME / SQS_QUEUE_URL (and AWS_REGION / SQS_ENDPOINT) to the right one.",
              { operation: "GetQueueUrl", endpoint },
            );
          }
          throw err;
        }
      },
      {
        seconds: config.startupWaitSeconds,
        isTransient: (err) => !(err instanceof QueueNotFoundError) && isTransient(err),
        onRetry: (err, attempt) =>
          logger.warn({ attempt, endpoint }, `waiting for SQS: ${describeError(err)}`),
      },
    );
  } catch (err) {
    if (err instanceof SqsError) throw err;
    throw new SqsError(
      `Cannot reach SQS at ${endpoint}: ${describeError(err)}. Check SQS_ENDPOINT, AWS_REGION and ` +
        "credentials, and that the service is up.",
      { operation: "GetQueueUrl", endpoint },
      { cause: err },
    );
  }
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
