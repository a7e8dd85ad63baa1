// Every command, with the one line `etl --help` shows. Each module declares the rest of its
// command line (flags, help, examples, handler) as `command`; it is imported only when that
// command runs, so `etl --version` and `etl --help` load none of them.
import type { CommandSpec } from "../command-spec.js";

export interface CommandEntry {
  summary: string;
  load: () => Promise<{ command: CommandSpec }>;
  /** The same command under a group as well: ["key", "rotate"] is also `etl key rotate`. */
  also?: readonly [group: GroupName, sub: string];
}

/** Groups of commands, with the line `etl --help` shows; their members name them in `also`. */
export const GROUPS = {
  key: "the keys: make one, record a new PII_HASH_KEY, seal the vault under a new PII_VAULT_KEY",
} as const;

export type GroupName = keyof typeof GROUPS;

export const COMMANDS = {
  run: {
    summary: "drain the queue into user_logins (what cron runs)",
    load: () => import("./run.js"),
  },
  "init-db": {
    summary: "apply the schema migrations the database lacks (idempotent)",
    load: () => import("./init-db.js"),
  },
  "init-queue": {
    summary: "create the queue and a dead-letter queue with a redrive policy (idempotent)",
    load: () => import("./init-queue.js"),
  },
  seed: {
    summary: "send sample login events (or a file's lines) to the queue",
    load: () => import("./seed.js"),
  },
  status: {
    summary:
      "queue depth (waiting, in flight, dead-letter), rows loaded, rejected messages, last run",
    load: () => import("./status.js"),
  },
  rejected: {
    summary: "rejected messages by reason, with masked payloads",
    load: () => import("./rejected.js"),
  },
  replay: {
    summary: "re-run rejected messages through the current transform; load those that pass",
    load: () => import("./replay.js"),
  },
  prune: {
    summary: "delete ledger rows older than the queue's message retention",
    load: () => import("./prune.js"),
  },
  "rotate-key": {
    summary:
      "record a deliberate change of PII_HASH_KEY (a new key epoch); --remask keeps masks comparable",
    load: () => import("./rotate-key.js"),
    also: ["key", "rotate"],
  },
  "rotate-vault-key": {
    summary: "seal the PII vault again under a new PII_VAULT_KEY, in resumable batches",
    load: () => import("./rotate-vault-key.js"),
    also: ["key", "rotate-vault"],
  },
  reveal: {
    summary: "the original ip or device_id behind a mask, from the PII vault (audited)",
    load: () => import("./reveal.js"),
  },
  "reveal-audit": {
    summary: "the PII audit trail: reveals, erasures, rotations",
    load: () => import("./reveal-audit.js"),
  },
  forget: {
    summary: "erase a user: their rows and the vault entries only they used (audited)",
    load: () => import("./forget.js"),
  },
  keygen: {
    summary: "print a new random key (32 random bytes, hex) for PII_HASH_KEY or PII_VAULT_KEY",
    load: () => import("./keygen.js"),
    also: ["key", "gen"],
  },
  demo: {
    summary: "the whole pipeline on embedded Postgres and an in-process SQS emulator",
    load: () => import("./demo.js"),
  },
} satisfies Record<string, CommandEntry>;

export type CommandName = keyof typeof COMMANDS;
