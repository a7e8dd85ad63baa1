// The flags every command that reveals or erases PII takes, declared once: why (required, kept in
// etl.pii_audit) and who (the OS user unless given).
import { userInfo } from "node:os";
import type { FlagSpec } from "../command-spec.js";
import { ConfigError } from "../errors.js";

export const AUDIT_FLAGS = {
  reason: {
    arg: "<text>" as const,
    help: "why (a ticket or request reference); kept in etl.pii_audit",
    required: true as const,
    parse: (raw: string, flag: string) => {
      const text = raw.trim();
      if (text === "") throw new ConfigError(`${flag} must say why (it is kept in etl.pii_audit).`);
      return text;
    },
  },
  actor: {
    arg: "<name>" as const,
    help: "who is asking, for the audit trail (default: the OS user running the command)",
  },
} satisfies Record<string, FlagSpec>;

/** The actor recorded: the flag, else the OS user (a container may have no user entry). */
export function actorOf(flag: string | undefined): string {
  if (flag !== undefined && flag.trim() !== "") return flag.trim();
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? `uid ${process.getuid?.() ?? "unknown"}`;
  }
}
