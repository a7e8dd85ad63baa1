// Where things are, relative to this compiled file (dist/bench/lib/paths.js).
import { fileURLToPath } from "node:url";

const at = (relative: string) => fileURLToPath(new URL(relative, import.meta.url));

export const REPO_ROOT = at("../../../");
export const CLI = at("../../src/cli.js");
export const procScript = (name: "fauxqs" | "proxy" | "ceiling" | "baseline") =>
  at(`../procs/${name}.js`);
export const RESULTS_DIR = at("../../../bench/results/");
