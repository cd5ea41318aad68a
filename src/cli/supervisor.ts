// `imgate serve --workers N`: N processes, each a cluster node on the configured Redis, sharing the WebSocket
// and hub ports through SO_REUSEPORT (the kernel spreads connections). Worker i serves admin HTTP on the
// admin port + i. The parent only supervises: a worker that dies is restarted (with backoff); SIGTERM or
// SIGINT is passed to every worker and the parent exits once they have all drained.
import { createLogger } from "../observe/log.js";
import type { Config } from "../config/schema.js";

export async function supervise(config: Config, argv: string[], workers: number): Promise<void> {
  const log = createLogger({ level: config.log.level, format: config.log.format, bindings: { role: "supervisor" } });
  const base = config.nodeID || `${(await import("node:os")).hostname()}-${process.pid}`;
  // Re-run ourselves: the compiled binary is process.execPath; under bun the script is argv[1].
  const self = process.argv[1] && /\.(ts|js)$/.test(process.argv[1]) ? [process.execPath, process.argv[1]] : [process.execPath];
  const procs: (ReturnType<typeof Bun.spawn> | undefined)[] = new Array(workers);
  const restarts = new Array<number>(workers).fill(0);
  let stopping = false;

  const start = (i: number) => {
    const args = [...self, "serve", ...argv, "--node-id", `${base}-w${i}`, "--admin-port", String(config.admin.port + i)];
    const p = Bun.spawn(args, {
      stdin: "ignore", stdout: "inherit", stderr: "inherit",
      env: { ...process.env, IMGATE_WORKER: String(i) },
    });
    procs[i] = p;
    log.info("worker started", { worker: i, pid: p.pid });
    p.exited.then((code) => {
      if (stopping) return;
      restarts[i]!++;
      const delay = Math.min(10_000, 250 * 2 ** Math.min(restarts[i]!, 6));
      log.error("worker exited; restarting", { worker: i, code, inMs: delay });
      setTimeout(() => !stopping && start(i), delay);
    });
  };
  for (let i = 0; i < workers; i++) start(i);

  const stop = async (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log.info("stopping workers", { signal });
    for (const p of procs) p?.kill(signal);
    const codes = await Promise.all(procs.map((p) => p?.exited));
    process.exit(codes.every((c) => c === 0) ? 0 : 1);
  };
  process.once("SIGTERM", () => void stop("SIGTERM"));
  process.once("SIGINT", () => void stop("SIGINT"));
}
