// The embedded shape: imgate is the whole IM core. Messages and token states in SQLite (on the store thread),
// online status in memory, or in Redis in OpenIM's layout when Redis is configured; delivery on this node.
import { createEmbeddedBackend } from "../backend/embedded/index.js";
import { createMemoryStatusStore } from "../presence/store.js";
import { type Engine, type EngineContext, localRouting, redisStatusStore } from "./engine.js";

export async function startEmbeddedEngine(ctx: EngineContext): Promise<Engine> {
  const { config, log, started } = ctx;
  const statusStore = ctx.redis ? redisStatusStore(ctx, ctx.redis) : createMemoryStatusStore({ ttlSeconds: config.presence.ttlSeconds });
  started.add("status store", () => statusStore.close());
  const backend = await createEmbeddedBackend({
    dataDir: config.dataDir, secret: ctx.secret, adminUserIDs: config.imAdminUser.userIDs, log, maxQueue: config.messages.storeQueueSize, beforeSend: ctx.beforeSend,
    readLimits: () => ({ maxPullMessages: config.ws.maxPullMessages, maxConversations: config.ws.maxConversationsPerRequest }),
    retention: { maxAgeMs: config.messages.retentionDays * 86_400_000, maxPerConversation: config.messages.maxPerConversation },
  });
  started.add("backend", () => backend.close());
  return {
    statusStore,
    backend,
    route: async (core) => localRouting(core),
    listening: async () => {},
    notReady: () => undefined,
    registered: () => undefined,
    leave: async () => {},
  };
}
