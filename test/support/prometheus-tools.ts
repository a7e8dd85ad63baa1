// The real Prometheus tools for the metrics tests: promtool and a Pushgateway on 127.0.0.1.
// .ci/prometheus-tools.sh fetches them from Debian's packages into .tools/prometheus (nothing
// installed system-wide). Where that is impossible (no apt, not root on a machine without
// package lists) the tests skip with a reason starting TOOL_UNAVAILABLE, which test/run.ts
// allows outside CI only: in CI every metrics test must really run.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { keepTidy } from "../../src/embedded/lifetime.js";
import { freePort } from "../../src/embedded/ports.js";

/** The start of a skip reason test/run.ts accepts outside CI. */
export const TOOL_UNAVAILABLE = "tool unavailable:";

const REPO = fileURLToPath(new URL("../../..", import.meta.url));

export interface PrometheusTools {
  promtool: string;
  pushgateway: string;
}

let found: PrometheusTools | string | undefined;

/** The tools, fetched on first use; or why they cannot be had (a skip reason). */
export function prometheusTools(): PrometheusTools | string {
  if (found !== undefined) return found;
  const fetched = spawnSync("bash", [join(REPO, ".ci", "prometheus-tools.sh")], {
    encoding: "utf8",
    timeout: 300_000,
  });
  const bin = fetched.stdout.trim().split("\n").pop() ?? "";
  found =
    fetched.status === 0 && bin
      ? { promtool: join(bin, "promtool"), pushgateway: join(bin, "prometheus-pushgateway") }
      : `${TOOL_UNAVAILABLE} promtool and prometheus-pushgateway (Debian packages) could not be fetched: ${fetched.stderr.trim().split("\n").pop() ?? fetched.error?.message}`;
  return found;
}

/** `promtool ARGS` with `input` on stdin: its exit code and everything it printed. */
export function promtool(
  tools: PrometheusTools,
  args: string[],
  input?: string,
): { code: number | null; output: string } {
  const r = spawnSync(tools.promtool, args, { input, encoding: "utf8", timeout: 60_000 });
  return { code: r.status, output: `${r.stdout}${r.stderr}` };
}

export interface Pushgateway {
  url: string;
  /** Its /metrics text: what Prometheus would scrape. */
  scrape(): Promise<string>;
  stop(): Promise<void>;
}

/** A real Pushgateway on 127.0.0.1, stopped on stop, signal or exit. */
export async function startPushgateway(tools: PrometheusTools): Promise<Pushgateway> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(tools.pushgateway, [`--web.listen-address=127.0.0.1:${port}`], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  child.stderr?.on("data", (d: Buffer) => {
    log = `${log}${d.toString()}`.slice(-4_000);
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async () => {
    child.kill("SIGTERM");
    await exited;
  };
  const untrack = keepTidy({ stop, stopSync: () => child.kill("SIGKILL") });
  const deadline = Date.now() + 20_000;
  for (;;) {
    const ready = await fetch(`${url}/-/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) break;
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      untrack();
      throw new Error(`the Pushgateway did not become ready on ${url}:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    scrape: async () => (await fetch(`${url}/metrics`)).text(),
    stop: async () => {
      await stop();
      untrack();
    },
  };
}

/** `name{labels} value` lines of an exposition, as [name, labels, value]. */
function samples(text: string): { name: string; labels: string; value: number }[] {
  return text
    .split("\n")
    .map((line) => /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ name: m[1] ?? "", labels: m[2] ?? "", value: Number(m[3]) }));
}

/** The value of the one sample of `name` whose labels include every `label="value"` given. */
export function sampleValue(text: string, name: string, labels: Record<string, string> = {}) {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  const hits = samples(text).filter(
    (s) => s.name === name && wanted.every((w) => s.labels.includes(w)),
  );
  if (hits.length !== 1) {
    throw new Error(`${hits.length} samples of ${name}${JSON.stringify(labels)} in:\n${text}`);
  }
  return hits[0]?.value;
}
