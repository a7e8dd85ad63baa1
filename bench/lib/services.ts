// The services every contender talks to, each in a process of its own: embedded Postgres (its
// own server process, started through login-etl's helper), the fauxqs SQS emulator, and the
// optional delaying proxy. All three are direct children of the orchestrator.
import { type ChildProcess, spawn } from "node:child_process";
import { connect } from "node:net";
import { freePort } from "../../src/embedded/ports.js";
import { startEmbeddedPostgres } from "../../src/embedded/postgres.js";
import { procScript } from "./paths.js";

export interface Service {
  pid: number;
  /** postgres:// URL or http:// endpoint. */
  url: string;
  stop(): Promise<void>;
}

export async function startPostgres(): Promise<Service> {
  const pg = await startEmbeddedPostgres();
  return { pid: pg.pid, url: pg.url, stop: pg.stop };
}

/** fauxqs in its own process (see procs/fauxqs.ts); nodeOptions e.g. ["--cpu-prof"]. */
export async function startFauxqs(nodeOptions: string[] = []): Promise<Service> {
  const port = await freePort();
  const child = spawnNode(procScript("fauxqs"), nodeOptions, { FAUXQS_PORT: String(port) });
  await waitForPort(port, child);
  return serviceOf(child, `http://127.0.0.1:${port}`);
}

export async function startDelayProxy(target: string, delayMs: number): Promise<Service> {
  const port = await freePort();
  const child = spawnNode(procScript("proxy"), [], {
    PROXY_PORT: String(port),
    PROXY_TARGET: target,
    DELAY_MS: String(delayMs),
  });
  await waitForPort(port, child);
  return serviceOf(child, `http://127.0.0.1:${port}`);
}

function spawnNode(script: string, nodeOptions: string[], env: Record<string, string>) {
  return spawn(process.execPath, [...nodeOptions, script], {
    env: { PATH: process.env.PATH ?? "", ...env },
    // stdout is not read: a service must never block on a full pipe. stderr shows real failures.
    stdio: ["ignore", "ignore", "inherit"],
  });
}

function serviceOf(child: ChildProcess, url: string): Service {
  const pid = child.pid;
  if (pid === undefined) throw new Error(`service at ${url} did not start`);
  return {
    pid,
    url,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}

/** Resolve once something accepts TCP connections on the port (or fail if the child died). */
async function waitForPort(port: number, child: ChildProcess, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`service exited with ${child.exitCode}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, "127.0.0.1");
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline)
      throw new Error(`nothing listens on port ${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
