// The child process that writes the metrics file (see textfile.ts for why a child): the report
// and the path arrive as one JSON document on stdin; exit 0 when written, else 1 with the reason
// on stdout (stderr is Node's, for warnings the parent does not want to mistake for the reason).
import { text } from "node:stream/consumers";
import type { RunReport } from "./contract.js";
import { writeTextfile } from "./textfile.js";

interface Request {
  path: string;
  report: Omit<RunReport, "startedAt" | "finishedAt"> & { startedAt: string; finishedAt: string };
}

try {
  const { path, report } = JSON.parse(await text(process.stdin)) as Request;
  await writeTextfile(
    { ...report, startedAt: new Date(report.startedAt), finishedAt: new Date(report.finishedAt) },
    path,
  );
} catch (err) {
  process.stdout.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
