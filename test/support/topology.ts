// Where the cluster shape keeps its state, for suites that run alike on every kind of Redis: one standalone
// redis-server, a real three-master Redis Cluster, or a master and replica behind redis-sentinel.
import { redisCli, startRedis, startSentinel, type TestRedis } from "./redis.js";
import { startRedisCluster, type TestRedisCluster } from "./redis-cluster.js";

export interface Topology {
  name: "standalone" | "cluster" | "sentinel";
  /** Flags and environment that point `imgate serve` at it. */
  serveArgs: string[];
  serveEnv: Record<string, string>;
  /** redis-cli against it: the master, or any Cluster node following redirects (-c). */
  cli(...args: string[]): string;
  /** Standalone only: SIGKILL and start again, empty. */
  restart?: { kill(): Promise<void>; start(): Promise<void> };
  cluster?: TestRedisCluster;
  sentinel?: Awaited<ReturnType<typeof startSentinel>>;
  stop(): Promise<void>;
}

export async function startTopology(name: Topology["name"], opts: { replicas?: 0 | 1 } = {}): Promise<Topology> {
  if (name === "standalone") {
    const r: TestRedis = await startRedis();
    return { name, serveArgs: ["--redis", r.url], serveEnv: {}, cli: (...a) => redisCli(r.port, ...a), restart: r, stop: () => r.stop() };
  }
  if (name === "cluster") {
    const c = await startRedisCluster({ masters: 3, replicas: opts.replicas ?? 0 });
    return {
      name, cluster: c, serveArgs: ["--shape", "cluster"],
      serveEnv: { IMGATE_REDIS_ADDRESS: c.addresses.join(","), IMGATE_REDIS_REDIS_MODE: "cluster" },
      cli: (...a) => Bun.spawnSync(["redis-cli", "-c", "-p", String(c.masters()[0]), ...a]).stdout.toString().trim(),
      stop: () => c.stop(),
    };
  }
  const s = await startSentinel("imgate-master");
  return {
    name, sentinel: s, serveArgs: ["--shape", "cluster"],
    serveEnv: { IMGATE_REDIS_REDIS_MODE: "sentinel", IMGATE_REDIS_SENTINEL_MODE_MASTER_NAME: "imgate-master", IMGATE_REDIS_SENTINEL_MODE_SENTINELS_ADDRS: s.address },
    cli: (...a) => redisCli(s.masterPort(), ...a),
    stop: () => s.stop(),
  };
}
