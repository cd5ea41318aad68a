// The cluster shape: several nodes sharing state in Redis. Messages and token states in Redis, online status in
// Redis in OpenIM's layout, and pushes, kicks, status queries and login announcements routed to the node holding
// each user (the route table, the node-to-node bus, the node registry that reaps dead nodes).
import { createClusterBackend } from "../backend/cluster/index.js";
import { ensureRedisLayout } from "../backend/cluster/layout.js";
import { createBus } from "../cluster/bus.js";
import { busHandler, clusterDispatch } from "../cluster/dispatch.js";
import { createNodeRegistry } from "../cluster/nodes.js";
import { openPostgres } from "../cluster/postgres.js";
import { createRouteTable } from "../cluster/routes.js";
import { rateLimitedLog } from "../observe/log.js";
import { type Engine, type EngineContext, redisPubSub, redisStatusStore } from "./engine.js";

export async function startClusterEngine(ctx: EngineContext): Promise<Engine> {
  const { config, nodeID, log, started } = ctx;
  // Failures of the shared state are warned (not debug: they are what an operator looks for), a few a minute.
  const clusterWarn = rateLimitedLog(log, 3, 60_000);
  const redis = ctx.redis;
  if (!redis) throw new Error("the cluster shape needs Redis");
  // Before anything writes: a layout from a newer imgate is refused, an older one brought forward.
  const layout = await ensureRedisLayout(redis.client);
  if (layout.from !== layout.to) log.info("Redis layout upgraded", layout);
  // History in PostgreSQL when configured: its schema is brought forward (or a newer one refused) before serving.
  const postgres = config.postgres.url ? await openPostgres(config) : undefined;
  if (postgres) {
    started.add("postgres", () => postgres.close());
    if (postgres.schema.from !== postgres.schema.to) log.info("PostgreSQL schema upgraded", postgres.schema);
  }
  const statusStore = redisStatusStore(ctx, redis);
  started.add("status store", () => statusStore.close());
  const backend = createClusterBackend({
    redis: redis.client, postgres, maxQueue: config.messages.storeQueueSize, secret: ctx.secret, adminUserIDs: config.imAdminUser.userIDs, maxPerConversation: config.messages.maxPerConversation,
    waitReplicas: config.redis.waitReplicas, waitTimeoutMs: config.redis.waitTimeoutMs,
    maxAgeMs: config.messages.retentionDays * 86_400_000,
    onPruneError: (err) => log.warn("retention sweep failed", { err }),
    beforeSend: ctx.beforeSend,
    readLimits: () => ({ maxPullMessages: config.ws.maxPullMessages, maxConversations: config.ws.maxConversationsPerRequest }),
  });
  started.add("backend", () => backend.close());

  return {
    statusStore,
    backend,
    async route({ registry, pusher, sessions }) {
      const routes = createRouteTable({
        redis: redis.client, nodeID, current: (u) => registry.onlinePlatforms(u), localUsers: () => registry.userIDs(),
        onError: (err) => clusterWarn("routes", "route write failed; will retry", { err }),
      });
      started.add("routes", () => routes.stop());
      registry.onChange((change) => routes.mark(change.userID));
      // Redis restarts empty (or lost keys): after a reconnect, this node's routes are written again.
      let connectedBefore = redis.client.status === "ready";
      redis.client.on("ready", () => {
        if (connectedBefore) routes.resync();
        connectedBefore = true;
      });
      const busPubSub = redisPubSub(ctx, redis, "bus");
      started.add("bus pub/sub", () => busPubSub.close());
      const bus = createBus({
        nodeID, pubsub: busPubSub, handle: busHandler({ registry, pusher, sessions }),
        onError: (err) => log.warn("bus error", { err }),
      });
      started.add("bus", () => bus.close());
      // The node takes clients only once it hears its peers (a dead Redis does not hold the start: /readyz says why).
      await Promise.race([bus.ready, Bun.sleep(5000)]);
      const nodes = createNodeRegistry({
        redis: redis.client, nodeID, ttlMs: 6000, statusStore,
        onReaped: (dead, users) => log.warn("node left without saying goodbye; its users are offline now", { dead, users }),
        onError: (err) => clusterWarn("heartbeat", "node heartbeat failed; will retry", { err }),
      });
      const dispatch = clusterDispatch({ nodeID, registry, pusher, sessions, routes, bus, timeoutMs: 3000, log, counters: ctx.counters });
      // A login here may kick the same user's connections on other nodes (their policy decides there).
      // The policy is live (a reload may set it): read at each login, not once at start.
      sessions.onRegistered((conn) => {
        if (config.multiLogin.policy !== 0) dispatch.announceLogin(conn);
      });
      started.add("node registry", () => nodes.leave());
      await nodes.start();
      return {
        dispatch,
        async close() {
          await routes.clear().catch((err) => log.warn("could not clear routes", { err }));
        },
      };
    },
    listening: async () => {},
    notReady: () => undefined,
    registered: () => undefined,
    leave: async () => {},
  };
}
