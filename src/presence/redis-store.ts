// Online status in Redis, in OpenIM's layout (§6.3), so OpenIM services reading Redis see imgate's users:
// ZSET ONLINE:<userID> of platform IDs scored by expiry (unix seconds), and on a change of the set a
// PUBLISH on `online_change` of "<p1>:<p2>:…:<userID>" (members in ZRANGE order, then the userID).
// Change notifications come back through our own SUBSCRIBE, so every node sees every node's changes.
import type { Redis, Cluster } from "ioredis";
import type { PubSub } from "../backend/ports.js";
import { shardOf } from "./batcher.js";
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
  local payload = table.concat(members, ":")
  PUBLISH_STEP
end
return 0
`;

/** OpenIM's script: the PUBLISH inside, atomic with the change (classic pub/sub). */
const SET_ONLINE_CLASSIC = SET_ONLINE.replace("PUBLISH_STEP", `redis.call("PUBLISH", "${ONLINE_CHANNEL}", payload)\n  return 1`);
/** On a Redis Cluster a script may only SPUBLISH to a channel of its key's slot: it returns the payload instead,
 *  and the caller publishes it on one of SHARD_CHANNELS (spread over the shards by user). */
const SET_ONLINE_SHARDED = SET_ONLINE.replace("PUBLISH_STEP", "return payload");

/** Sharded notification channels: changes of a user go to one of them (by user), every node listens to all. */
export const SHARD_CHANNELS = Array.from({ length: 16 }, (_, i) => `imgate:online:${i}`);
export function shardChannelOf(userID: string): string {
  return SHARD_CHANNELS[shardOf(userID, SHARD_CHANNELS.length)]!;
}

/**
 * Parses an online_change payload "<p1>:…:<pn>:<userID>": the leading segments that are platform IDs (1..12), then
 * the userID, which may itself hold ':' (OpenIM takes the last segment, so user "x:alice" going online would read
 * as alice). A userID that starts with a platform number and a ':' stays ambiguous in OpenIM's format.
 */
export function parseOnlineChange(payload: string): { userID: string; platformIDs: number[] } | undefined {
  const parts = payload.split(":");
  const platformIDs: number[] = [];
  while (parts.length > 1 && /^\d{1,2}$/.test(parts[0]!) && Number(parts[0]) >= 1 && Number(parts[0]) <= 12) platformIDs.push(Number(parts.shift()));
  const userID = parts.join(":");
  if (!userID) return undefined;
  return { userID, platformIDs };
}

export function createRedisStatusStore(opts: {
  client: Redis | Cluster;
  /** online_change: classic where OpenIM's services read it, sharded in the cluster shape on a Redis Cluster. */
  pubsub: PubSub;
  ttlSeconds: number;
  onError?: (err: unknown) => void;
}): StatusStore {
  const { client, pubsub } = opts;
  const listeners: ((u: string, p: number[]) => void)[] = [];
  const sharded = pubsub.sharded;
  client.defineCommand("imgateSetOnline", { numberOfKeys: 1, lua: sharded ? SET_ONLINE_SHARDED : SET_ONLINE_CLASSIC });
  const channels = sharded ? SHARD_CHANNELS : [ONLINE_CHANNEL];
  const subscribed = Promise.all(channels.map((ch) =>
    pubsub.subscribe(ch, (raw) => {
      const c = parseOnlineChange(raw.toString());
      if (c) for (const l of listeners) l(c.userID, c.platformIDs);
    }).catch((e) => opts.onError?.(e)),
  )).then(() => {});

  return {
    async setStatus(entries: StatusEntry[]) {
      const now = Math.floor(Date.now() / 1000);
      await Promise.all(entries.map(async (e) => {
        const r = await (client as any).imgateSetOnline(ONLINE_KEY_PREFIX + e.userID, opts.ttlSeconds, now, now + opts.ttlSeconds, e.offline.length, e.userID, ...e.offline, ...e.online);
        if (sharded && typeof r === "string") await pubsub.publish(shardChannelOf(e.userID), r);
      }));
    },
    async getOnline(userIDs) {
      const now = Math.floor(Date.now() / 1000);
      const rows = await Promise.all(userIDs.map((u) => client.zrangebyscore(ONLINE_KEY_PREFIX + u, now, "+inf")));
      return new Map(userIDs.map((u, i) => [u, rows[i]!.map(Number)]));
    },
    onChange(l) {
      listeners.push(l);
    },
    listening: () => subscribed,
    async close() {
      await Promise.all(channels.map((ch) => pubsub.unsubscribe(ch).catch(() => {})));
    },
  };
}
