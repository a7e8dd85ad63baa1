// Rows the database refuses: finding them by bisection, describing them, and the error for a
// systemic failure (the table refuses any row: a missing partition, a NOT NULL column the
// loader does not fill). Shared by `etl run` and `etl replay`.
import { DatabaseError, describeError, errorCode } from "../errors.js";
import { classifyDbFailure } from "./database.js";

export interface Refusal<T> {
  item: T;
  error: unknown;
}

export interface Isolated<T, R> {
  /** One result per attempt that succeeded. */
  results: R[];
  /** The single items the database refused, with its error. */
  refused: Refusal<T>[];
}

/** Refused because of the data (constraint, trigger, a value it cannot store), not the database. */
export function isRefusal(err: unknown): boolean {
  return classifyDbFailure(err) === "row";
}

/**
 * Try `attempt` on all the items; if the database refuses, split them in halves and try each,
 * down to single items. Every acceptable item still succeeds; one refused item costs about
 * 2·log2(n) extra attempts, and a batch refused throughout costs 2n−1. Any other error is thrown
 * at once: it is not about these items.
 */
export async function isolateRefusals<T, R>(
  items: readonly T[],
  attempt: (part: readonly T[]) => Promise<R>,
): Promise<Isolated<T, R>> {
  try {
    return { results: [await attempt(items)], refused: [] };
  } catch (error) {
    if (!isRefusal(error)) throw error;
    const [only] = items;
    if (items.length === 1 && only !== undefined)
      return { results: [], refused: [{ item: only, error }] };
    const middle = Math.ceil(items.length / 2);
    const left = await isolateRefusals(items.slice(0, middle), attempt);
    const right = await isolateRefusals(items.slice(middle), attempt);
    return {
      results: [...left.results, ...right.results],
      refused: [...left.refused, ...right.refused],
    };
  }
}

/** What a rejected message's detail says about its refusal: SQLSTATE and message, never err.detail (it can echo a whole row). */
export function refusalDetail(err: unknown): string {
  return `Postgres refused the row: SQLSTATE ${errorCode(err) ?? "none"}: ${describeError(err)}`.slice(
    0,
    500,
  );
}

/**
 * The error that stops a run whose table refuses even a neutral row the way it refused the
 * batch's (see PostgresSink's probe): the table is at fault, not the messages.
 */
export function systemicError(refusal: Refusal<unknown>, probeError: unknown): DatabaseError {
  const code = errorCode(refusal.error);
  const message = refusal.error instanceof Error ? refusal.error.message : String(refusal.error);
  return new DatabaseError(
    `Postgres refused rows (SQLSTATE ${code}: ${message}), and refused a neutral probe row the same ` +
      "way: that is the table, not the messages. Fix it (a missing partition, a NOT NULL column " +
      "the loader does not fill, a trigger that refuses everything) and run again. The refused " +
      "messages were not rejected; they stay in the queue.",
    { cause: probeError, code },
  );
}
