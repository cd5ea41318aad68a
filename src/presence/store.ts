// Where online status is kept, behind one port: in memory (embedded), Redis in OpenIM's layout (cluster),
// or OpenIM's user service (openim). Semantics of OpenIM's SetUserOnline (§6.3): per user, expired
// platforms drop out, `offline` ones are removed, `online` ones are (re)asserted until now + ttl; a change of
// the platform set is announced to every listener with the platforms now online (empty = offline).

export interface StatusEntry {
  userID: string;
  online: number[];
  offline: number[];
}

export interface StatusStore {
  /** Applies a batch; resolves once stored. Rejects on failure (the batcher retries). */
  setStatus(entries: StatusEntry[]): Promise<void>;
  /** Platforms online now, per user (absent users map to []). */
  getOnline(userIDs: string[]): Promise<Map<string, number[]>>;
  /** A user's online platform set changed (from any node, where the store is shared). */
  onChange(listener: (userID: string, platformIDs: number[]) => void): void;
  close(): Promise<void>;
}

/** The in-process store of the embedded shape: a map of userID → platform → expiry (unix seconds). */
export function createMemoryStatusStore(opts: { ttlSeconds: number; now?: () => number }): StatusStore & { size(): number } {
  const users = new Map<string, Map<number, number>>();
  const listeners: ((u: string, p: number[]) => void)[] = [];
  const nowSec = () => Math.floor((opts.now?.() ?? Date.now()) / 1000);
  const current = (set: Map<number, number> | undefined, now: number) =>
    set ? [...set].filter(([, exp]) => exp > now).sort((a, b) => a[1] - b[1] || String(a[0]).localeCompare(String(b[0]))).map(([p]) => p) : [];

  return {
    async setStatus(entries) {
      const now = nowSec();
      for (const e of entries) {
        let set = users.get(e.userID);
        const before = set?.size ?? 0;
        if (set) for (const [p, exp] of set) if (exp <= now) set.delete(p);
        if (set) for (const p of e.offline) set.delete(p);
        const mid = set?.size ?? 0;
        if (e.online.length > 0) {
          if (!set) users.set(e.userID, (set = new Map()));
          for (const p of e.online) set.set(p, now + opts.ttlSeconds);
        }
        const after = set?.size ?? 0;
        if (set && after === 0) users.delete(e.userID);
        if (before !== mid || mid !== after) {
          const platforms = current(set, now);
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
