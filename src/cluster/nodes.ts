// The node registry: every node writes a heartbeat (ZSET imgate:nodes, score = last beat in ms). A node whose
// beat is older than `ttlMs` is dead; the first survivor to take its reap lock removes its routes and writes
// offline the platforms nobody else holds, so its users do not stay "online" until the presence TTL.
import type { StatusStore } from "../presence/store.js";
import type { RedisClient } from "./redis.js";
import { nodeUsersKey, parsePlatforms, routeKey } from "./routes.js";

export const NODES_KEY = "imgate:nodes";

export function createNodeRegistry(opts: {
  redis: RedisClient;
  nodeID: string;
  ttlMs: number;
  statusStore: StatusStore;
  onReaped?: (nodeID: string, users: number) => void;
  onError?: (err: unknown) => void;
}) {
  const { redis, nodeID, ttlMs } = opts;
  const beat = async () => {
    await redis.zadd(NODES_KEY, Date.now(), nodeID);
  };

  async function reap(dead: string) {
    // One survivor per dead node does the work.
    const got = await redis.set(`imgate:reap:${dead}`, nodeID, "PX", 30_000, "NX");
    if (got !== "OK") return;
    const users = await redis.smembers(nodeUsersKey(dead));
    const offline: { userID: string; online: number[]; offline: number[] }[] = [];
    for (const u of users) {
      const routes = await redis.hgetall(routeKey(u));
      const had = parsePlatforms(routes[dead] ?? "");
      await redis.hdel(routeKey(u), dead);
      const stillHeld = new Set(Object.entries(routes).filter(([n]) => n !== dead).flatMap(([, ps]) => parsePlatforms(ps)));
      const gone = had.filter((p) => !stillHeld.has(p));
      if (gone.length > 0) offline.push({ userID: u, online: [], offline: gone });
    }
    if (offline.length > 0) await opts.statusStore.setStatus(offline);
    await redis.del(nodeUsersKey(dead));
    await redis.zrem(NODES_KEY, dead);
    opts.onReaped?.(dead, users.length);
  }

  const tick = async () => {
    try {
      await beat();
      const dead = await redis.zrangebyscore(NODES_KEY, "-inf", Date.now() - ttlMs);
      for (const d of dead) if (d !== nodeID) await reap(d);
    } catch (err) {
      opts.onError?.(err);
    }
  };
  const timer = setInterval(() => void tick(), Math.max(100, Math.floor(ttlMs / 3)));
  timer.unref?.();

  return {
    start: () => tick(),
    async alive(): Promise<string[]> {
      return redis.zrangebyscore(NODES_KEY, Date.now() - ttlMs, "+inf");
    },
    async leave() {
      clearInterval(timer);
      await redis.zrem(NODES_KEY, nodeID).catch(() => {});
    },
    stop() {
      clearInterval(timer);
    },
  };
}
