// Presence: connects the registry (local truth) to the status store (shared truth) through the batcher,
// announces changes to 2005 subscribers, and fires webhooks on real per-node transitions.
import type { Registry, UserPlatformsChange } from "../sessions/registry.js";
import type { Conn } from "../sessions/conn.js";
import type { Logger } from "../observe/log.js";
import { createStatusBatcher, type StatusBatcher } from "./batcher.js";
import type { StatusStore } from "./store.js";
import type { Webhooks } from "./webhooks.js";

export interface PresenceOptions {
  shards: number;
  batchSize: number;
  mergeIntervalMs: number;
  renewIntervalMs: number;
}

export interface Presence {
  batcher: StatusBatcher;
  store: StatusStore;
  /** Feed of registry changes (presence listens to the registry it is given). */
  onRegistryChange(change: UserPlatformsChange, conn: Conn): void;
  /** A user's platform set changed in the status store (any node's change, where the store is shared). */
  onStatusChange(listener: (userID: string, platformIDs: number[]) => void): void;
  /** Online platforms of users: the store's view, plus what this node holds right now. */
  lookup(userIDs: string[]): Promise<Map<string, number[]>>;
  onKicked(conn: Conn): void;
  /** Re-asserts every local user (the shared store came back empty, e.g. after a Redis restart). */
  resync(): void;
  /** Shutdown: every local user's platforms are written offline; resolves true if all was written. */
  flushOffline(deadlineMs: number): Promise<boolean>;
  stop(): void;
}

export function createPresence(opts: {
  registry: Registry;
  store: StatusStore;
  webhooks: Webhooks;
  log: Logger;
  options: PresenceOptions;
}): Presence {
  const { store, webhooks, log } = opts;
  let shuttingDown = false;
  const batcher = createStatusBatcher({
    store,
    current: (u) => (shuttingDown ? [] : opts.registry.onlinePlatforms(u)),
    localUsers: () => opts.registry.userIDs(),
    shards: opts.options.shards,
    batchSize: opts.options.batchSize,
    mergeIntervalMs: opts.options.mergeIntervalMs,
    renewIntervalMs: opts.options.renewIntervalMs,
    onError: (err, attempt) => log.warn("status write failed; will retry", { err, attempt }),
  });
  const statusListeners: ((userID: string, platformIDs: number[]) => void)[] = [];
  store.onChange((userID, platforms) => {
    for (const l of statusListeners) l(userID, platforms);
    // Another node's offline removed a platform still connected here (same platform on two nodes): say it
    // again, as OpenIM's gateway does on online_change (§7.3).
    const local = shuttingDown ? [] : opts.registry.onlinePlatforms(userID);
    if (local.some((p) => !platforms.includes(p))) batcher.mark(userID, []);
  });

  opts.registry.onChange((change, conn) => presence.onRegistryChange(change, conn));
  const presence: Presence = {
    batcher,
    store,
    onStatusChange(listener) {
      statusListeners.push(listener);
    },
    onRegistryChange(change, conn) {
      const removed = change.offline.length > 0;
      const samePlatformLeft = change.online.includes(conn.platformID);
      if (removed) {
        // Offline on this node only when the platform's last connection here closed.
        batcher.mark(change.userID, samePlatformLeft ? [] : change.offline);
        if (!samePlatformLeft) webhooks.fire({ kind: "afterUserOffline", userID: change.userID, platformID: conn.platformID, connID: conn.connID });
      } else {
        batcher.mark(change.userID, []);
        const count = change.online.filter((p) => p === conn.platformID).length;
        if (count === 1)
          webhooks.fire({ kind: "afterUserOnline", userID: change.userID, platformID: conn.platformID, connID: conn.connID, isAppBackground: conn.isBackground });
      }
    },
    async lookup(userIDs) {
      const shared = await store.getOnline(userIDs);
      const reg = opts.registry;
      for (const u of userIDs) {
        const local = reg.onlinePlatforms(u);
        if (local.length === 0) continue;
        const merged = new Set([...(shared.get(u) ?? []), ...local]);
        shared.set(u, [...merged].sort((a, b) => a - b));
      }
      return shared;
    },
    resync() {
      for (const u of [...opts.registry.userIDs()]) batcher.mark(u, []);
    },
    onKicked(conn) {
      webhooks.fire({ kind: "afterUserKickOff", userID: conn.userID, platformID: conn.platformID, connID: conn.connID });
    },
    async flushOffline(deadlineMs) {
      shuttingDown = true;
      for (const u of [...opts.registry.userIDs()]) batcher.mark(u, opts.registry.onlinePlatforms(u));
      const ok = await batcher.flushAll(deadlineMs);
      await webhooks.drain(Math.min(2000, deadlineMs));
      return ok;
    },
    stop() {
      batcher.stop();
    },
  };
  return presence;
}
