#!/usr/bin/env bun
// imgate's command line. Thin: each command parses flags and calls one function.
import { Command, CommanderError, Option } from "commander";
import { CliError } from "./cli/exit.js";
import { BUILD, VERSION_LINE } from "./version.js";

const program = new Command("imgate")
  .description("A real-time message gateway speaking OpenIM's client protocol")
  .version(VERSION_LINE, "-v, --version")
  .exitOverride()
  .showHelpAfterError()
  .configureOutput({ writeErr: (s) => process.stderr.write(s) });

const configOpt = () => new Option("-c, --config <file>", "YAML config file (imgate or OpenIM key names)");
const dataDirOpt = () => new Option("--data-dir <dir>", "data directory (default ./imgate-data)");
const secretOpt = () => new Option("--secret <s>", "token secret (default: generated in the data dir)");
const rpcOpts = (cmd: Command) =>
  cmd
    .option("--rpc <addr>", "hub address host:port (default from config, 127.0.0.1:10140)")
    .option("--rpc-token <token>", "bearer token of the hub's Admin service (default: rpc.token, else the data dir's admin-token)")
    .option("--json", "machine-readable JSON output")
    .addOption(dataDirOpt())
    .addOption(configOpt());

/** The options `serve` and `doctor` share: doctor checks exactly what serve would run. */
const serveOpts = (cmd: Command) =>
  cmd
    .addOption(configOpt())
    .option("--ws-port <n>", "WebSocket port (default 10001)")
    .option("--rpc-port <n>", "gRPC hub port (default 10140)")
    .option("--admin-port <n>", "admin HTTP port (default 12140)")
    .option("--host <addr>", "WebSocket listen address (default 0.0.0.0)")
    .addOption(secretOpt())
    .addOption(dataDirOpt())
    .option("--shape <shape>", "embedded, cluster or openim (default: cluster when Redis is configured, else embedded)")
    .option("--redis <url>", "Redis URL: shared state for a cluster of nodes")
    .option("--postgres <url>", "cluster shape: keep the history (messages, conversations, read marks, groups) in PostgreSQL")
    .option("--node-id <id>", "this node's ID in a cluster")
    .option("--multi-login-policy <n>", "OpenIM multiLogin.policy: 0, 1, 4 or 5 (default 1)")
    .option("--log-level <level>", "debug, info, warn or error")
    .option("--log-format <format>", "auto, json or pretty")
    .option("--rpc-token <token>", "the admin token of the hub and the dashboard (default: generated in the data dir's admin-token)")
    .option("--openim-config <dir>", "read OpenIM's config folder (openim-msggateway.yml, share.yml, redis.yml, webhooks.yml, discovery.yml; IMENV_* apply)")
    .option("-i, --index <n>", "with --openim-config: which element of OpenIM's port lists (OpenIM's -i)");

serveOpts(program.command("serve").description("run the gateway"))
  .option("--workers <n>", "run N worker processes sharing the ports (needs --redis; worker i serves admin on admin-port + i)")
  .action(async (opts) => (await import("./cli/serve.js")).serve(opts));

serveOpts(program.command("doctor").description("check a setup before serving: config, ports, etcd and OpenIM's services, Redis, data dir (exit 0 ok, 1 unreachable, 2 config)"))
  .option("--timeout <ms>", "deadline of each network check", "3000")
  .option("--json", "machine-readable JSON output")
  .action(async (opts) => (await import("./cli/doctor.js")).doctor(opts));

program
  .command("token")
  .description("print an OpenIM-compatible token (JWT HS256) signed with the gateway's secret")
  .requiredOption("-u, --user <userID>", "user ID")
  .requiredOption("-p, --platform <id>", "platform ID 1..11")
  .option("--ttl-days <n>", "validity in days", "90")
  .addOption(configOpt())
  .addOption(secretOpt())
  .addOption(dataDirOpt())
  .action(async (opts) => (await import("./cli/token.js")).token(opts));

rpcOpts(program.command("kick").description("disconnect a user's connections (all platforms, or one)"))
  .requiredOption("-u, --user <userID>", "user ID")
  .option("-p, --platform <id>", "only this platform ID")
  .action(async (opts) => (await import("./cli/admin.js")).kick(opts));

