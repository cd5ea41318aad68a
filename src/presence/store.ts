// Where online status is kept, behind one port: in memory (embedded), Redis in OpenIM's layout (cluster),
// or OpenIM's user service (openim). Semantics of OpenIM's SetUserOnline (§6.3): per user, expired
// platforms drop out, `offline` ones are removed, `online` ones are (re)asserted until now + ttl; a change of
// the platform set is announced to every listener with the platforms now online (empty = offline).

export type { StatusEntry, StatusStore } from "../backend/ports.js";
import type { StatusStore } from "../backend/ports.js";

/**
 * The in-process store of the embedded shape: userID → [platformID, expiry (unix seconds), …] in a flat array
 * (a Map per user would cost ~250 bytes each; most users have one platform).
 */
export function createMemoryStatusStore(opts: { ttlSeconds: number; now?: () => number }): StatusStore & { size(): number } {
  const users = new Map<string, number[]>();
  const listeners: ((u: string, p: number[]) => void)[] = [];
  const nowSec = () => Math.floor((opts.now?.() ?? Date.now()) / 1000);
  const current = (pairs: number[] | undefined, now: number): number[] => {
    if (!pairs) return [];
    const live: [number, number][] = [];
    for (let i = 0; i < pairs.length; i += 2) if (pairs[i + 1]! > now) live.push([pairs[i]!, pairs[i + 1]!]);
    return live.sort((a, b) => a[1] - b[1] || String(a[0]).localeCompare(String(b[0]))).map(([p]) => p);
  };
  /** Drops the pairs `drop` says to; returns how many platforms remain. */
  const prune = (pairs: number[], drop: (platform: number, expiry: number) => boolean): number => {
    let w = 0;
    for (let r = 0; r < pairs.length; r += 2) {
      if (drop(pairs[r]!, pairs[r + 1]!)) continue;
      pairs[w++] = pairs[r]!;
      pairs[w++] = pairs[r + 1]!;
    }
    pairs.length = w;
    return w / 2;
  };
  const put = (pairs: number[], platform: number, expiry: number) => {
    for (let i = 0; i < pairs.length; i += 2) if (pairs[i] === platform) return void (pairs[i + 1] = expiry);
    pairs.push(platform, expiry);
  };

  return {
    async setStatus(entries) {
      const now = nowSec();
      for (const e of entries) {
        let pairs = users.get(e.userID);
        const before = (pairs?.length ?? 0) / 2;
        const mid = pairs ? prune(pairs, (p, exp) => exp <= now || e.offline.includes(p)) : 0;
        if (e.online.length > 0) {
          if (!pairs) users.set(e.userID, (pairs = []));
          for (const p of e.online) put(pairs, p, now + opts.ttlSeconds);
        }
        const after = (pairs?.length ?? 0) / 2;
        if (pairs && after === 0) users.delete(e.userID);
        if (before !== mid || mid !== after) {
          const platforms = current(pairs, now);
          for (const l of listeners) l(e.userID, platforms);
        }
      }
    },
    async getOnline(userIDs) {
      const now = nowSec();
      return new Map(userIDs.map((u) => [u, current(users.get(u), now)]));
    },
    onChange(l) {
      listeners.push(l);
    },
    async close() {},
    size: () => users.size,
  };
}
