// Rows the database refuses: finding them by bisection, describing them, and telling a poison
// message (one bad row) from a systemic failure (every row refused the same way: a missing
// partition, a NOT NULL column the loader does not fill). Shared by `etl run` and `etl replay`.
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

/** The fewest refusals, all alike and with nothing loaded beside them, that make a batch systemic. */
export const SYSTEMIC_MIN_REFUSALS = 2;

/**
 * A DatabaseError when the refusals look systemic: at least SYSTEMIC_MIN_REFUSALS, every one with
 * the same SQLSTATE and message, and not a single row of the batch loaded. Rejecting them one by
 * one would move the whole queue into the rejected messages; stopping leaves them in the queue
 * for after the table is fixed. Undefined for ordinary poison messages.
 */
export function systemicFailure(
  refused: readonly Refusal<unknown>[],
  loaded: number,
): DatabaseError | undefined {
  const [first] = refused;
  if (first === undefined || refused.length < SYSTEMIC_MIN_REFUSALS || loaded > 0) return undefined;
  const signature = (err: unknown) => `${errorCode(err)}\n${describeError(err)}`;
  const expected = signature(first.error);
  if (!refused.every((r) => signature(r.error) === expected)) return undefined;
  return new DatabaseError(
    `Postgres refused all ${refused.length} rows of a batch with the same error ` +
      `(SQLSTATE ${errorCode(first.error)}: ${describeError(first.error)}). ` +
      "That is the table, not the messages: fix it (a missing partition, constraint or column) and run again. " +
      "Nothing was rejected; the messages stay in the queue.",
    { cause: first.error, code: errorCode(first.error) },
  );
}
