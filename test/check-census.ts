// .ci/run's last word on the test runs: given the census files that test/run.ts wrote (one per
// SQS implementation), fail unless each ran every integration test file with at least one test,
// nothing failed, was skipped or never finished, and every implementation ran the same tests.
// A suite whose services did not start, or a file that silently stopped, cannot pass this.
// Usage: node dist/test/check-census.js CENSUS.json...
import { readFileSync } from "node:fs";

interface Census {
  sqs: string;
  files: {
    file: string;
    kind: string;
    passed: number;
    failed: number;
    skipped: number;
    missing: string[];
    error?: string;
  }[];
}

const paths = process.argv.slice(2);
if (paths.length === 0) throw new Error("usage: check-census.js CENSUS.json...");
const censuses = paths.map((p) => JSON.parse(readFileSync(p, "utf8")) as Census);
const problems: string[] = [];
const integrationCounts = new Map<string, string>();

for (const census of censuses) {
  const integration = census.files.filter((f) => f.kind === "integration");
  if (integration.length === 0) problems.push(`${census.sqs}: no integration test file ran`);
  for (const f of census.files) {
    const what = `${census.sqs}: ${f.file}`;
    if (f.passed === 0) problems.push(`${what} passed no test`);
    if (f.failed > 0) problems.push(`${what} had ${f.failed} failure(s)`);
    if (f.kind === "integration" && f.skipped > 0) problems.push(`${what} skipped ${f.skipped}`);
    if (f.missing.length > 0) problems.push(`${what} never finished ${f.missing.length} test(s)`);
    if (f.error) problems.push(`${what}: ${f.error}`);
  }
  const counts = integration.map((f) => `${f.file}=${f.passed}`).join(" ");
  integrationCounts.set(census.sqs, counts);
  const total = integration.reduce((n, f) => n + f.passed, 0);
  process.stdout.write(
    `${census.sqs.padEnd(11)} ${total} integration tests passed in ${integration.length} files\n`,
  );
}
if (new Set(integrationCounts.values()).size > 1) {
  problems.push(
    `the implementations ran different integration tests:\n${[...integrationCounts]
      .map(([sqs, counts]) => `    ${sqs}: ${counts}`)
      .join("\n")}`,
  );
}
for (const p of problems) process.stdout.write(`  ✖ ${p}\n`);
process.stdout.write(problems.length === 0 ? "census: complete\n" : "census: INCOMPLETE\n");
process.exitCode = problems.length === 0 ? 0 : 1;
