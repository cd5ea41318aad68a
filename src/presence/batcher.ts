// The status batcher (§6, done losslessly). Registry changes mark a user dirty in one of N shards (stable hash
// of the userID). A shard flushes when it holds `batchSize` users or every `mergeIntervalMs`: each dirty user
// is written once with its platforms *at flush time* (the last state wins) plus the platforms it lost since
// the last write. Nothing is dropped when busy: the pending map only ever holds the latest. One write per shard
// is in flight; a failed write puts its users back and retries with backoff. Renewal re-asserts online users
// before the store's TTL runs out.

import type { StatusEntry, StatusStore } from "./store.js";

export interface BatcherStats {
  events: number;
  writes: number;
  entriesWritten: number;
  failures: number;
  retries: number;
  renewals: number;
  /** Longest time a change waited to be written, in the last flushes (ms). */
  maxLagMs: number;
  pending: number;
  /** Merge ticks run (tests wait for ticks instead of guessing their time). */
  ticks: number;
}

/** A user waiting to be written: platforms that lost their last connection here (a connect adds none: no array). */
interface Pending {
  offline: number[] | undefined;
  since: number;
}

function addOffline(p: Pending, platformID: number): void {
  if (!p.offline) p.offline = [platformID];
  else if (!p.offline.includes(platformID)) p.offline.push(platformID);
}

interface Shard {
  /** userID → platforms that went offline since the last write, and when it first became dirty. */
  pending: Map<string, Pending>;
  inflight: Promise<void> | undefined;
  backoffUntil: number;
  failures: number;
}

export interface StatusBatcher {
  /** A user's platforms on this node changed; `offline` lists platforms that lost their last connection. */
  mark(userID: string, offline: readonly number[]): void;
  /** Writes everything pending now (shutdown); resolves when all shards are written or the deadline passes. */
  flushAll(deadlineMs: number): Promise<boolean>;
  stats(): BatcherStats;
  /** New batch size and intervals (a config reload); the timers restart with them. */
  reconfigure(o: { batchSize: number; mergeIntervalMs: number; renewIntervalMs: number }): void;
  stop(): void;
}

/** FNV-1a: stable across processes, unlike the reference's per-process random offset. */
export function shardOf(userID: string, shards: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < userID.length; i++) {
    h ^= userID.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % shards;
}

