// The messages every contender drains: login-etl's reproducible sample (seed 42), ~1% of the
// wrong shape. The same N bodies are re-seeded before each contender.
import { generateSample, WRONG_SHAPE_BODY } from "../../src/sample/generate.js";
import type { Workload } from "./trial.js";

export function workload(count: number): Workload {
  const bodies = generateSample({ count });
  return { bodies, valid: bodies.filter((b) => b !== WRONG_SHAPE_BODY).length };
}
