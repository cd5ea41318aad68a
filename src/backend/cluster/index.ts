// The cluster shape's backend: the same services as the embedded shape, with their state in Redis.
import type { Cluster, Redis } from "ioredis";
import { type BeforeSend, createMessageService } from "../conversations.js";
import type { Backend, Deliver } from "../ports.js";
import { createRedisAuth, createRedisTokenIssuer } from "./auth.js";
import { createRedisConversationStore } from "./store.js";

export function createClusterBackend(opts: {
  redis: Redis | Cluster;
  secret: string;
  adminUserIDs: string[];
  maxPerConversation: number;
  waitReplicas?: number;
  waitTimeoutMs?: number;
  beforeSend?: BeforeSend;
}): Backend {
  const store = createRedisConversationStore(opts.redis, {
    maxPerConversation: opts.maxPerConversation, idempotencyTtlSeconds: 7 * 86400, waitReplicas: opts.waitReplicas, waitTimeoutMs: opts.waitTimeoutMs,
  });
  const deliveries: Deliver[] = [];
  store.onSent = (r) => {
    for (const d of deliveries) d(r.msg, r.recipients, r.operationID);
  };
  return {
    store,
    onStored: (d) => void deliveries.push(d),
    auth: createRedisAuth(opts.redis, opts.secret),
    tokens: createRedisTokenIssuer(opts.redis, opts.secret),
    messages: createMessageService(store, opts.adminUserIDs, opts.beforeSend),
    pushTokens: { async delUserPushToken() {} },
    ready: () => opts.redis.status === "ready",
    async close() {},
  };
}
