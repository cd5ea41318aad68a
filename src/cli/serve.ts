import { ConfigError } from "../config/errors.js";
import { resolveSecret } from "../config/secret.js";
import { startNode } from "../node.js";
import { type Logger, createLogger } from "../observe/log.js";
import { type Notifier, createNotifier } from "../systemd/notify.js";
import type { Node } from "../node.js";
import { configFrom, loadConfigFrom } from "./common.js";
import { CliError } from "./exit.js";
import { traitsOf } from "../config/shapes.js";

export async function serve(opts: Record<string, unknown>): Promise<void> {
  const config = configFrom(opts);
  const workers = opts.workers === undefined ? 1 : Number(opts.workers);
  if (!Number.isInteger(workers) || workers < 1) throw new CliError(`--workers must be a whole number >= 1, got "${opts.workers}"`, 2);
  if (workers > 1) {
    if (!traitsOf(config).sharesState)
      throw new CliError("--workers above 1 needs Redis (--redis URL): each worker is a cluster node and they share state there", 2);
    // Everything but --workers goes to the workers; the supervisor adds --node-id and --admin-port per worker.
    const argv = process.argv.slice(process.argv.indexOf("serve") + 1);
    const drop = new Set(["--workers", "--node-id", "--admin-port"]);
    const rest: string[] = [];
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i]!;
      const name = a.split("=")[0]!;
      if (drop.has(name)) {
        if (!a.includes("=")) i++;
        continue;
      }
      rest.push(a);
    }
    return (await import("./supervisor.js")).supervise(config, rest, workers);
  }
  const log = createLogger({ level: config.log.level, format: config.log.format, bindings: config.nodeID ? { node: config.nodeID } : {} });
  let secret: string;
  try {
    const s = resolveSecret(config, true);
    secret = s.secret;
    if (s.created) log.info("generated a token secret", { file: s.source });
  } catch (e) {
    throw new CliError(`secret: ${(e as Error).message}`, 1);
  }
  // Type=notify under systemd: READY=1 once every listener is up and the backend is ready (not when the process
  // starts), STATUS= lines, and a watchdog fed from the event loop, so a loop that hangs gets the service restarted.
  const notifier = createNotifier();
  let node;
  try {
    node = await startNode(config, log, secret, { reloadConfig: () => loadConfigFrom(opts), notify: notifier && ((st) => void notifier.send(st)) });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (e instanceof ConfigError) throw new CliError(`config: ${err.message}`, 2);
    if (err.code === "EADDRINUSE") throw new CliError(`cannot listen: address in use (${err.message})`, 1);
    throw new CliError(`cannot start: ${err.message}`, 1);
  }
  const shutdown = (signal: string) => {
    // The grace period starts after the drain window (both read now: a reload may have changed them).
    const { graceSeconds, drainSeconds } = config.shutdown;
    const force = setTimeout(() => {
      log.error("shutdown took too long; exiting", { graceSeconds, drainSeconds });
      process.exit(1);
    }, (graceSeconds + drainSeconds) * 1000);
    force.unref();
    node.stop({ reason: signal, overMs: drainSeconds * 1000 }).catch((e) => {
      log.error("error while stopping", { err: e });
      process.exit(1);
    });
  };
  if (notifier) void superviseNotify(notifier, node, log);
  // However the node stops (a signal, the admin API's Drain), the process ends with it.
  node.stopped.then(() => {
    log.info("stopped");
    process.exit(0);
  });
  process.once("SIGTERM", () => shutdown("SIGTERM"));
  process.once("SIGINT", () => shutdown("SIGINT"));
  // systemctl reload (ExecReload=kill -HUP $MAINPID): re-read the file and environment, apply what can change live.
  process.on("SIGHUP", () => {
    // A refused reload was logged by the node with its reason; anything else is logged here, never swallowed.
    node.reload().catch((err) => {
      if (!(err instanceof ConfigError)) log.error("config reload failed", { err });
    });
  });
  if (process.env.IMGATE_WORKER !== undefined) {
    // A worker whose supervisor died (even by SIGKILL) drains and exits instead of running on as an orphan.
    const parent = process.ppid;
    setInterval(() => {
      if (process.ppid !== parent) shutdown("supervisor gone");
    }, 1000).unref();
  }
}

async function superviseNotify(notifier: Notifier, node: Node, log: Logger): Promise<void> {
  const status = () =>
    node.draining ? `STATUS=draining: ${node.registry.connections} connections left` : `STATUS=serving ${node.registry.connections} connections (${node.registry.userCount} users)`;
  if (notifier.watchdogMs) setInterval(() => notifier.send("WATCHDOG=1"), notifier.watchdogMs).unref();
  // Ready means ready: Redis up, the store thread answering, registered in etcd where discovery is on.
  for (let waited = 0; !node.readiness().ready && !node.draining; waited += 200) {
    if (waited % 5000 === 0) notifier.send(`STATUS=starting: ${node.readiness().reason ?? "not ready"}`);
    await Bun.sleep(200);
  }
  if (node.draining) return;
  if (!notifier.send(`READY=1\nMAINPID=${process.pid}\n${status()}`)) log.warn("systemd notification failed", { socket: process.env.NOTIFY_SOCKET });
  setInterval(() => notifier.send(status()), 5000).unref();
}
