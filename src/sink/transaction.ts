// The one way login-etl runs a transaction: BEGIN, the body, COMMIT; on any failure ROLLBACK, and
// a connection whose ROLLBACK fails too (server gone, socket dead) is destroyed instead of going
// back to the pool, where the next batch would pick it up and fail again.
import type { Pool, PoolClient } from "pg";
import { DatabaseError, describeError, errorCode } from "../errors.js";

export interface TransactionOptions {
  /** End with ROLLBACK even when the body succeeds (`etl replay --dry-run`). */
  rollback?: boolean;
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
    await client.query("BEGIN");
    const result = await body(client);
    await client.query(options.rollback ? "ROLLBACK" : "COMMIT");
    return result;
  } catch (err) {
    await client.query("ROLLBACK").catch((rollbackError: Error) => {
      broken = rollbackError;
    });
    throw err;
  } finally {
    client.release(broken);
  }
}
