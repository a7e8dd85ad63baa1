// The one way login-etl runs a transaction: BEGIN, the body, COMMIT; on failure ROLLBACK. A
// connection that may be broken is destroyed instead of going back to the pool, where the next
// batch would pick it up and fail again: one whose ROLLBACK fails (server gone, socket dead), and
// one whose failure came without a SQLSTATE (a client-side timeout on a silent server, a lost
// socket, an error of ours while sending): sending ROLLBACK down a silent connection would only
// wait for another timeout.
import type { Pool, PoolClient } from "pg";
import { DatabaseError, describeError, errorCode } from "../errors.js";

export interface TransactionOptions {
  /** End with ROLLBACK even when the body succeeds (`etl replay --dry-run`). */
  rollback?: boolean;
  /**
   * Statements sent with BEGIN in the same round trip (simple protocol, no parameters), such as
   * taking an advisory lock: one round trip less per transaction.
   */
  withBegin?: string;
}

export async function withTransaction<T>(
  pool: Pool,
  body: (client: PoolClient) => Promise<T>,
  options: TransactionOptions = {},
): Promise<T> {
  let client: PoolClient;
  try {
    client = await pool.connect();
  } catch (err) {
    throw new DatabaseError(`Cannot get a database connection: ${describeError(err)}`, {
      cause: err,
      code: errorCode(err),
    });
  }
  let broken: Error | undefined;
  try {
    await client.query(options.withBegin ? `BEGIN; ${options.withBegin}` : "BEGIN");
    const result = await body(client);
    await client.query(options.rollback ? "ROLLBACK" : "COMMIT");
    return result;
  } catch (err) {
    if (fromServer(err)) {
      await client.query("ROLLBACK").catch((rollbackError: Error) => {
        broken = rollbackError;
      });
    } else {
      broken = err instanceof Error ? err : new Error(String(err));
    }
    throw err;
  } finally {
    client.release(broken);
  }
}

/**
 * Run `body` inside the current transaction so that, if it fails, only its own work is undone
 * and the transaction carries on (replay bisects a chunk's rows this way while it keeps the
 * chunk's locks).
 */
export async function withSavepoint<T>(client: PoolClient, body: () => Promise<T>): Promise<T> {
  await client.query("SAVEPOINT login_etl_attempt");
  try {
    const result = await body();
    await client.query("RELEASE SAVEPOINT login_etl_attempt");
    return result;
  } catch (err) {
    // Without a SQLSTATE the connection is suspect: the enclosing withTransaction discards it.
    if (fromServer(err)) await client.query("ROLLBACK TO SAVEPOINT login_etl_attempt");
    throw err;
  }
}

/** The server answered with an error (a SQLSTATE: five digits or capitals), so the connection works. */
function fromServer(err: unknown): boolean {
  return /^[0-9A-Z]{5}$/.test(errorCode(err) ?? "");
}
