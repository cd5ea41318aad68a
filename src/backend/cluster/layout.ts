// The version of what imgate keeps in Redis, in the key imgate:layout. 0.1.0 wrote none (layout 1: token-state
// fields were the tokens themselves). A node brings an older layout forward before it serves, and refuses to
// start on a layout newer than it knows, naming both: two versions must never write one Redis in two layouts.
import { Cluster, type Redis } from "ioredis";
import { stateExpiry, tokenHashHex } from "../token-hash.js";

export const REDIS_LAYOUT = 2;
export const LAYOUT_KEY = "imgate:layout";

/** The masters to scan: every master of a Redis Cluster, else the one server. */
function scanTargets(redis: Redis | Cluster): Redis[] {
  return redis instanceof Cluster ? redis.nodes("master") : [redis];
}

/** Layout 1 → 2: token-state fields become the token's SHA-256, values "<state>:<exp>". Idempotent per field. */
async function hashTokenFields(redis: Redis | Cluster): Promise<number> {
  let moved = 0;
  for (const node of scanTargets(redis)) {
    let cursor = "0";
    do {
      const [next, keys] = await node.scan(cursor, "MATCH", "UID_PID_TOKEN_STATUS:*", "COUNT", 500);
      cursor = next;
      for (const key of keys) {
        const all = await redis.hgetall(key);
        const clear = Object.entries(all).filter(([f]) => !/^[0-9a-f]{64}$/.test(f));
        if (clear.length === 0) continue;
        const now = Math.floor(Date.now() / 1000);
        const m = redis.multi();
        for (const [token, value] of clear) {
          m.hdel(key, token);
          m.hset(key, tokenHashHex(token), `${value.split(":")[0]}:${stateExpiry(token, now)}`);
        }
        await m.exec();
        moved += clear.length;
      }
    } while (cursor !== "0");
  }
  return moved;
}

/** Refuses a newer layout; brings an older one to REDIS_LAYOUT. Returns the layout found and what was rewritten. */
export async function ensureRedisLayout(redis: Redis | Cluster): Promise<{ from: number; to: number; rewritten: number }> {
  const found = Number((await redis.get(LAYOUT_KEY)) ?? 1);
  if (!Number.isInteger(found) || found > REDIS_LAYOUT)
    throw new Error(
      `Redis holds imgate layout ${await redis.get(LAYOUT_KEY)} (key ${LAYOUT_KEY}), newer than this imgate knows (${REDIS_LAYOUT}): ` +
        `run the imgate version the other nodes run; nothing was changed`,
    );
  if (found === REDIS_LAYOUT) return { from: found, to: found, rewritten: 0 };
  const rewritten = await hashTokenFields(redis);
  await redis.set(LAYOUT_KEY, String(REDIS_LAYOUT));
  return { from: found, to: REDIS_LAYOUT, rewritten };
}
