// The messages every contender drains: login-etl's reproducible sample (seed 42), ~1% of the
// wrong shape. The same N bodies are re-seeded before each contender.
import { generateSample, WRONG_SHAPE_BODY } from "../../src/sample/generate.js";
import type { Workload } from "./trial.js";

export function workload(count: number): Workload {
  const bodies = generateSample({ count });
  return { bodies, valid: bodies.filter((b) => b !== WRONG_SHAPE_BODY).length };
}

/**
 * Bodies built to grow under masking: 256 KiB of "1.1.1.1." is 32,768 addresses, 2.3 M
 * characters once each is an hmac. All of them are rejected (invalid_json).
 */
export function hostileWorkload(count: number): Workload {
  const body = "1.1.1.1.".repeat(32 * 1024);
  return { bodies: Array.from({ length: count }, () => body), valid: 0 };
}
