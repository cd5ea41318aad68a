// `imgate serve --workers N`: N processes, each a cluster node on the configured Redis, sharing the WebSocket
// and hub ports through SO_REUSEPORT (the kernel spreads connections). The parent only supervises:
// - a worker that dies is restarted (with backoff); one whose /healthz stops answering is killed and restarted;
// - SIGTERM/SIGINT go to every worker and the parent exits once they have all drained;
// - SIGHUP goes to every worker (each re-reads the config and applies what can change live);
// - SIGUSR2 (`imgate reload --workers`) replaces the workers one at a time: the new one starts, the old one drains
//   (over shutdown.drainSeconds) only once the new one is ready, so the port always has a listener.
// Worker i serves admin HTTP on admin.port + i, and its replacement on admin.port + N + i (then back), so old and
// new can run side by side. Under systemd the parent is the one that notifies (READY=1 once every worker is ready).
import type { Subprocess } from "bun";
import type { Config } from "../config/schema.js";
import { createLogger } from "../observe/log.js";
import { createNotifier } from "../systemd/notify.js";

interface Slot {
  proc?: Subprocess;
  /** Which of the slot's two admin ports the current worker uses. */
  gen: number;
  restarts: number;
  /** /healthz checks missed in a row. */
  missed: number;
}

export async function supervise(config: Config, argv: string[], workers: number): Promise<void> {
  const log = createLogger({ level: config.log.level, format: config.log.format, bindings: { role: "supervisor" } });
  const base = config.nodeID || `${(await import("node:os")).hostname()}-${process.pid}`;
  // Re-run ourselves: the compiled binary is process.execPath; under bun the script is argv[1].
  const self = process.argv[1] && /\.(ts|js)$/.test(process.argv[1]) ? [process.execPath, process.argv[1]] : [process.execPath];
  const notifier = createNotifier();
  // Workers must not notify systemd themselves (NotifyAccess=main would drop it; READY=1 is the whole set's).
  const { NOTIFY_SOCKET: _n, WATCHDOG_USEC: _u, WATCHDOG_PID: _p, ...workerEnv } = process.env;
  const slots: Slot[] = Array.from({ length: workers }, () => ({ gen: 0, restarts: 0, missed: 0 }));
  const adminHost = ["0.0.0.0", "::", ""].includes(config.admin.host) ? "127.0.0.1" : config.admin.host;
  const adminPort = (i: number, gen: number) => config.admin.port + i + (gen % 2) * workers;
  let stopping = false;
  let rolling = false;

  const spawn = (i: number, gen: number): Subprocess => {
    const args = [...self, "serve", ...argv, "--node-id", `${base}-w${i}${gen ? `g${gen}` : ""}`, "--admin-port", String(adminPort(i, gen))];
    const p = Bun.spawn(args, { stdin: "ignore", stdout: "inherit", stderr: "inherit", env: { ...workerEnv, IMGATE_WORKER: String(i) } });
    log.info("worker started", { worker: i, pid: p.pid, admin: adminPort(i, gen) });
    p.exited.then((code) => {
      // A worker replaced by a rolling restart exits on purpose; only the slot's current worker is restarted.
      if (stopping || slots[i]!.proc !== p) return;
      const slot = slots[i]!;
      slot.restarts++;
      const delay = Math.min(10_000, 250 * 2 ** Math.min(slot.restarts, 6));
      log.error("worker exited; restarting", { worker: i, code, inMs: delay });
      setTimeout(() => {
        if (stopping || slots[i]!.proc !== p) return;
        slot.missed = 0;
        slot.proc = spawn(i, slot.gen);
      }, delay);
    });
    return p;
  };

  const probe = async (port: number, path: "/readyz" | "/healthz"): Promise<boolean> => {
    try {
      return (await fetch(`http://${adminHost}:${port}${path}`, { signal: AbortSignal.timeout(1000) })).ok;
    } catch {
      return false;
    }
  };
  const waitReady = async (port: number, p: Subprocess, ms: number): Promise<boolean> => {
    const end = Date.now() + ms;
    while (Date.now() < end && p.exitCode === null) {
      if (await probe(port, "/readyz")) return true;
      await Bun.sleep(100);
    }
    return false;
  };

  /** Replaces every worker, one at a time; the old one drains only once its replacement is ready. */
  const roll = async () => {
    if (rolling || stopping) return void log.warn("rolling restart not started", { why: rolling ? "one is in progress" : "stopping" });
    rolling = true;
    notifier?.send("STATUS=rolling restart of the workers");
    log.info("rolling restart started", { workers });
    try {
      for (let i = 0; i < workers && !stopping; i++) {
        const slot = slots[i]!;
        const old = slot.proc;
        const gen = slot.gen + 1;
        const fresh = spawn(i, gen);
        if (!(await waitReady(adminPort(i, gen), fresh, 60_000))) {
          log.error("rolling restart stopped: the new worker did not become ready; the old one keeps serving", { worker: i });
          fresh.kill("SIGKILL");
          return;
        }
        Object.assign(slot, { proc: fresh, gen, restarts: 0, missed: 0 });
        log.info("worker replaced; draining the old one", { worker: i, oldPid: old?.pid, pid: fresh.pid });
        if (old && old.exitCode === null) {
          old.kill("SIGTERM");
          const limit = (config.shutdown.drainSeconds + config.shutdown.graceSeconds + 5) * 1000;
          const done = await Promise.race([old.exited.then(() => true), Bun.sleep(limit).then(() => false)]);
          if (!done) old.kill("SIGKILL");
        }
      }
      log.info("rolling restart done", { workers });
    } finally {
      rolling = false;
      notifier?.send(`STATUS=${workers} workers`);
    }
  };

  for (let i = 0; i < workers; i++) slots[i]!.proc = spawn(i, 0);

  const stop = async (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    notifier?.send("STOPPING=1");
    log.info("stopping workers", { signal });
    for (const s of slots) s.proc?.kill(signal);
    const codes = await Promise.all(slots.map((s) => s.proc?.exited));
    process.exit(codes.every((c) => c === 0) ? 0 : 1);
  };
  process.once("SIGTERM", () => void stop("SIGTERM"));
  process.once("SIGINT", () => void stop("SIGINT"));
  process.on("SIGHUP", () => {
    log.info("passing SIGHUP to the workers (config reload)");
    for (const s of slots) s.proc?.kill("SIGHUP");
  });
  process.on("SIGUSR2", () => void roll());

  // A worker that stops answering /healthz three times in a row is killed, and restarted like one that died; under
  // systemd this loop also feeds the watchdog while the workers answer.
  setInterval(async () => {
    await Promise.all(slots.map(async (s, i) => {
      if (!s.proc || s.proc.exitCode !== null || rolling || stopping) return;
      s.missed = (await probe(adminPort(i, s.gen), "/healthz")) ? 0 : s.missed + 1;
      if (s.missed >= 3) {
        log.error("worker stopped answering /healthz; killing it", { worker: i, pid: s.proc.pid });
        s.missed = 0;
        s.proc.kill("SIGKILL");
      }
    }));
    if (notifier?.watchdogMs) notifier.send("WATCHDOG=1");
  }, notifier?.watchdogMs ?? 5000).unref();
  if (notifier) {
    const ready = await Promise.all(slots.map((s, i) => waitReady(adminPort(i, s.gen), s.proc!, 120_000)));
    if (!stopping) notifier.send(`READY=1\nMAINPID=${process.pid}\nSTATUS=${ready.filter(Boolean).length}/${workers} workers ready`);
  }
}
