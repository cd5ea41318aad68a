// The cluster shape's backend: the same services as the embedded shape, with their state in Redis.
import type { Cluster, Redis } from "ioredis";
import { createMessageService } from "../conversations.js";
import type { Backend, DeliveryPort } from "../ports.js";
import { createRedisAuth } from "./auth.js";
import { createRedisConversationStore } from "./store.js";

export function createClusterBackend(opts: {
  redis: Redis | Cluster;
  secret: string;
  adminUserIDs: string[];
  delivery: () => DeliveryPort | undefined;
  maxPerConversation: number;
}): Backend {
  const store = createRedisConversationStore(opts.redis, { maxPerConversation: opts.maxPerConversation, idempotencyTtlSeconds: 7 * 86400 });
  store.onSent = (r) => opts.delivery()?.deliver(r.msg, r.recipients, r.operationID);
  return {
    store,
    auth: createRedisAuth(opts.redis, opts.secret),
    messages: createMessageService(store, opts.adminUserIDs),
    pushTokens: { async delUserPushToken() {} },
    ready: () => opts.redis.status === "ready",
    async close() {},
  };
}
