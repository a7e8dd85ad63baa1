// `npm test`: node's test runner, with a census that makes a vacuous pass impossible.
//
// node --test on its own reports a file as passed when its process exits 0, even if it exited
// before running its tests (that is how a suite went green with every integration test unrun).
// This runner keeps node's spec output and adds, per file, what was declared and what finished:
// - every test file under test/unit and test/integration (found in the TypeScript sources, so a
//   file that failed to compile is missed loudly, not silently) must run at least one test;
// - every test that was declared (enqueued) must pass or fail: a missing subtest is a failure;
// - an integration test may not be skipped or marked todo: a missing service is a failure;
// - the closing line is "N passed, N failed", and the census can be written as JSON (--census)
//   for .ci/run, which checks the counts per SQS implementation.
// Usage: node dist/test/run.js [unit|integration ...] [--census FILE]
//        node dist/test/run.js --files FILE... (given files; those under an integration/ folder
//        count as integration; the runner's own tests use this on fixtures)
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { basename, join, relative, resolve, sep } from "node:path";
import { run } from "node:test";
import { spec } from "node:test/reporters";
import { fileURLToPath, pathToFileURL } from "node:url";
import { TOOL_UNAVAILABLE } from "./support/prometheus-tools.js";

const DIST_TEST = fileURLToPath(new URL(".", import.meta.url));
const REPO = resolve(DIST_TEST, "..", "..");
const KINDS = ["unit", "integration"] as const;
type Kind = (typeof KINDS)[number];

interface FileCensus {
  file: string;
  kind: Kind;
  passed: number;
  failed: number;
  skipped: number;
  /** Of the skipped: a test tool could not be had here (allowed outside CI only). */
  toolUnavailable: number;
  /** Declared but never reported as passed or failed (the process ended first). */
  missing: string[];
  /** The file's own failure (did not load, exited non-zero), if any. */
  error?: string;
}

interface TestEventData {
  name: string;
  nesting: number;
  file?: string;
  line?: number;
  column?: number;
  skip?: string | boolean;
  todo?: string | boolean;
  details?: { type?: string; error?: { message?: string; cause?: unknown } };
}

interface Args {
  files: { file: string; kind: Kind }[];
  census?: string;
}

function parseArgs(argv: string[]): Args {
  const kinds: Kind[] = [];
  const given: string[] = [];
  let census: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    if (arg === "--census") census = argv[++i];
    else if (arg === "--files") given.push(...argv.splice(i + 1));
    else if ((KINDS as readonly string[]).includes(arg)) kinds.push(arg as Kind);
    else
      throw new Error(
        `unknown argument ${arg}; usage: run.js [unit|integration ...] [--census FILE]`,
      );
  }
  const kindOf = (file: string): Kind =>
    file.includes(`${sep}integration${sep}`) ? "integration" : "unit";
  const files =
    given.length > 0
      ? given.map((f) => ({ file: resolve(f), kind: kindOf(resolve(f)) }))
      : (kinds.length > 0 ? kinds : [...KINDS]).flatMap((kind) =>
          testFiles(kind).map((file) => ({ file, kind })),
        );
  return { files, ...(census ? { census } : {}) };
}

/** The compiled file for every *.test.ts in the sources; a missing one fails the run. */
function testFiles(kind: Kind): string[] {
  const sources = readdirSync(join(REPO, "test", kind)).filter((f) => f.endsWith(".test.ts"));
  return sources.sort().map((f) => join(DIST_TEST, kind, f.replace(/\.ts$/, ".js")));
}

const keyOf = (d: TestEventData) => `${d.nesting}:${d.line}:${d.column}:${d.name}`;

