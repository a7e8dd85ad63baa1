// The one retry policy: exponential backoff with jitter (p-retry), used for a batch transaction
// after a deadlock, for SQS delete entries that failed, and for waiting while Postgres or SQS
// start. Each caller says only how many retries (or how long) and which failures are worth one.
import pRetry from "p-retry";

export interface RetryOptions {
  /** Retries after the first attempt. */
  retries: number;
  /** Give up once this much time has passed since the first attempt, whatever `retries` says. */
  maxRetrySeconds?: number;
  /** Whether this failure is worth another attempt (a deadlock: yes; a bad password: no). */
  shouldRetry: (err: unknown) => boolean;
  /** Called before each retry, with the failure and the number of the attempt that failed. */
  onRetry?: (err: Error, attempt: number) => void;
  /** First pause; each next one doubles, up to `maxDelayMs`, each randomised by up to 2x. */
  minDelayMs?: number;
  maxDelayMs?: number;
}

export const RETRY_DEFAULTS = { minDelayMs: 50, maxDelayMs: 2_000 } as const;

export function retry<T>(attempt: (attemptNumber: number) => Promise<T>, options: RetryOptions) {
  return pRetry(attempt, {
    retries: options.retries,
    factor: 2,
    randomize: true,
    minTimeout: options.minDelayMs ?? RETRY_DEFAULTS.minDelayMs,
    maxTimeout: options.maxDelayMs ?? RETRY_DEFAULTS.maxDelayMs,
    // p-retry reads 0 as "no limit".
    ...(options.maxRetrySeconds === undefined
      ? {}
      : { maxRetryTime: Math.max(1, options.maxRetrySeconds * 1_000) }),
    shouldRetry: (err) => options.shouldRetry(err),
    // p-retry calls this for the last failure and for failures it will not retry too; only
    // announce real retries.
    onFailedAttempt: (err) => {
      if (err.retriesLeft > 0 && options.shouldRetry(err))
        options.onRetry?.(err, err.attemptNumber);
    },
  });
}
