// Structured logs on stderr: JSON for cron/CI, readable on a terminal. Command output (the run
// summary table, status, keygen) goes to stdout, so `etl keygen > key` never captures a log line.
import { createRequire } from "node:module";
import pino, { type DestinationStream, type Logger } from "pino";
import type PinoPretty from "pino-pretty";

// pino-pretty is only needed on a terminal; loading it costs ~35 ms that a cron run would pay
// for nothing. It is CommonJS, so it can be required synchronously when (and only when) needed.
const require = createRequire(import.meta.url);

export type { Logger } from "pino";

/**
 * Safety net: the code never logs message bodies or raw field values, but if an object with one
 * of these keys ever reaches a log call, its value is censored rather than written.
 */
export const REDACT_PATHS = [
  "ip",
  "device_id",
  "body",
  "Body",
  "piiHashKey",
  "PII_HASH_KEY",
  "piiVaultKey",
  "PII_VAULT_KEY",
  "previousVaultKey",
  "PII_VAULT_KEY_PREVIOUS",
  "password",
  "databaseUrl",
  "pushgatewayUrl",
  "*.ip",
  "*.device_id",
  "*.body",
  "*.Body",
  "*.piiHashKey",
  "*.PII_HASH_KEY",
  "*.piiVaultKey",
  "*.PII_VAULT_KEY",
  "*.previousVaultKey",
  "*.PII_VAULT_KEY_PREVIOUS",
  "*.password",
  "*.databaseUrl",
  "*.pushgatewayUrl",
];

export interface LoggerOptions {
  level: string;
  /** Pretty output; defaults to whether stderr is a terminal. */
  pretty?: boolean;
  /** For tests: where lines go instead of stderr. */
  destination?: DestinationStream;
}

export function createLogger(options: LoggerOptions): Logger {
  const base = {
    level: options.level,
    base: { name: "login-etl" },
    redact: { paths: REDACT_PATHS, censor: "[redacted]" },
  };
  if (options.destination) return pino(base, options.destination);
  const pretty = options.pretty ?? process.stderr.isTTY === true;
  if (pretty) {
    const { prettyFactory } = require("pino-pretty") as typeof PinoPretty;
    const prettify = prettyFactory({
      colorize: true,
      ignore: "pid,hostname,name",
      translateTime: "SYS:HH:MM:ss",
    });
    // Formatting is synchronous, so nothing is lost when a command exits right after logging.
    // Each line first clears the terminal line, where a progress bar may be drawn; the bar
    // redraws itself below on its next tick.
    return pino(base, {
      write: (line: string) => process.stderr.write(`\r\x1b[K${prettify(line)}`),
    });
  }
  return pino(base, pino.destination({ dest: 2, sync: true }));
}
