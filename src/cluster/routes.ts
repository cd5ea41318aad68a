// User → node routing in Redis: HASH imgate:route:{<user>} field <node> → the user's platforms on that node
// ("1,5"), and SET imgate:nodeusers:<node> of the users a node holds (so survivors can clean up after it).
// Writes are coalesced per user and flushed every tick; a failed flush is retried, and after a Redis restart
// the whole local table is written again (resync).
import type { RedisClient } from "./redis.js";

export const routeKey = (userID: string) => `imgate:route:{${userID}}`;
export const nodeUsersKey = (nodeID: string) => `imgate:nodeusers:${nodeID}`;

export interface Route {
  nodeID: string;
  platforms: number[];
}

export function parsePlatforms(v: string): number[] {
  return v ? v.split(",").map(Number) : [];
}

export function createRouteTable(opts: {
  redis: RedisClient;
  nodeID: string;
  /** Platforms this node holds for the user now. */
  current: (userID: string) => number[];
  localUsers: () => Iterable<string>;
  everyMs?: number;
  onError?: (err: unknown) => void;
}) {
  const { redis, nodeID } = opts;
  let dirty = new Set<string>();
  let flushing: Promise<void> | undefined;

  async function flush() {
    if (flushing || dirty.size === 0) return flushing;
    const users = [...dirty];
    dirty = new Set();
    flushing = (async () => {
      try {
        await Promise.all(users.map((u) => {
          const ps = opts.current(u);
          return ps.length > 0
            ? Promise.all([redis.hset(routeKey(u), nodeID, ps.join(",")), redis.sadd(nodeUsersKey(nodeID), u)])
            : Promise.all([redis.hdel(routeKey(u), nodeID), redis.srem(nodeUsersKey(nodeID), u)]);
        }));
      } catch (err) {
        for (const u of users) dirty.add(u);
        opts.onError?.(err);
      } finally {
        flushing = undefined;
      }
    })();
    return flushing;
  }

  const timer = setInterval(() => void flush(), opts.everyMs ?? 20);
  timer.unref?.();

  return {
    mark(userID: string) {
      dirty.add(userID);
    },
    resync() {
      for (const u of opts.localUsers()) dirty.add(u);
    },
    flush,
    pending: () => dirty.size,
    /** Routes of each user: which nodes hold it, with which platforms. */
    async lookup(userIDs: string[]): Promise<Map<string, Route[]>> {
      const unique = [...new Set(userIDs)];
      const rows = await Promise.all(unique.map((u) => redis.hgetall(routeKey(u))));
      return new Map(unique.map((u, i) => [u, Object.entries(rows[i]!).map(([n, ps]) => ({ nodeID: n, platforms: parsePlatforms(ps) }))]));
    },
    /** Shutdown: this node holds nobody any more. */
    async clear() {
      clearInterval(timer);
      const users = await redis.smembers(nodeUsersKey(nodeID));
      await Promise.all(users.map((u) => redis.hdel(routeKey(u), nodeID)));
      await redis.del(nodeUsersKey(nodeID));
    },
    stop() {
      clearInterval(timer);
    },
  };
}

export type RouteTable = ReturnType<typeof createRouteTable>;
