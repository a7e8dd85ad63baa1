// Bounded waiting for a dependency that may still be starting (docker compose up, a restarted
// database). Both Postgres and SQS use it, so the operator sees the same behaviour for both.
import { retry } from "./retry.js";

export interface WaitOptions {
  /** Give up after this long; 0 means try once. */
  seconds: number;
  /** Whether a failure is worth waiting out (connection refused: yes; bad password: no). */
  isTransient: (err: unknown) => boolean;
  onRetry: (err: Error, attempt: number) => void;
}

export function waitFor<T>(attempt: () => Promise<T>, options: WaitOptions): Promise<T> {
  return retry(attempt, {
    // The time limit is what bounds the wait; "try once" is zero retries.
    retries: options.seconds > 0 ? 10_000 : 0,
    maxRetrySeconds: options.seconds,
    minDelayMs: 250,
    maxDelayMs: 2_000,
    shouldRetry: options.isTransient,
    onRetry: options.onRetry,
  });
}
