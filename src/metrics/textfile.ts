// The metrics file for node_exporter's textfile collector. This runs in a short-lived child
// process (textfile-child.ts): a file system that stops answering (a hung network mount, a FIFO
// planted at the path) blocks the thread doing the I/O, and a blocked thread of our own would
// keep the process from ever exiting, while a child can simply be left behind.

import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { chmod, open, rename, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { METRICS, type RunReport, runRegistry } from "./contract.js";

/** A previous file larger than this is not used for its success time (ours are ~4 KiB). */
const MAX_PREVIOUS_FILE_BYTES = 1024 * 1024;

/**
 * Written to a temporary file beside the target, then renamed over it: the collector reads
 * either the old file or the new one, never half of one. The temporary name does not end in
 * `.prom`, so the collector never reads it.
 */
export async function writeTextfile(report: RunReport, path: string): Promise<void> {
  const existing = await stat(path).catch(() => undefined);
  if (existing && !existing.isFile()) {
    throw new Error(`${path} exists and is not a regular file`);
  }
  // A fixed-length name, so any name the target may have still fits the file system's limit.
  const temporary = join(dirname(path), `.login-etl-${randomBytes(6).toString("hex")}.tmp`);
  try {
    const carried =
      report.exitCode === 0 || !existing ? undefined : await lastSuccessIn(path, report.queue);
    const text = await runRegistry(report, carried).metrics();
    await writeFile(temporary, text, { flag: "wx" });
    // Whatever the umask: node_exporter usually runs as its own user and must be able to read it.
    await chmod(temporary, 0o644);
    await rename(temporary, path);
  } catch (err) {
    await rm(temporary, { force: true }).catch(() => {});
    throw err;
  }
}

/** The last success an earlier run wrote into the file, for a failed run to carry over. */
async function lastSuccessIn(path: string, queue: string): Promise<number | undefined> {
  let text: string;
  try {
    // Non-blocking open: if the path was swapped for a FIFO since the stat, open does not wait.
    const file = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      // One byte more than allowed: a file that fills it is too large, and a line cut at the
      // limit must never be read as a (much older) success time.
      const buffer = Buffer.alloc(MAX_PREVIOUS_FILE_BYTES + 1);
      const { bytesRead } = await file.read(buffer, 0, buffer.length, 0);
      if (bytesRead > MAX_PREVIOUS_FILE_BYTES) return undefined;
      text = buffer.subarray(0, bytesRead).toString("utf8");
    } finally {
      await file.close();
    }
  } catch {
    return undefined;
  }
  const name = METRICS.lastSuccessTimestamp.name;
  for (const line of text.split("\n")) {
    const match = /^(\S+?)(\{[^}]*\})? (\S+)$/.exec(line);
    if (match?.[1] !== name) continue;
    // prom-client escapes \, " and newlines in label values; queue names have none of them.
    if (!match[2]?.includes(`queue="${queue}"`)) continue;
    const value = Number(match[3]);
    return Number.isFinite(value) ? value : undefined;
  }
  return undefined;
}
