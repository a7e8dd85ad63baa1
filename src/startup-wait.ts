// Bounded waiting for a dependency that may still be starting (docker compose up, a restarted
// database). Both Postgres and SQS use it, so the operator sees the same behaviour for both.
import pRetry from "p-retry";

export interface WaitOptions {
  /** Give up after this long; 0 means try once. */
  seconds: number;
  /** Whether a failure is worth waiting out (connection refused: yes; bad password: no). */
  isTransient: (err: unknown) => boolean;
  onRetry: (err: Error, attempt: number) => void;
}

export function waitFor<T>(attempt: () => Promise<T>, options: WaitOptions): Promise<T> {
  return pRetry(attempt, {
    // p-retry treats maxRetryTime 0 as "no limit", so "try once" is spelled as zero retries.
    retries: options.seconds > 0 ? 10_000 : 0,
    minTimeout: 250,
    maxTimeout: 2_000,
    maxRetryTime: options.seconds * 1_000,
    shouldRetry: (err) => options.isTransient(err),
    // p-retry reports the final, non-retried failure here too; only announce real retries.
    onFailedAttempt: (err) => {
      if (err.retriesLeft > 0 && options.isTransient(err)) options.onRetry(err, err.attemptNumber);
    },
  });
}
