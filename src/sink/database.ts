// The pg pool, and waiting for Postgres to accept connections at start-up.
import pg from "pg";
import { redactUrl, type Settings } from "../config.js";
import { DatabaseError, describeError, ExitCode, errorCode } from "../errors.js";
import type { Logger } from "../logger.js";
import { waitFor } from "../startup-wait.js";

export type PoolSettings = Pick<
  Settings,
  "databaseUrl" | "dbConnectTimeoutSeconds" | "dbStatementTimeoutSeconds"
>;

/**
 * Every wait on the database is bounded, so a server or network that goes silent fails a batch
 * instead of hanging the run: connecting (connectionTimeoutMillis), a statement on the server
 * (statement_timeout, lock waits included) and an open transaction left idle
 * (idle_in_transaction_session_timeout), and on the client a query whose answer never arrives
 * (query_timeout: the server's own timeout cannot reach us over a dead path). TCP keepalive
 * notices a peer that vanished without closing the connection.
 */
export function createPool(settings: PoolSettings, max: number, logger: Logger): pg.Pool {
  const statementMs = settings.dbStatementTimeoutSeconds * 1_000;
  const pool = new pg.Pool({
    connectionString: settings.databaseUrl,
    max,
    connectionTimeoutMillis: settings.dbConnectTimeoutSeconds * 1_000,
    idleTimeoutMillis: 30_000,
    statement_timeout: statementMs,
    idle_in_transaction_session_timeout: statementMs,
    // A little longer than the server's limit, so the server's clearer error wins when it can.
    query_timeout: statementMs + CLIENT_TIMEOUT_MARGIN_MS,
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    application_name: "login-etl",
  });
  // An idle client whose server went away emits 'error' on the pool; unhandled, it would crash
  // the process. The next query on that connection fails and is handled where it happens.
  pool.on("error", (err) => logger.warn(`idle database connection lost: ${describeError(err)}`));
  // A connection that dies while checked out (server restart, terminated backend) emits 'error'
  // on its client as well as failing the running query; without a listener that event would
  // crash the process before the failure could be handled as a failed batch.
  pool.on("connect", (client) => {
    client.on("error", (err) => logger.warn(`database connection lost: ${describeError(err)}`));
  });
  return pool;
}

const CLIENT_TIMEOUT_MARGIN_MS = 5_000;

/** SQLSTATEs and socket errors that mean "not yet", worth waiting out while the server starts. */
const TRANSIENT = new Set([
  "57P03", // cannot_connect_now: the database system is starting up
  "57P01", // admin_shutdown
  "08000",
  "08001",
  "08006",
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EAI_AGAIN",
  "ENOTFOUND",
]);

export function isTransientDbError(err: unknown): boolean {
  const code = errorCode(err);
  if (code !== undefined) return TRANSIENT.has(code);
  // pg reports "Connection terminated" and connect timeouts without a code.
  return err instanceof Error && /terminated|timeout/i.test(err.message);
}

/**
 * What to do when a batch transaction fails:
 * - "retry": the same batch again (deadlock, serialization failure, lock or statement timeout);
 * - "row": something about the data (a constraint, a trigger, a value Postgres refuses): split
 *   the batch to find the message, so its neighbours still commit;
 * - "fatal": the database itself is the problem (connection lost, permissions, a missing table):
 *   stop the run, delete nothing.
 */
export type DbFailure = "retry" | "row" | "fatal";

const RETRY_CODES = new Set(["40P01", "40001", "55P03", "57014"]);
// SQLSTATE classes about the data: data exception, integrity constraint, WITH CHECK OPTION,
// PL/pgSQL raise (triggers), SQL routine and external routine exceptions.
const ROW_CLASSES = new Set(["22", "23", "44", "P0", "2F", "38", "39"]);

export function classifyDbFailure(err: unknown): DbFailure {
  // Thrown by us or by pg while turning one batch's values into parameters (an invalid date,
  // a string beyond V8's limit): about the data, so the batch is split like a refused row.
  if (err instanceof RangeError) return "row";
  const code = errorCode(err);
  if (code === undefined || code.length !== 5) return "fatal";
  if (RETRY_CODES.has(code)) return "retry";
  if (ROW_CLASSES.has(code.slice(0, 2))) return "row";
  return "fatal";
}

/**
 * Explanations for the failures an operator can fix; the password is never part of them. Wrong
 * credentials and a missing database are configuration (exit 2, not waited for: no amount of
 * waiting fixes them); anything else is a server that is not there (exit 1, after the wait).
 */
function explain(err: unknown, databaseUrl: string): { message: string; exitCode: ExitCode } {
  const code = errorCode(err);
  const where = redactUrl(databaseUrl);
  switch (code) {
    case "28P01":
    case "28000":
      return {
        message: `Postgres refused the credentials in DATABASE_URL (${where}): check the user and password.`,
        exitCode: ExitCode.USAGE,
      };
    case "3D000":
      return {
        message: `The database named in DATABASE_URL (${where}) does not exist: create it or fix the URL.`,
        exitCode: ExitCode.USAGE,
      };
    default:
      return {
        message: `Cannot connect to Postgres at ${where}: ${describeError(err)}. Check DATABASE_URL and that the server is up.`,
        exitCode: ExitCode.FAILURE,
      };
  }
}

export async function waitForDatabase(
  pool: pg.Pool,
  databaseUrl: string,
  startupWaitSeconds: number,
  logger: Logger,
): Promise<void> {
  try {
    await waitFor(() => pool.query("SELECT 1"), {
      seconds: startupWaitSeconds,
      isTransient: isTransientDbError,
      onRetry: (err, attempt) =>
        logger.warn(
          { attempt, database: redactUrl(databaseUrl) },
          `waiting for Postgres: ${describeError(err)}`,
        ),
    });
  } catch (err) {
    const { message, exitCode } = explain(err, databaseUrl);
    throw new DatabaseError(message, { cause: err, code: errorCode(err), exitCode });
  }
}
