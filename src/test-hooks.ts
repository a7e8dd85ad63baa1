// Fault-injection points for the test suite (kill the process at a chosen stage, then prove a
// rerun loses and duplicates nothing). In normal use `checkpoint` finds no hooks and returns at
// once: hooks can only be installed by code preloaded into the process (`node --import
// dist/test/support/fault-hooks.js`), under a private global symbol; no flag, environment
// variable or configuration reaches them.

export type Checkpoint =
  /** A receive returned messages; nothing is written yet. */
  | "after_receive"
  /** Inside the batch transaction: the ledger rows are claimed, nothing is committed. */
  | "mid_transaction"
  /** The batch is committed; nothing of it is deleted from the queue. */
  | "after_commit"
  /** The first ten messages of a batch are deleted, the rest are not. */
  | "mid_delete"
  /** A batch of a vault rotation or re-mask is committed; the next has not begun. */
  | "after_rotation_batch";

interface Hooks {
  reach(checkpoint: Checkpoint): Promise<void>;
}

const HOOKS = Symbol.for("login-etl.test-hooks");

export function checkpoint(name: Checkpoint): Promise<void> | undefined {
  const hooks = (globalThis as { [HOOKS]?: Hooks })[HOOKS];
  return hooks?.reach(name);
}

/** Used only by the test preload module. */
export function installHooks(hooks: Hooks): void {
  (globalThis as { [HOOKS]?: Hooks })[HOOKS] = hooks;
}
