// What a command module declares about itself: which settings it takes, its own flags (with
// help, defaults and parsing), help text, examples and the handler. src/cli.ts turns these
// into commander commands; nothing about a command's flags is written anywhere else.
import type { Config, SettingGroup, Settings } from "./config.js";
import { ConfigError } from "./errors.js";
import type { Logger } from "./logger.js";

export interface FlagSpec<T = unknown> {
  /** `<n>` for a flag that takes a value; absent for a switch (true when given). */
  arg?: `<${string}>`;
  help: string;
  /** Used, and shown in help, when the flag is absent. */
  default?: string;
  required?: boolean;
  /** The raw string to the handler's value; throws ConfigError (exit 2) for a bad one. */
  parse?: (raw: string, flag: string) => T;
}

type Flags = Record<string, FlagSpec>;

/** Given, defaulted or required: the handler always has a value. */
type Always = { default: string } | { required: true };

type FlagValue<F extends FlagSpec> = F extends { parse: (raw: string, flag: string) => infer T }
  ? F extends Always
    ? T
    : T | undefined
  : F extends { arg: string }
    ? F extends Always
      ? string
      : string | undefined
    : boolean;

export type FlagValues<F extends Flags> = { [K in keyof F]: FlagValue<F[K]> };

export interface CommandContext<F extends Flags> {
  config: Config;
  logger: Logger;
  flags: FlagValues<F>;
}

export interface CommandSpec<F extends Flags = Flags> {
  /** Setting groups (src/config.ts) this command takes as flags and environment variables. */
  settings: readonly SettingGroup[];
  /** Commands that mask need PII_HASH_KEY; "optional": used when set (forget); others never read it. */
  requireKey?: boolean | "optional";
  /** Commands that write rows take PII_VAULT_KEY when set; those that read the vault need it. */
  vaultKey?: "optional" | "required";
  /** This command's own defaults for settings (the demo logs less). */
  defaults?: Partial<Settings>;
  flags: F;
  /** Said after the options in `--help`, before the examples. */
  help?: string;
  examples: readonly string[];
  /** Returns the exit code. A method, so specs with different flags share one list. */
  handler(context: CommandContext<F>): Promise<number>;
}

export function defineCommand<const F extends Flags>(spec: CommandSpec<F>): CommandSpec<F> {
  return spec;
}

/** `maxReceiveCount` → `--max-receive-count`: a flag's name is derived from its key. */
export function flagName(key: string): string {
  return `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/**
 * Decimal digits only, surrounding spaces allowed: Number() alone would also take "0x10", "1e3"
 * and "" (as 0), none of which an operator means as a count of seconds or messages.
 */
export function parseDecimal(raw: string): number {
  const text = raw.trim();
  return /^[0-9]+$/.test(text) ? Number(text) : Number.NaN;
}

/** A whole-number flag within bounds; anything else is a usage error (exit 2). */
export function wholeNumber(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (raw: string, flag: string): number => {
    const n = parseDecimal(raw);
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      const range =
        max === Number.MAX_SAFE_INTEGER ? `of at least ${min}` : `from ${min} to ${max}`;
      throw new ConfigError(`${flag} must be a whole number ${range} (got "${raw.slice(0, 40)}")`);
    }
    return n;
  };
}

/** A flag whose value must be one of `values`; anything else is a usage error listing them. */
export function oneOf<T extends string>(values: readonly T[]) {
  return (raw: string, flag: string): T => {
    const found = values.find((v) => v === raw);
    if (found === undefined) {
      throw new ConfigError(
        `${flag} must be one of ${values.join(", ")} (got "${raw.slice(0, 40)}")`,
      );
    }
    return found;
  };
}
