// A real redis-server for one test file: its own port, no persistence, stopped by PID.
import { freePort } from "./proc.js";

export interface TestRedis {
  port: number;
  url: string;
  pid: number;
  /** SIGKILL (an outage); `start` brings it back on the same port, empty. */
  kill(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export async function startRedis(): Promise<TestRedis> {
  const port = await freePort();
  let proc: ReturnType<typeof Bun.spawn> | undefined;
  const r: TestRedis = {
    port,
    url: `redis://127.0.0.1:${port}`,
    pid: 0,
    async start() {
      proc = Bun.spawn(["redis-server", "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no"], {
        stdout: "ignore", stderr: "inherit",
      });
      r.pid = proc.pid;
      const end = Date.now() + 10_000;
      for (;;) {
        const p = Bun.spawnSync(["redis-cli", "-p", String(port), "ping"]);
        if (p.stdout.toString().trim() === "PONG") return;
        if (Date.now() > end) throw new Error("redis-server did not start");
        await Bun.sleep(20);
      }
    },
    async kill() {
      proc?.kill("SIGKILL");
      await proc?.exited;
    },
    async stop() {
      proc?.kill("SIGTERM");
      await proc?.exited;
    },
  };
  await r.start();
  return r;
}

export function redisCli(port: number, ...args: string[]): string {
  return Bun.spawnSync(["redis-cli", "-p", String(port), ...args]).stdout.toString().trim();
}
