// `etl init-queue`: create the queue and its dead-letter queue with a redrive policy, as the
// LocalStack init hook does, for any SQS endpoint (AWS, moto, fauxqs). Safe to run again.
import { defineCommand, wholeNumber } from "../command-spec.js";
import type { Config } from "../config.js";
import { ConfigError, describeError, ExitCode, SqsError } from "../errors.js";
import type { Logger } from "../logger.js";
import {
  defaultDeadLetterQueueName,
  queueNamesProblem,
  setUpQueues,
} from "../source/queue-setup.js";
import { createSqsClient, endpointLabel, isTransient } from "../source/sqs-client.js";
import { waitFor } from "../startup-wait.js";
import { printJson, printLines } from "./output.js";

export const command = defineCommand({
  settings: ["queue", "common"],
  flags: {
    dlq: { arg: "<name>", help: "dead-letter queue name (default: <queue>-dlq)" },
    maxReceiveCount: {
      arg: "<n>",
      help: "receives before a message moves to the DLQ",
      default: "5",
      parse: wholeNumber(1, 1000),
    },
    json: { help: "machine-readable output" },
  },
  help: `For an SQS endpoint where no init script ran (AWS, moto, fauxqs). Creates what is missing and
changes nothing else: an existing redrive policy that differs is reported, not replaced.`,
  examples: [
    "npx etl init-queue --endpoint http://localhost:4566",
    "npx etl init-queue --queue login-queue --max-receive-count 10",
  ],
  async handler({ config, logger, flags }) {
    await initQueue(config, logger, {
      deadLetterQueueName: flags.dlq,
      maxReceiveCount: flags.maxReceiveCount,
      json: flags.json,
    });
    return ExitCode.OK;
  },
});

export interface InitQueueOptions {
  /** Default: `<queue>-dlq` (`<name>-dlq.fifo` for a FIFO queue). */
  deadLetterQueueName: string | undefined;
  maxReceiveCount: number;
  json: boolean;
}

export async function initQueue(
  config: Config,
  logger: Logger,
  options: InitQueueOptions,
): Promise<void> {
  const request = {
    queueName: config.queueName,
    deadLetterQueueName:
      options.deadLetterQueueName ?? defaultDeadLetterQueueName(config.queueName),
    maxReceiveCount: options.maxReceiveCount,
  };
  const problem = queueNamesProblem(request);
  if (problem) throw new ConfigError(`${problem}; nothing was created`);
  const endpoint = endpointLabel(config);
  const sqs = createSqsClient(config);
  try {
    const result = await waitFor(() => setUpQueues(sqs, request), {
      seconds: config.startupWaitSeconds,
      isTransient,
      onRetry: (err, attempt) =>
        logger.warn({ attempt, endpoint }, `waiting for SQS: ${describeError(err)}`),
    }).catch((err: unknown) => {
      throw new SqsError(
        `Could not set up ${config.queueName} at ${endpoint}: ${describeError(err)}. Check ` +
          "SQS_ENDPOINT, AWS_REGION and credentials (CreateQueue, GetQueueUrl, " +
          "GetQueueAttributes and SetQueueAttributes are needed).",
        { operation: "CreateQueue", endpoint },
        { cause: err },
      );
    });
    if (options.json) return printJson(result);
    const state = (created: boolean) => (created ? "created" : "exists ");
    const { queue, deadLetterQueue: dlq, redrive } = result;
    printLines(
      `dead-letter queue  ${state(dlq.created)}  ${dlq.url}`,
      `queue              ${state(queue.created)}  ${queue.url}`,
      redrive.state === "different"
        ? `redrive policy     left as it is: ${redrive.existing} (differs from the requested ` +
            `${request.deadLetterQueueName} after ${options.maxReceiveCount} receives)`
        : `redrive policy     ${redrive.state === "set" ? "set    " : "in place"}  to ` +
            `${dlq.name} after ${redrive.maxReceiveCount} receives`,
    );
  } finally {
    sqs.destroy();
  }
}
