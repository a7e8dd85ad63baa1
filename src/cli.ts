#!/usr/bin/env node
// The command line: a loop over the command list (src/commands/index.ts). Only the command being
// run is imported, and its declared settings and flags become commander options here; nothing
// about any one command is written in this file.
import { readFileSync } from "node:fs";
import nodeModule from "node:module";
import { Command, InvalidArgumentError, Option } from "commander";
import { type CommandSpec, flagName } from "./command-spec.js";
import { COMMANDS, type CommandEntry, GROUPS, type GroupName } from "./commands/index.js";
import type { CliFlags } from "./config.js";
import { ExitCode } from "./errors.js";

// Node 22.1+: keep compiled code of the modules loaded below (the AWS SDK, pg) in a disk cache,
// so a cron run does not parse them again every time. Absent on Node 20, where this does nothing.
(nodeModule as { enableCompileCache?: () => unknown }).enableCompileCache?.();

const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
  version: string;
};

// Off a terminal (cron, containers, CI) every line on stderr is one JSON object, as pino writes
// them, so a log shipper never meets a stray text line: commander's usage errors, our own
// configuration errors and Node's process warnings (the AWS SDK's Node-version notice among
// them) all go through here. On a terminal they stay readable text.
const jsonStderr = process.stderr.isTTY !== true;

function stderrRecord(level: "warn" | "error", msg: string): void {
  if (!jsonStderr) {
    process.stderr.write(`${msg}\n`);
    return;
  }
  const record = { level: level === "error" ? 50 : 40, time: Date.now(), name: "login-etl", msg };
  process.stderr.write(`${JSON.stringify(record)}\n`);
}

if (jsonStderr) {
  // Node's default printer is itself a 'warning' listener: replace it.
  process.removeAllListeners("warning");
  process.on("warning", (warning) => stderrRecord("warn", `${warning.name}: ${warning.message}`));
}

const program = new Command()
  .name("etl")
  .description("Drain an SQS queue of user-login events into PostgreSQL, masking PII.")
  .version(pkg.version)
  .showHelpAfterError("(run with --help for usage)")
  .configureOutput({
    writeErr: (text) => {
      const lines = text.split("\n").filter((line) => line.trim() !== "");
      if (jsonStderr) stderrRecord("error", lines.join(" "));
      else process.stderr.write(text);
    },
  })
  .exitOverride((err) => {
    // Usage errors (an unknown or misspelled flag too) exit 2; --help and --version exit 0.
    process.exit(err.exitCode === 0 ? 0 : ExitCode.USAGE);
  });

const SETTINGS_HELP = `Settings also come from the environment variables in [brackets] and from ./.env
(flag > environment > .env > default; an empty variable counts as unset).`;
/** Shown unless a command lists its own exit codes. */
const EXIT_CODES_HELP = "Exit codes: 0 ok, 1 runtime failure, 2 usage/config.";

// Help for a group's command, asked as `etl help key rotate` or `etl key help rotate`, is
// `etl key rotate --help`: commander's help command looks only one word deep.
const isGroup = (word: string | undefined) => word !== undefined && Object.hasOwn(GROUPS, word);
const given = process.argv.slice(2);
const [first, second, third] = given;
const args =
  third !== undefined &&
  ((first === "help" && isGroup(second)) || (isGroup(first) && second === "help"))
    ? [first === "help" ? second : first, third, "--help"].filter((w) => w !== undefined)
    : given;

// No top-level option takes a value, so the first bare word is the command (`etl help run` too),
// and for a group (`etl key rotate`) the word after it is the group's command.
const words = args[0] === "help" ? args.slice(1) : args;
const at = words.findIndex((a) => !a.startsWith("-"));
const [wanted, wantedSub] = at < 0 ? [] : [words[at], words[at + 1]];

const groups = new Map<GroupName, Command>();
const groupOf = (group: GroupName) => {
  const found = groups.get(group);
  if (found) return found;
  // Unattached until after the loop, yet with the program's output and exit handling.
  const made = program.createCommand(group).copyInheritedSettings(program);
  made.description(GROUPS[group]);
  groups.set(group, made);
  return made;
};
for (const [name, entry] of Object.entries(COMMANDS) as [string, CommandEntry][]) {
  const cmd = program.command(name).description(entry.summary);
  if (name === wanted) await define(cmd, (await entry.load()).command);
  if (!entry.also) continue;
  const [group, sub] = entry.also;
  const member = groupOf(group).command(sub).description(`${entry.summary} (etl ${name})`);
  if (group === wanted && sub === wantedSub) await define(member, (await entry.load()).command);
}
// After the commands, so `etl --help` lists each command once before the groups that repeat them.
for (const group of groups.values()) program.addCommand(group);

