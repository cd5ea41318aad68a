// The cluster shape's backend: the same services as the embedded shape, with their state in Redis.
import type { Cluster, Redis } from "ioredis";
import { type BeforeSend, type ReadLimits, createMessageService } from "../conversations.js";
import type { Backend } from "../ports.js";
import { createRedisAuth, createRedisTokenIssuer } from "./auth.js";
import { createRedisConversationStore } from "./store.js";
import { storedDeliveries } from "../deliveries.js";

export function createClusterBackend(opts: {
  redis: Redis | Cluster;
  secret: string;
  adminUserIDs: string[];
  maxPerConversation: number;
  /** messages.retentionDays in ms; 0 = keep forever. */
  maxAgeMs?: number;
  /** How often one node (a Redis lock decides which) sweeps conversations nobody writes to. */
  pruneEveryMs?: number;
  onPruneError?: (err: unknown) => void;
  waitReplicas?: number;
  waitTimeoutMs?: number;
  beforeSend?: BeforeSend;
  readLimits?: () => ReadLimits;
}): Backend {
  const store = createRedisConversationStore(opts.redis, {
    maxPerConversation: opts.maxPerConversation, idempotencyTtlSeconds: 7 * 86400, waitReplicas: opts.waitReplicas, waitTimeoutMs: opts.waitTimeoutMs,
    maxAgeMs: opts.maxAgeMs,
  });
  // A conversation's old messages go on its next send; the sweep takes them from conversations nobody writes to.
  // One node per round does it (the lock expires before the next round, so a dead node's turn passes on).
  const every = opts.pruneEveryMs ?? 3_600_000;
  const sweep = async () => {
    if ((await opts.redis.set("imgate:retention:lock", "1", "PX", Math.max(1000, every - 1000), "NX")) !== "OK") return;
    await store.pruneByAge();
  };
  const pruner = (opts.maxAgeMs ?? 0) > 0 ? setInterval(() => void sweep().catch((e) => opts.onPruneError?.(e)), every) : undefined;
  pruner?.unref();
  const deliveries = storedDeliveries();
  store.onSent = deliveries.stored;
  return {
    store,
    onStored: deliveries.onStored,
    auth: createRedisAuth(opts.redis, opts.secret),
    tokens: createRedisTokenIssuer(opts.redis, opts.secret),
    messages: createMessageService(store, opts.adminUserIDs, opts.beforeSend, opts.readLimits),
    pushTokens: { async delUserPushToken() {} },
    ready: () => opts.redis.status === "ready",
    async close() {
      clearInterval(pruner);
      store.close();
    },
  };
}