export function createStatusBatcher(opts: {
  store: StatusStore;
  /** Platforms this node holds for the user right now (one per platform). */
  current: (userID: string) => number[];
  /** Every user with connections on this node (for renewal). */
  localUsers: () => Iterable<string>;
  shards?: number;
  batchSize?: number;
  mergeIntervalMs?: number;
  renewIntervalMs?: number;
  onError?: (err: unknown, attempt: number) => void;
}): StatusBatcher {
  const nShards = opts.shards ?? 4;
  let batchSize = opts.batchSize ?? 100;
  let merge = opts.mergeIntervalMs ?? 1000;
  let renewEvery = opts.renewIntervalMs ?? 600_000;
  const shards: Shard[] = Array.from({ length: nShards }, () => ({ pending: new Map(), inflight: undefined, backoffUntil: 0, failures: 0 }));
  const lastWritten = new Map<string, number>();
  const stats: BatcherStats = { events: 0, writes: 0, entriesWritten: 0, failures: 0, retries: 0, renewals: 0, maxLagMs: 0, pending: 0, ticks: 0 };
  let stopped = false;

  const flush = (shard: Shard, force = false): Promise<void> | undefined => {
    if (shard.inflight || shard.pending.size === 0) return shard.inflight;
    if (!force && Date.now() < shard.backoffUntil) return undefined;
    // At most batchSize users per write (the reference's batch of 100); the rest stay pending.
    let taken: Shard["pending"];
    if (shard.pending.size <= batchSize) {
      taken = shard.pending;
      shard.pending = new Map();
    } else {
      taken = new Map();
      for (const [u, p] of shard.pending) {
        if (taken.size >= batchSize) break;
        taken.set(u, p);
        shard.pending.delete(u);
      }
    }
    const now = Date.now();
    const entries: StatusEntry[] = [];
    let lag = 0;
    for (const [userID, p] of taken) {
      const online = opts.current(userID);
      const offline = p.offline ? p.offline.filter((x) => !online.includes(x)) : [];
      entries.push({ userID, online, offline });
      lag = Math.max(lag, now - p.since);
    }
    stats.maxLagMs = Math.max(stats.maxLagMs * 0.9, lag);
    shard.inflight = opts.store.setStatus(entries).then(
      () => {
        stats.writes++;
        stats.entriesWritten += entries.length;
        shard.failures = 0;
        const t = Date.now();
        for (const e of entries) {
          if (e.online.length > 0) lastWritten.set(e.userID, t);
          else lastWritten.delete(e.userID);
        }
      },
      (err) => {
        stats.failures++;
        shard.failures++;
        opts.onError?.(err, shard.failures);
        // Put the users back; newer marks merged meanwhile win, lost platforms accumulate.
        for (const [userID, p] of taken) {
          const cur = shard.pending.get(userID);
          if (cur) {
            for (const x of p.offline ?? []) addOffline(cur, x);
            cur.since = Math.min(cur.since, p.since);
          } else shard.pending.set(userID, p);
        }
        shard.backoffUntil = Date.now() + Math.min(30_000, 100 * 2 ** Math.min(shard.failures, 8));
        stats.retries++;
      },
    ).finally(() => {
      shard.inflight = undefined;
      if (!stopped && shard.pending.size >= batchSize) flush(shard);
    });
    return shard.inflight;
  };

  let tick: ReturnType<typeof setInterval>, renew: ReturnType<typeof setInterval>;
  const startTimers = () => {
    tick = setInterval(() => {
      stats.ticks++;
      for (const s of shards) flush(s);
    }, merge);
    tick.unref?.();
    renew = setInterval(() => {
      const cutoff = Date.now() - renewEvery;
      for (const userID of opts.localUsers()) {
        const t = lastWritten.get(userID);
        if (t === undefined || t <= cutoff) {
          stats.renewals++;
          markInternal(userID, []);
        }
      }
    }, Math.max(1000, Math.floor(renewEvery / 10)));
    renew.unref?.();
  };
  startTimers();

  function markInternal(userID: string, offline: readonly number[]) {
    const shard = shards[shardOf(userID, nShards)]!;
    let p = shard.pending.get(userID);
    if (!p) shard.pending.set(userID, (p = { offline: undefined, since: Date.now() }));
    for (const x of offline) addOffline(p, x);
    if (shard.pending.size >= batchSize) flush(shard);
  }

  return {
    mark(userID, offline) {
      stats.events++;
      markInternal(userID, offline);
    },
    async flushAll(deadlineMs) {
      const end = Date.now() + deadlineMs;
      while (Date.now() < end) {
        const busy = shards.filter((s) => s.pending.size > 0 || s.inflight);
        if (busy.length === 0) return true;
        await Promise.race([
          Promise.all(busy.map((s) => flush(s, true) ?? Promise.resolve())),
          Bun.sleep(Math.max(1, end - Date.now())),
        ]);
        // A failed write put its users back: try again shortly, within the deadline.
        if (shards.some((s) => s.pending.size > 0)) await Bun.sleep(Math.min(100, Math.max(0, end - Date.now())));
      }
      return shards.every((s) => s.pending.size === 0 && !s.inflight);
    },
    stats() {
      return { ...stats, pending: shards.reduce((a, s) => a + s.pending.size, 0) };
    },
    reconfigure(o) {
      batchSize = o.batchSize;
      merge = o.mergeIntervalMs;
      renewEvery = o.renewIntervalMs;
      if (stopped) return;
      clearInterval(tick);
      clearInterval(renew);
      startTimers();
    },
    stop() {
      stopped = true;
      clearInterval(tick);
      clearInterval(renew);
    },
  };
}
