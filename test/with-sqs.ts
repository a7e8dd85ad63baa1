// Run a command against a real SQS server started on 127.0.0.1 for it, then stop the server:
//   node dist/test/with-sqs.js moto                 the integration suite against moto_server
//   node dist/test/with-sqs.js localstack           ... against LocalStack (host mode, no Docker)
//   node dist/test/with-sqs.js localstack --init DIR --postgres -- CMD ARGS...
//                                                  any command; DIR's scripts run as LocalStack's
//                                                  ready.d init hooks first, and an embedded
//                                                  Postgres is started for it (the CI smoke test)
// The servers come from the Python virtual environment that .ci/python-env.sh builds (pinned,
// git-ignored). The command gets ETL_TEST_SQS, ETL_TEST_SQS_ENDPOINT and SQS_ENDPOINT, and with
// --postgres DATABASE_URL. Init hooks get AWSLOCAL (the venv's AWS CLI v1 with --endpoint-url:
// there is no awslocal outside the container) and SAMPLE_MESSAGES_FILE.
// Every run prints the server's log when it fails to start; the server is always stopped.
import { type ChildProcess, spawn } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { keepTidy, onSignalFirst } from "../src/embedded/lifetime.js";
import { freePort } from "../src/embedded/ports.js";
import { startEmbeddedPostgres } from "../src/embedded/postgres.js";

const REPO = resolve(fileURLToPath(new URL(".", import.meta.url)), "..", "..");
export const VENV = process.env.ETL_TEST_VENV ?? join(REPO, ".venv-ci");
const READY_TIMEOUT_MS = 180_000;

type ServerKind = "moto" | "localstack";

interface ServerSpec {
  command(port: number, work: string): { file: string; args: string[]; env: NodeJS.ProcessEnv };
  /** Resolves true once the server (and its init hooks) are ready. */
  ready(endpoint: string): Promise<boolean>;
}

const SERVERS: Record<ServerKind, ServerSpec> = {
  moto: {
    // moto_server with a lock around its SQS backend (see the script: moto is not thread-safe).
    // Bound to 127.0.0.1 explicitly.
    command: (port) => ({
      file: join(VENV, "bin", "python"),
      args: [
        join(REPO, "test", "support", "moto_server_locked.py"),
        "-H",
        "127.0.0.1",
        "-p",
        String(port),
      ],
      env: {},
    }),
    ready: async (endpoint) => (await fetch(new URL("/moto-api/", endpoint))).ok,
  },
  localstack: {
    // LocalStack's own runtime without its Docker launcher. Without DNS_ADDRESS=0 it binds port
    // 53; without SQS_ENDPOINT_STRATEGY=off queue URLs name *.localhost.localstack.cloud, which
    // needs public DNS. FILESYSTEM_ROOT keeps its state and init hooks in our temp folder, but
    // only with OVERRIDE_IN_DOCKER=0 where /.dockerenv exists (it would think it is in its own
    // container and use /etc/localstack). Its default gateway (twisted) binds 0.0.0.0 whatever
    // GATEWAY_LISTEN says; hypercorn binds 127.0.0.1 as asked.
    command: (port, work) => ({
      file: join(VENV, "bin", "python"),
      args: ["-m", "localstack.runtime.main"],
      env: {
        SERVICES: "sqs",
        EAGER_SERVICE_LOADING: "1",
        OVERRIDE_IN_DOCKER: "0",
        GATEWAY_SERVER: "hypercorn",
        GATEWAY_LISTEN: `127.0.0.1:${port}`,
        LOCALSTACK_HOST: `localhost:${port}`,
        SQS_ENDPOINT_STRATEGY: "off",
        DNS_ADDRESS: "0",
        SKIP_SSL_CERT_DOWNLOAD: "1",
        DISABLE_EVENTS: "1",
        FILESYSTEM_ROOT: join(work, "localstack"),
        // plux (its plugin loader) caches entry points under ~/.cache otherwise.
        XDG_CACHE_HOME: join(work, "cache"),
      },
    }),
    ready: async (endpoint) => {
      const out = await fetch(new URL("/_localstack/init/ready", endpoint));
      if (!out.ok) return false;
      return ((await out.json()) as { completed?: boolean }).completed === true;
    },
  },
};

interface Args {
  kind: ServerKind;
  init?: string;
  postgres: boolean;
  command: string[];
}

function parseArgs(argv: string[]): Args {
  const [kind, ...rest] = argv;
  if (kind !== "moto" && kind !== "localstack") {
    throw new Error(
      "usage: with-sqs.js moto|localstack [--init DIR] [--postgres] [-- command args...]",
    );
  }
  const dash = rest.indexOf("--");
  const options = dash === -1 ? rest : rest.slice(0, dash);
  const command =
    dash === -1
      ? [process.execPath, join(REPO, "dist", "test", "run.js"), "integration"]
      : rest.slice(dash + 1);
  const initAt = options.indexOf("--init");
  const init = initAt === -1 ? undefined : options[initAt + 1];
  const postgres = options.includes("--postgres");
  return { kind, command, postgres, ...(init ? { init: resolve(init) } : {}) };
}

