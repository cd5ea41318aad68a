// What a config reload (SIGHUP, `systemctl reload`, `imgate reload`) may change in a running node. Live keys are
// read where they are used (or handed to a reconfigure hook), so changing them drops no connection; every other key
// was bound at start (a listener, the shape, the data dir, Redis) and is reported by name and left as it was.
import { type Config, keys } from "./schema.js";
import { getPath, setPath } from "./path.js";

/** Keys (or key prefixes ending in ".") a reload applies. */
const LIVE = [
  "log.level", "log.format",
  "ws.maxConnections", "ws.maxInflatedBytes", "ws.handshakeTimeoutSeconds", "ws.slowConsumerBytes", "ws.requestTimeoutMs",
  "ws.maxInflightPerConn", "ws.maxSubscriptionsPerConn", "ws.pushSliceUsers", "ws.pushSliceMs",
  "ws.maxConnsPerUser", "ws.maxConnsPerIP", "ws.handshakesPerSecond", "ws.requestsPerSecond", "ws.bytesPerSecond",
  "ws.handshakesPerIPPerSecond", "ws.maxPullMessages", "ws.maxConversationsPerRequest", "ws.maxConcurrentReadsPerUser",
  "ws.allowedOrigins", "ws.trustedProxies", "ws.limitExempt",
  "rpc.token", "rpc.allowOpenIMWithoutToken", "rpc.allowFrom", "rpc.tlsCert", "rpc.tlsKey",
  "multiLogin.policy",
  "presence.batchSize", "presence.mergeIntervalMs", "presence.renewIntervalSeconds",
  "webhooks.",
  "shutdown.",
  "api.tokenExpireDays", "api.maxBodyBytes",
];

/** Why a key that is not live needs a restart, where the reason is not just "bound at start". */
const WHY: Record<string, string> = {
  "ws.tlsCert": "Bun.serve cannot swap its certificate in place (oven-sh/bun#43815): restart, or roll the workers",
  "ws.tlsKey": "Bun.serve cannot swap its certificate in place (oven-sh/bun#43815): restart, or roll the workers",
  "ws.maxFrameBytes": "the WebSocket listener's frame limit is fixed when it opens",
};

export function isLive(path: string): boolean {
  return LIVE.some((k) => (k.endsWith(".") ? path.startsWith(k) : path === k));
}


/** What a reload did: the live keys it applied, and the changed keys that wait for a restart (with why). */
export interface ReloadResult {
  changed: string[];
  needsRestart: { key: string; why: string }[];
}

export interface ReloadPlan {
  /** Changed keys a reload applies. */
  live: string[];
  /** Changed keys that need a restart, each with why. */
  restart: { key: string; why: string }[];
}

/** The keys that differ between the running config and the one just read, split by whether they apply live. */
export function planReload(current: Config, next: Config): ReloadPlan {
  const plan: ReloadPlan = { live: [], restart: [] };
  for (const { path } of keys) {
    if (JSON.stringify(getPath(current, path)) === JSON.stringify(getPath(next, path))) continue;
    if (isLive(path)) plan.live.push(path);
    else plan.restart.push({ key: path, why: WHY[path] ?? "bound at start" });
  }
  return plan;
}

/** Writes the live keys of `next` into the running config object (which every part reads from). */
export function applyLive(current: Config, next: Config, live: string[]): void {
  for (const path of live) setPath(current, path, getPath(next, path));
}
