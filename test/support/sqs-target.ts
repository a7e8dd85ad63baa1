// Which SQS implementation the integration suite talks to, over HTTP in every case:
// - fauxqs (default): started in-process by each test file; needs nothing but Node;
// - moto or localstack: a server started outside (by test/with-sqs.ts, i.e. `npm run test:moto`,
//   `npm run test:localstack`, or .ci/run), named by ETL_TEST_SQS and ETL_TEST_SQS_ENDPOINT.
// A server that is not there fails every test that needs it (Harness.start throws in `before`).
import { DeleteQueueCommand, ListQueuesCommand, SQSClient } from "@aws-sdk/client-sqs";
import { type RunningSqs, startEmbeddedSqs } from "../../src/embedded/sqs.js";

export const SQS_KINDS = ["fauxqs", "moto", "localstack"] as const;
export type SqsKind = (typeof SQS_KINDS)[number];

export function sqsKind(env: NodeJS.ProcessEnv = process.env): SqsKind {
  const kind = env.ETL_TEST_SQS ?? "fauxqs";
  if (!(SQS_KINDS as readonly string[]).includes(kind)) {
    throw new Error(`ETL_TEST_SQS=${kind} is not one of ${SQS_KINDS.join(", ")}`);
  }
  return kind as SqsKind;
}

/**
 * How each server forgets the previous test file's queues: moto has a reset endpoint; LocalStack
 * run on the host has none (its state API is not in the community runtime), so every queue is
 * deleted. fauxqs starts empty in each file.
 */
const RESET: Record<Exclude<SqsKind, "fauxqs">, (endpoint: string) => Promise<void>> = {
  moto: async (endpoint) => {
    const response = await fetch(new URL("/moto-api/reset", endpoint), {
      method: "POST",
      signal: AbortSignal.timeout(10_000),
    });
    if (!response.ok) throw new Error(`POST /moto-api/reset answered HTTP ${response.status}`);
  },
  localstack: async (endpoint) => {
    const sqs = new SQSClient({
      region: "us-east-1",
      endpoint,
      credentials: { accessKeyId: "test", secretAccessKey: "test" },
    });
    try {
      const { QueueUrls = [] } = await sqs.send(new ListQueuesCommand({}));
      await Promise.all(
        QueueUrls.map((url) => sqs.send(new DeleteQueueCommand({ QueueUrl: url }))),
      );
    } finally {
      sqs.destroy();
    }
  },
};

export interface SqsTarget extends RunningSqs {
  kind: SqsKind;
}

export async function startSqsTarget(env: NodeJS.ProcessEnv = process.env): Promise<SqsTarget> {
  const kind = sqsKind(env);
  if (kind === "fauxqs") return { kind, ...(await startEmbeddedSqs()) };
  const endpoint = env.ETL_TEST_SQS_ENDPOINT;
  if (!endpoint) {
    throw new Error(
      `ETL_TEST_SQS=${kind} needs ETL_TEST_SQS_ENDPOINT (the running server); ` +
        `\`npm run test:${kind}\` starts one and sets both`,
    );
  }
  await reset(kind, endpoint);
  return { kind, endpoint, stop: async () => {} };
}

async function reset(kind: Exclude<SqsKind, "fauxqs">, endpoint: string): Promise<void> {
  try {
    await RESET[kind](endpoint);
  } catch (err) {
    throw new Error(
      `the ${kind} server at ${endpoint} could not be reset: ${(err as Error).message}`,
    );
  }
}