await program.parseAsync(args, { from: "user" });

/** A flag given twice is a usage error: commander would silently keep the last value. */
function once(option: Option): Option {
  if (!option.required) return option; // a switch: repeating it changes nothing
  let given = false;
  return option.argParser((value: string) => {
    if (given) throw new InvalidArgumentError("it is given more than once.");
    given = true;
    return value;
  });
}

/** The command's settings and flags as commander options, its help, and its action. */
async function define(cmd: Command, spec: CommandSpec): Promise<void> {
  const { SETTINGS, settingsOf } = await import("./config.js");
  const settings = settingsOf(spec.settings).map((setting) => {
    const { flag, arg, help, env } = SETTINGS[setting];
    return { setting, option: new Option(`${flag} ${arg}`, `${help} [${env}]`) };
  });
  const flags = Object.entries(spec.flags).map(([key, flag]) => {
    const option = new Option(`${flagName(key)}${flag.arg ? ` ${flag.arg}` : ""}`, flag.help);
    if (flag.default !== undefined) option.default(flag.default);
    if (flag.required) option.makeOptionMandatory();
    return { key, flag, option };
  });
  for (const { option } of [...flags, ...settings]) cmd.addOption(once(option));

  const examples = spec.examples.map((e) => `  $ ${e}`).join("\n");
  const sections = [
    spec.help,
    spec.settings.length > 0 ? SETTINGS_HELP : undefined,
    spec.help?.includes("Exit codes:") ? undefined : EXIT_CODES_HELP,
    `Example${spec.examples.length > 1 ? "s" : ""}:\n${examples}`,
  ];
  cmd.addHelpText("after", `\n${sections.filter((s) => s !== undefined).join("\n\n")}`);

  cmd.action(async (opts: Record<string, unknown>) => {
    const { config: loadDotenv } = await import("dotenv");
    const { clearEmptySettings, configWarnings, loadConfig } = await import("./config.js");
    clearEmptySettings(process.env); // an empty variable is unset: .env may fill it
    loadDotenv({ quiet: true }); // never overrides variables already in the environment
    const { ConfigError, describeError, exitCodeOf } = await import("./errors.js");
    const prepare = () => {
      const values = Object.fromEntries(
        flags.map(({ key, flag, option }) => {
          const raw = opts[option.attributeName()];
          if (!flag.arg) return [key, raw === true];
          const parsed =
            raw === undefined || !flag.parse ? raw : flag.parse(String(raw), flagName(key));
          return [key, parsed];
        }),
      );
      const given: CliFlags = {};
      for (const { setting, option } of settings) {
        const value = opts[option.attributeName()];
        if (typeof value === "string") given[setting] = value;
      }
      const config = loadConfig(given, process.env, {
        requireKey: spec.requireKey ?? false,
        ...(spec.vaultKey ? { vaultKey: spec.vaultKey } : {}),
        groups: spec.settings,
        ...(spec.defaults ? { defaults: spec.defaults } : {}),
      });
      return { values, config, warnings: configWarnings(given) };
    };
    let prepared: ReturnType<typeof prepare>;
    try {
      prepared = prepare();
    } catch (err) {
      // A bad setting or flag: one line naming it, exit 2. Anything else is a bug: rethrow.
      if (!(err instanceof ConfigError)) throw err;
      stderrRecord("error", `etl: ${err.message}`);
      process.exit(ExitCode.USAGE);
    }
    const { config, values, warnings } = prepared;
    const { createLogger } = await import("./logger.js");
    const logger = createLogger({ level: config.logLevel });
    for (const warning of warnings) logger.warn(warning);
    try {
      // Each value was produced from its own flag's declaration just above.
      process.exit(await spec.handler({ config, logger, flags: values as never }));
    } catch (err) {
      logger.error(describeError(err));
      process.exit(exitCodeOf(err));
    }
  });
}
