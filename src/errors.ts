// Errors that carry enough context for an operator to act on, and the exit codes cron/CI see.

export const ExitCode = {
  /** Drained (or stopped at a limit); everything received was committed or rejected, and deleted. */
  OK: 0,
  /** Runtime failure: database or SQS unreachable after retries, a commit failed, deletes failed. */
  FAILURE: 1,
  /** Usage or configuration error: nothing was received from the queue. */
  USAGE: 2,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** Invalid or missing configuration. The message names the setting and the fix. */
export class ConfigError extends Error {
  override name = "ConfigError";
  readonly exitCode = ExitCode.USAGE;
}

export interface SqsContext {
  operation: string;
  queueUrl?: string | undefined;
  endpoint?: string | undefined;
}

/** An SQS call that failed after the SDK's own retries. */
export class SqsError extends Error {
  override name = "SqsError";
  readonly exitCode: ExitCode = ExitCode.FAILURE;
  readonly context: SqsContext;
  constructor(message: string, context: SqsContext, options?: { cause?: unknown }) {
    super(message, options);
    this.context = context;
  }
}

/** No AWS credentials, or credentials AWS refuses or that may not use the queue: configuration. */
export class SqsAccessError extends SqsError {
  override name = "SqsAccessError";
  override readonly exitCode = ExitCode.USAGE;
}

/** The queue does not exist: almost always a wrong name, URL, region or endpoint. */
export class QueueNotFoundError extends SqsError {
  override name = "QueueNotFoundError";
  override readonly exitCode = ExitCode.USAGE;
}

/**
 * A database failure that ends the run: connection lost or commit failed (exit 1), or a set-up
 * the operator must fix first, such as a schema this role may not create (exit 2).
 */
export class DatabaseError extends Error {
  override name = "DatabaseError";
  readonly exitCode: ExitCode;
  readonly code: string | undefined;
  constructor(
    message: string,
    options?: { cause?: unknown; code?: string | undefined; exitCode?: ExitCode },
  ) {
    super(message, options);
    this.code = options?.code;
    this.exitCode = options?.exitCode ?? ExitCode.FAILURE;
  }
}

export function exitCodeOf(err: unknown): ExitCode {
  if (err instanceof ConfigError || err instanceof SqsError || err instanceof DatabaseError) {
    return err.exitCode;
  }
  return ExitCode.FAILURE;
}

/** The code a failure carries: a Postgres SQLSTATE ("40P01") or a Node socket code ("ECONNRESET"). */
export function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null | undefined)?.code;
  return typeof code === "string" ? code : undefined;
}

/** A one-line, secret-free description of any thrown value. */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = errorCode(err);
    return code !== undefined && !err.message.includes(code)
      ? `${err.message} (${code})`
      : err.message;
  }
  return String(err);
}
