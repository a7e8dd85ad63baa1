// Preloaded into a CLI child process by the fault tests (`node --import <this file>`). Never
// loaded in normal use (see src/test-hooks.ts). Controlled by the test through the child's
// environment:
//   LOGIN_ETL_TEST_PAUSE_AT=<checkpoint>  stop forever there (the test then SIGKILLs the process)
//   LOGIN_ETL_TEST_SLOW_MS=<ms>           sleep that long at every checkpoint (a slow run)
// Every checkpoint reached is announced on stderr, so the test can act at a precise moment.
import { type Checkpoint, installHooks } from "../../src/test-hooks.js";

const pauseAt = process.env.LOGIN_ETL_TEST_PAUSE_AT as Checkpoint | undefined;
const slowMs = Number(process.env.LOGIN_ETL_TEST_SLOW_MS ?? 0);

installHooks({
  async reach(checkpoint) {
    process.stderr.write(`login-etl-test: reached ${checkpoint}\n`);
    if (checkpoint === pauseAt) {
      process.stderr.write(`login-etl-test: paused at ${checkpoint}\n`);
      setInterval(() => {}, 60_000); // stay alive until killed
      await new Promise<void>(() => {});
    }
    if (slowMs > 0) await new Promise((resolve) => setTimeout(resolve, slowMs));
  },
});
