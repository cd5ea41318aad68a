// A real redis-server for one test file: its own port, no persistence, stopped by PID.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
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

export async function startRedis(extra: string[] = []): Promise<TestRedis> {
  const port = await freePort();
  // Its own working dir: a replica's full sync writes an RDB there even with --save "" (never the repository).
  const dir = mkdtempSync(join(tmpdir(), "imgate-redis-"));
  let proc: ReturnType<typeof Bun.spawn> | undefined;
  const r: TestRedis = {
    port,
    url: `redis://127.0.0.1:${port}`,
    pid: 0,
    async start() {
      proc = Bun.spawn(["redis-server", "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no", ...extra], {
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
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await r.start();
  return r;
}

export function redisCli(port: number, ...args: string[]): string {
  return Bun.spawnSync(["redis-cli", "-p", String(port), ...args]).stdout.toString().trim();
}

/**
 * A master, one replica and one redis-sentinel (Debian's redis-sentinel) watching them as `masterName`, each on
 * its own port. `failover()` asks the sentinel to promote the replica and waits until it names the new master.
 */
export async function startSentinel(masterName: string) {
  const master = await startRedis();
  const replica = await startRedis(["--replicaof", "127.0.0.1", String(master.port)]);
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "imgate-sentinel-"));
  const conf = join(dir, "sentinel.conf");
  writeFileSync(conf, [
    `port ${port}`, "bind 127.0.0.1", `dir ${dir}`,
    `sentinel monitor ${masterName} 127.0.0.1 ${master.port} 1`,
    `sentinel down-after-milliseconds ${masterName} 2000`,
    `sentinel failover-timeout ${masterName} 10000`,
  ].join("\n") + "\n");
  const proc = Bun.spawn(["redis-sentinel", conf], { stdout: "ignore", stderr: "inherit" });
  const masterPort = () => Number(redisCli(port, "SENTINEL", "get-master-addr-by-name", masterName).split("\n")[1] ?? 0);
  const until = async (ok: () => boolean, what: string, ms = 20_000) => {
    const end = Date.now() + ms;
    while (!ok()) {
      if (Date.now() > end) throw new Error(`sentinel: ${what} did not happen`);
      await Bun.sleep(100);
    }
  };
  // The sentinel must know the master and have found the replica before it can fail over.
  await until(() => masterPort() === master.port, "monitoring the master");
  await until(() => redisCli(port, "SENTINEL", "replicas", masterName).includes(String(replica.port)), "finding the replica");
  await until(() => redisCli(replica.port, "INFO", "replication").includes("master_link_status:up"), "replica in sync");
  return {
    port,
    address: `127.0.0.1:${port}`,
    master,
    replica,
    /** The port of the instance the sentinel names as master now. */
    masterPort,
    async failover(): Promise<number> {
      const before = masterPort();
      const r = redisCli(port, "SENTINEL", "FAILOVER", masterName);
      if (r !== "OK") throw new Error(`SENTINEL FAILOVER: ${r}`);
      await until(() => masterPort() !== before && redisCli(masterPort(), "ROLE").startsWith("master"), "the failover");
      return masterPort();
    },
    async stop() {
      proc.kill("SIGTERM");
      await proc.exited;
      await replica.stop();
      await master.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
