import type { Config } from "./schema.js";

/** Whether Redis is configured: a URL, addresses, or sentinels in sentinel mode (the one rule for picking the
 *  cluster shape and for opening Redis; sentinels under another mode are not a Redis to open). */
export function redisConfigured(cfg: Config): boolean {
  const r = cfg.redis;
  return Boolean(r.url || r.address.length > 0 || (r.redisMode === "sentinel" && r.sentinelMode.sentinelsAddrs.length > 0));
}