rpcOpts(program.command("stats").description("show the gateway's counters"))
  .option("-w, --watch [seconds]", "refresh in place")
  .action(async (opts) => (await import("./cli/admin.js")).stats(opts));

rpcOpts(program.command("online").description("list connected users and their devices"))
  .option("-u, --user <userID...>", "only these users")
  .option("--limit <n>", "at most this many connections", "1000")
  .action(async (opts) => (await import("./cli/admin.js")).online(opts));

rpcOpts(program.command("drain").description("drain the gateway: stop accepting, close clients with 1012 (spread over a window), write them offline, exit"))
  .option("--over <duration>", "spread the closes over this window (30s, 2m, 90); default shutdown.drainSeconds")
  .action(async (opts) => (await import("./cli/admin.js")).drain(opts));

rpcOpts(program.command("reload").description("re-read the config file and environment and apply what can change live (as SIGHUP)"))
  .option("--workers", "serve --workers N: replace the workers one at a time (rolling restart: new binary, settings that need a restart)")
  .action(async (opts) => (await import("./cli/admin.js")).reload(opts));

const group = program.command("group").description("manage group membership of the embedded backend");
rpcOpts(group.command("set <groupID> <userIDs...>").description("set a group's members"))
  .action(async (groupID, userIDs, opts) => (await import("./cli/admin.js")).groupSet(groupID, userIDs, opts));
rpcOpts(group.command("show [groupID]").description("show one group's members, or all groups"))
  .action(async (groupID, opts) => (await import("./cli/admin.js")).groupShow(groupID, opts));

program
  .command("backup <file>")
  .description("copy the embedded data dir (database, secret, admin token) into FILE, consistent and while the node serves")
  .option("--force", "replace FILE if it exists (only once the new copy is complete)")
  .option("--json", "machine-readable JSON output")
  .addOption(dataDirOpt())
  .addOption(configOpt())
  .action(async (file, opts) => (await import("./cli/backup.js")).backup(file, opts));

program
  .command("restore <file>")
  .description("fill an empty data dir from a backup FILE (refuses a dir that holds a database)")
  .option("--json", "machine-readable JSON output")
  .addOption(dataDirOpt())
  .addOption(configOpt())
  .action(async (file, opts) => (await import("./cli/backup.js")).restore(file, opts));

program
  .command("migrate")
  .description("move an embedded data dir into the cluster shape: history into PostgreSQL, token states into Redis (run it again to resume; a second run changes nothing)")
  .requiredOption("--postgres <url>", "where the history goes (postgres://user:pass@host:5432/db)")
  .option("--redis <url>", "where the token states go (or the config's redis keys)")
  .option("--json", "machine-readable JSON output")
  .addOption(dataDirOpt())
  .addOption(configOpt())
  .action(async (opts) => (await import("./cli/migrate.js")).migrate(opts));

program
  .command("version")
  .description("print the version, the git commit and the build date")
  .option("--json", "machine-readable JSON output")
  .action((opts) => void process.stdout.write(opts.json ? JSON.stringify(BUILD) + "\n" : VERSION_LINE + "\n"));

const config = program.command("config").description("check or print configuration");
config
  .command("check <file>")
  .description("validate a config file")
  .action(async (file) => (await import("./cli/config.js")).configCheck(file));
config
  .command("print")
  .description("print the effective config (defaults, file, IMGATE_* env), secrets masked")
  .addOption(configOpt())
  .option("--openim-config <dir>", "read OpenIM's config folder below the file")
  .option("-i, --index <n>", "with --openim-config: which element of OpenIM's port lists (OpenIM's -i)")
  .addOption(dataDirOpt())
  .action(async (opts) => (await import("./cli/config.js")).configPrint(opts));

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) {
    if (e.code === "commander.helpDisplayed" || e.code === "commander.version" || e.code === "commander.help") process.exit(0);
    process.exit(2);
  }
  if (e instanceof CliError) {
    process.stderr.write(`imgate: ${e.message}\n`);
    process.exit(e.exitCode);
  }
  // A minified binary would otherwise dump its source here: one line is enough.
  process.stderr.write(`imgate: ${(e as Error)?.message ?? String(e)}\n`);
  process.exit(1);
}
