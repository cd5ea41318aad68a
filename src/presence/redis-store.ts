// Online status in Redis, in OpenIM's layout (§6.3), so OpenIM services reading Redis see imgate's users:
// ZSET ONLINE:<userID> of platform IDs scored by expiry (unix seconds), and on a change of the set a
// PUBLISH on `online_change` of "<p1>:<p2>:…:<userID>" (members in ZRANGE order, then the userID).
// Change notifications come back through our own SUBSCRIBE, so every node sees every node's changes.
import type { Redis, Cluster } from "ioredis";
import type { StatusEntry, StatusStore } from "./store.js";

export const ONLINE_KEY_PREFIX = "ONLINE:";
export const ONLINE_CHANNEL = "online_change";

// KEYS[1] = ONLINE:<userID>; ARGV = ttl, now, expireAt, offlineCount, userID, offline..., online...
// Same steps as OpenIM's SetUserOnline script; the PUBLISH happens inside, so it is atomic with the change.
const SET_ONLINE = `
local key = KEYS[1]
local before = redis.call("ZCARD", key)
redis.call("ZREMRANGEBYSCORE", key, "-inf", ARGV[2])
local nOff = tonumber(ARGV[4])
for i = 6, 5 + nOff do redis.call("ZREM", key, ARGV[i]) end
local mid = redis.call("ZCARD", key)
for i = 6 + nOff, #ARGV do redis.call("ZADD", key, ARGV[3], ARGV[i]) end
redis.call("EXPIRE", key, ARGV[1])
local after = redis.call("ZCARD", key)
if before ~= mid or mid ~= after then
  local members = redis.call("ZRANGE", key, 0, -1)
  table.insert(members, ARGV[5])
  redis.call("PUBLISH", "${ONLINE_CHANNEL}", table.concat(members, ":"))
  return 1
end
return 0
`;

/** Parses an online_change payload as OpenIM does: the last element is the userID, the rest platform IDs. */
export function parseOnlineChange(payload: string): { userID: string; platformIDs: number[] } | undefined {
  const parts = payload.split(":");
  const userID = parts.pop()!;
  const platformIDs: number[] = [];
  for (const p of parts) {
    if (!/^-?\d+$/.test(p)) return undefined;
    platformIDs.push(Number(p));
  }
  return { userID, platformIDs };
}

export function createRedisStatusStore(opts: {
  client: Redis | Cluster;
  /** A separate connection for SUBSCRIBE. */
  subscriber: Redis | Cluster;
  ttlSeconds: number;
  onError?: (err: unknown) => void;
}): StatusStore {
  const { client, subscriber } = opts;
  const listeners: ((u: string, p: number[]) => void)[] = [];
  client.defineCommand("imgateSetOnline", { numberOfKeys: 1, lua: SET_ONLINE });
  subscriber.subscribe(ONLINE_CHANNEL).catch((e) => opts.onError?.(e));
  subscriber.on("message", (channel: string, message: string) => {
    if (channel !== ONLINE_CHANNEL) return;
    const c = parseOnlineChange(message);
    if (c) for (const l of listeners) l(c.userID, c.platformIDs);
  });

  return {
    async setStatus(entries: StatusEntry[]) {
      const now = Math.floor(Date.now() / 1000);
      await Promise.all(entries.map((e) =>
        (client as any).imgateSetOnline(ONLINE_KEY_PREFIX + e.userID, opts.ttlSeconds, now, now + opts.ttlSeconds, e.offline.length, e.userID, ...e.offline, ...e.online),
      ));
    },
    async getOnline(userIDs) {
      const now = Math.floor(Date.now() / 1000);
      const rows = await Promise.all(userIDs.map((u) => client.zrangebyscore(ONLINE_KEY_PREFIX + u, now, "+inf")));
      return new Map(userIDs.map((u, i) => [u, rows[i]!.map(Number)]));
    },
    onChange(l) {
      listeners.push(l);
    },
    async close() {
      await subscriber.unsubscribe(ONLINE_CHANNEL).catch(() => {});
    },
  };
}
