// Which SQS implementation the integration suite talks to, over HTTP in every case:
// - fauxqs (default): started in-process by each test file; needs nothing but Node;
// - moto or localstack: a server started outside (by test/with-sqs.ts, i.e. `npm run test:moto`,
//   `npm run test:localstack`, or .ci/run), named by ETL_TEST_SQS and ETL_TEST_SQS_ENDPOINT.
// A server that is not there fails every test that needs it (Harness.start throws in `before`).
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

/** How each server is told to forget everything between test files. */
const RESET: Record<Exclude<SqsKind, "fauxqs">, { path: string; method: string }> = {
  moto: { path: "/moto-api/reset", method: "POST" },
  localstack: { path: "/_localstack/state/sqs/reset", method: "POST" },
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
  const { path, method } = RESET[kind];
  let response: Response;
  try {
    response = await fetch(new URL(path, endpoint), {
      method,
      signal: AbortSignal.timeout(10_000),
    });
  } catch (err) {
    throw new Error(`the ${kind} server at ${endpoint} does not answer: ${(err as Error).message}`);
  }
  if (!response.ok) {
    throw new Error(`resetting ${kind} at ${endpoint} failed: HTTP ${response.status}`);
  }
}