async function main(): Promise<number> {
  const { files, census: censusFile } = parseArgs(process.argv.slice(2));
  const census = new Map<string, FileCensus>(
    files.map(({ file, kind }) => [
      file,
      {
        file: relative(REPO, file),
        kind,
        passed: 0,
        failed: 0,
        skipped: 0,
        toolUnavailable: 0,
        missing: [],
      },
    ]),
  );
  const declared = new Map<string, Map<string, number>>();
  for (const { file } of files) {
    declared.set(file, new Map());
    if (!existsSync(file)) {
      const entry = census.get(file);
      if (entry) entry.error = "not compiled (run npm run build)";
    }
  }
  const present = files.filter(({ file }) => existsSync(file)).map(({ file }) => file);

  const abort = new AbortController();
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      process.stderr.write(`${signal}: stopping the test files (they remove their services)\n`);
      abort.abort();
    });
  }

  // Every test file's process loads the exit guard (see test/support/exit-guard.ts).
  const guard = pathToFileURL(join(DIST_TEST, "support", "exit-guard.js")).href;
  process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ""} --import=${guard}`.trim();
  const stream = run({ files: present, concurrency: 1, signal: abort.signal });
  stream.on("test:enqueue", (d: TestEventData) => {
    const counts = d.file ? declared.get(d.file) : undefined;
    if (!counts || d.name === d.file) return;
    counts.set(keyOf(d), (counts.get(keyOf(d)) ?? 0) + 1);
  });
  const finished = (d: TestEventData, ok: boolean) => {
    const entry = d.file ? census.get(d.file) : undefined;
    const counts = d.file ? declared.get(d.file) : undefined;
    if (!entry || !counts) return;
    if (d.name === d.file) {
      // The file itself: it could not be loaded, or its process exited with a failure.
      if (!ok) entry.error = d.details?.error?.message ?? "the test file failed";
      return;
    }
    const key = keyOf(d);
    counts.set(key, (counts.get(key) ?? 0) - 1);
    const skipped = d.skip !== undefined || d.todo !== undefined;
    // A skipped suite never declares its tests: count the suite itself as skipped.
    if (d.details?.type === "suite" && !skipped) return;
    if (skipped) {
      entry.skipped++;
      if (String(d.skip).startsWith(TOOL_UNAVAILABLE)) entry.toolUnavailable++;
    } else if (ok) entry.passed++;
    else entry.failed++;
  };
  stream.on("test:pass", (d: TestEventData) => finished(d, true));
  stream.on("test:fail", (d: TestEventData) => finished(d, false));

  const output = stream.compose(new spec());
  for await (const chunk of output) process.stdout.write(chunk);

  for (const [file, counts] of declared) {
    const entry = census.get(file);
    if (!entry) continue;
    for (const [key, left] of counts) {
      if (left > 0) entry.missing.push(key.split(":").slice(3).join(":"));
    }
  }
  return report([...census.values()], censusFile, abort.signal.aborted);
}

/** CI systems set CI=true (GitHub Actions, GitLab, …); CI=false or empty means not in CI. */
const inCi = () => !["", "0", "false"].includes((process.env.CI ?? "").toLowerCase());

function problemsOf(c: FileCensus): string[] {
  const problems: string[] = [];
  if (c.error) problems.push(c.error);
  if (c.passed + c.failed + c.skipped === 0) problems.push("ran no test");
  if (c.missing.length > 0) problems.push(`never finished: ${c.missing.join("; ")}`);
  const notTools = c.skipped - c.toolUnavailable;
  if (c.kind === "integration" && notTools > 0) {
    problems.push(`${notTools} skipped (integration tests may not skip)`);
  }
  // Outside CI a developer without Debian's tools still gets a green run, told what was left
  // out; CI must run everything.
  if (c.toolUnavailable > 0 && inCi()) {
    problems.push(`${c.toolUnavailable} skipped for a missing tool (CI must run them)`);
  }
  return problems;
}

function report(files: FileCensus[], censusFile: string | undefined, aborted: boolean): number {
  const sqs = process.env.ETL_TEST_SQS ?? "fauxqs";
  const out = (line = "") => process.stdout.write(`${line}\n`);
  out();
  out(`Census (SQS implementation for integration tests: ${sqs})`);
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  for (const c of files) {
    const problems = problemsOf(c);
    passed += c.passed;
    skipped += c.skipped;
    failed += c.failed + (problems.length > 0 && c.failed === 0 ? 1 : 0);
    const counts = `${c.passed} passed, ${c.failed} failed${c.skipped ? `, ${c.skipped} skipped` : ""}`;
    out(
      `  ${problems.length > 0 || c.failed > 0 ? "✖" : "✔"} ${basename(c.file).padEnd(34)} ${counts}`,
    );
    for (const p of problems) out(`      ${p}`);
  }
  if (censusFile) {
    writeFileSync(
      censusFile,
      `${JSON.stringify({ sqs, files, passed, failed, skipped }, null, 2)}\n`,
    );
  }
  if (aborted) {
    out("interrupted");
    failed = Math.max(failed, 1);
  }
  out();
  out(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
  return failed > 0 ? 1 : 0;
}

process.exitCode = await main();
