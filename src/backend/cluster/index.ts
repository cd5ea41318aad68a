// The cluster shape's backend: the same services as the embedded shape, with their state in Redis, or with the
// history (messages, conversations, memberships, read marks, groups) in PostgreSQL when `postgres.url` is set.
import type { SQL } from "bun";
import type { Cluster, Redis } from "ioredis";
import { type BeforeSend, type ReadLimits, createMessageService } from "../conversations.js";
import type { Backend } from "../ports.js";
import { createRedisAuth, createRedisTokenIssuer } from "./auth.js";
import { createPostgresConversationStore } from "./postgres-store.js";
import { createRedisConversationStore } from "./store.js";
import { createRedisDirectory } from "./directory.js";
import { storedDeliveries } from "../deliveries.js";

export function createClusterBackend(opts: {
  redis: Redis | Cluster;
  /** History in PostgreSQL (schema ensured by the caller); without it, in Redis. */
  postgres?: { sql: SQL; notReady: () => string | undefined };
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
  maxQueue?: number;
  beforeSend?: BeforeSend;
  readLimits?: () => ReadLimits;
}): Backend {
  const maxAgeMs = opts.maxAgeMs ?? 0;
  const pg = opts.postgres;
  const redisStore = pg ? undefined : createRedisConversationStore(opts.redis, {
    maxPerConversation: opts.maxPerConversation, idempotencyTtlSeconds: 7 * 86400, waitReplicas: opts.waitReplicas, waitTimeoutMs: opts.waitTimeoutMs,
    maxAgeMs,
  });
  const pgStore = pg ? createPostgresConversationStore(pg.sql, { maxQueue: opts.maxQueue }) : undefined;
  const store = (pgStore ?? redisStore)!;
  // Redis: a conversation's old messages go on its next send, the sweep takes them from conversations nobody writes
  // to. PostgreSQL: the sweep does both. One node per round (the lock expires before the next round, so a dead
  // node's turn passes on).
  const every = opts.pruneEveryMs ?? 3_600_000;
  const sweep = async () => {
    if ((await opts.redis.set("imgate:retention:lock", "1", "PX", Math.max(1000, every - 1000), "NX")) !== "OK") return;
    if (pgStore) await pgStore.prune(maxAgeMs, opts.maxPerConversation);
    else await redisStore!.pruneByAge();
  };
  const retains = maxAgeMs > 0 || (pgStore !== undefined && opts.maxPerConversation > 0);
  const pruner = retains ? setInterval(() => void sweep().catch((e) => opts.onPruneError?.(e)), every) : undefined;
  pruner?.unref();
  const deliveries = storedDeliveries();
  store.onSent = deliveries.stored;
  // The SDKs' directory in Redis beside the history; every membership change (the hub's SetGroup too) goes through
  // it, so the SDKs' incremental sync and joined lists see it.
  const setMembers = store.setGroup.bind(store);
  const directory = createRedisDirectory(opts.redis, {
    groupMembers: (g) => store.groupMembers(g), setGroup: setMembers, userConversationIDs: (u) => store.userConversationIDs(u),
    seqInfo: (u, c) => store.seqInfo(u, c), bounds: (c) => store.bounds(c), isMember: (u, c) => store.isMember(u, c),
  });
  store.setGroup = directory.replaceMembers;
  const notReady = () => (opts.redis.status !== "ready" ? `Redis is ${opts.redis.status}` : pg?.notReady());
  return {
    store,
    directory,
    onStored: deliveries.onStored,
    auth: createRedisAuth(opts.redis, opts.secret),
    tokens: createRedisTokenIssuer(opts.redis, opts.secret),
    messages: createMessageService(store, opts.adminUserIDs, opts.beforeSend, opts.readLimits),
    pushTokens: { async delUserPushToken() {} },
    storeQueue: pgStore ? () => ({ depth: pgStore.queued(), limit: opts.maxQueue ?? 10_000 }) : undefined,
    ready: () => notReady() === undefined,
    notReady,
    async close() {
      clearInterval(pruner);
      redisStore?.close();
    },
  };
}
