// Redis connections from config: a URL (redis://, rediss://), or OpenIM's redis.yml keys (address list,
// password, mode standalone | cluster | sentinel). Commands fail fast while Redis is down (no offline queue),
// so callers see errors and retry on their own terms instead of piling up behind a dead socket.
import { Cluster, Redis, type RedisOptions } from "ioredis";
import type { Config } from "../config/schema.js";
import { splitHostPort } from "../config/host-port.js";
import { redisConfigured } from "../config/redis.js";

export type RedisClient = Redis | Cluster;

export { redisConfigured };

/** host:port, [v6]:port or a bare host → ioredis' {host, port}. */
export function hostPort(addr: string, defaultPort: number): { host: string; port: number } {
  const hp = splitHostPort(addr, defaultPort);
  return hp ? { host: hp.host || "127.0.0.1", port: hp.port || defaultPort } : { host: addr, port: defaultPort };
}

export function createRedis(cfg: Config, purpose: string): RedisClient {
  const common: RedisOptions = {
    connectionName: `imgate:${cfg.nodeID || "node"}:${purpose}`,
    enableOfflineQueue: purpose === "subscriber",
    maxRetriesPerRequest: 1,
    retryStrategy: (times) => Math.min(2000, 50 * 2 ** Math.min(times, 6)),
    lazyConnect: false,
    // Commands issued in one event-loop turn go out as one pipeline: one write and one read per turn, not per command.
    enableAutoPipelining: purpose !== "subscriber",
    // A command that never gets its reply (a connection lost without an error, a redirect lost in a slot move) fails
    // after this instead of holding its caller forever: the route writer and the presence batcher retry failures,
    // but a write that never settles would stop them for good.
    commandTimeout: purpose === "subscriber" ? undefined : 10_000,
  };
  const r = cfg.redis;
  if (r.url) return new Redis(r.url, common);
  const nodes = r.address.map((a) => hostPort(a, 6379));
  const auth = { username: r.username || undefined, password: r.password || undefined };
  if (r.redisMode === "cluster")
    return new Cluster(nodes, {
      redisOptions: { ...common, ...auth, enableAutoPipelining: false }, enableOfflineQueue: common.enableOfflineQueue,
      // No auto-pipelining on a Redis Cluster: ioredis groups a turn's commands per master, and when a slot moves, a
      // pipeline whose commands partly succeed and partly get MOVED is not retried and does not refresh the slot
      // map: every later command to that slot failed with MOVED until something else refreshed it (seen after a
      // reshard under load). Single commands follow MOVED/ASK and refresh the map.
      enableAutoPipelining: false,
      // The subscriber keeps one connection per shard for SSUBSCRIBE and follows slot moves and failovers.
      shardedSubscribers: purpose === "subscriber",
    });
  // OpenIM main's sentinelMode. Reads stay on the master even with routeByLatency/routeRandomly: a status
  // read from a lagging replica could undo a change this node just wrote.
  if (r.redisMode === "sentinel")
    return new Redis({
      ...common, ...auth, db: r.db, name: r.sentinelMode.masterName,
      // Follow +switch-master at once instead of waiting for the old master's connection to drop.
      failoverDetector: true,
      // As OpenIM (go-redis FailoverOptions without SentinelPassword): the sentinels are asked without a password.
      sentinels: r.sentinelMode.sentinelsAddrs.map((a) => hostPort(a, 26379)),
    });
  return new Redis({ ...common, ...auth, host: nodes[0]?.host, port: nodes[0]?.port, db: r.db });
}

/** Waits until the client is ready, at most timeoutMs; false if it is not (the node starts degraded). */
export function waitReady(r: RedisClient, timeoutMs: number): Promise<boolean> {
  if (r.status === "ready") return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      clearTimeout(timer);
      r.off("ready", onReady);
      resolve(ok);
    };
    const onReady = () => done(true);
    const timer = setTimeout(() => done(false), timeoutMs);
    r.on("ready", onReady);
  });
}