async function startServer(kind: ServerKind, work: string, init?: string) {
  const spec = SERVERS[kind];
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const { file, args, env } = spec.command(port, work);
  if (!existsSync(file)) {
    throw new Error(
      `${file} is missing: build the test tools first with \`bash .ci/python-env.sh\``,
    );
  }
  if (init) {
    const hooks = join(work, "localstack", "etc", "localstack", "init", "ready.d");
    mkdirSync(hooks, { recursive: true });
    cpSync(init, hooks, { recursive: true });
  }
  const logFile = join(work, `${kind}.log`);
  const log = openSync(logFile, "w");
  const hookEnv = init
    ? {
        AWSLOCAL: `${join(VENV, "bin", "aws")} --endpoint-url ${endpoint}`,
        SAMPLE_MESSAGES_FILE: join(REPO, "docker", "localstack", "sample-messages.jsonl"),
      }
    : {};
  const server = spawn(file, args, {
    env: { ...process.env, ...hookEnv, ...env },
    stdio: ["ignore", log, log],
    // Its own process group, so stopping it also stops what it started.
    detached: true,
  });
  // Ctrl-C or SIGTERM while we wait (or later) must not leave a server or its files behind.
  keepTidy({
    stop: async () => {
      await stop(server);
      rmSync(work, { recursive: true, force: true });
    },
    stopSync: () => {
      if (server.pid !== undefined && server.exitCode === null) {
        try {
          process.kill(-server.pid, "SIGKILL");
        } catch {
          // Already gone.
        }
      }
      rmSync(work, { recursive: true, force: true });
    },
  });
  const exited = new Promise<string>((done) =>
    server.once("exit", (code, signal) => done(`exited (${signal ?? code})`)),
  );
  const started = Date.now();
  for (;;) {
    const outcome = await Promise.race([
      exited,
      spec.ready(endpoint).then(
        (ok) => (ok ? "ready" : "waiting"),
        () => "waiting",
      ),
    ]);
    if (outcome === "ready") break;
    if (outcome !== "waiting" || Date.now() - started > READY_TIMEOUT_MS) {
      await stop(server);
      const tail = readFileSync(logFile, "utf8").split("\n").slice(-30).join("\n");
      throw new Error(`${kind} did not become ready (${outcome}); its log ends:\n${tail}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  process.stderr.write(`${kind} ready at ${endpoint} in ${Date.now() - started} ms\n`);
  return { server, endpoint };
}

function stop(server: ChildProcess): Promise<void> {
  if (server.exitCode !== null || server.signalCode !== null || server.pid === undefined) {
    return Promise.resolve();
  }
  const pid = server.pid;
  return new Promise((done) => {
    const force = setTimeout(() => {
      try {
        process.kill(-pid, "SIGKILL");
      } catch {
        // Already gone.
      }
    }, 10_000);
    server.once("exit", () => {
      clearTimeout(force);
      done();
    });
    try {
      process.kill(-pid, "SIGTERM");
    } catch {
      clearTimeout(force);
      done();
    }
  });
}

async function main(): Promise<number> {
  const { kind, init, postgres, command } = parseArgs(process.argv.slice(2));
  const work = mkdtempSync(join(tmpdir(), `login-etl-${kind}-`));
  try {
    const { server, endpoint } = await startServer(kind, work, init);
    let database: Awaited<ReturnType<typeof startEmbeddedPostgres>> | undefined;
    try {
      database = postgres ? await startEmbeddedPostgres() : undefined;
      const [file, ...args] = command;
      if (!file) throw new Error("no command to run");
      const child = spawn(file, args, {
        stdio: "inherit",
        env: {
          ...process.env,
          ETL_TEST_SQS: kind,
          ETL_TEST_SQS_ENDPOINT: endpoint,
          SQS_ENDPOINT: endpoint,
          // libpq's variables too, so psql needs no URL (a password in argv shows in `ps`).
          ...(database ? { DATABASE_URL: database.url, ...libpqEnv(database.url) } : {}),
        },
      });
      const exited = new Promise<number>((done) =>
        child.once("exit", (code, signal) => done(code ?? (signal ? 1 : 0))),
      );
      // On a signal the command gets it too and is waited for (up to a minute) before the
      // servers it uses are stopped.
      onSignalFirst(async (signal) => {
        child.kill(signal);
        await Promise.race([exited, new Promise((r) => setTimeout(r, 60_000))]);
      });
      return await exited;
    } finally {
      await database?.stop();
      await stop(server);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

process.exitCode = await main();

function libpqEnv(url: string): Record<string, string> {
  const u = new URL(url);
  return {
    PGHOST: u.hostname,
    PGPORT: u.port,
    PGUSER: decodeURIComponent(u.username),
    PGPASSWORD: decodeURIComponent(u.password),
    PGDATABASE: u.pathname.slice(1),
  };
}
