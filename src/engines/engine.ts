// What a shape provides, behind one interface: where online status lives, the backend behind client requests,
// how pushes, kicks and status queries reach users (locally or routed), and what the shape does around the
// listeners (registering in etcd). node.ts builds the core (registry, presence, sessions, pushes, the edge, the
// hub) the same way for every shape and asks the engine for the rest. Implementations: embedded.ts, cluster.ts,
// openim.ts. An engine records what it starts in the lifecycle it is given, so a failed start unwinds it.
import type { BeforeSend } from "../backend/conversations.js";
import type { Backend, StatusStore } from "../backend/ports.js";
import { type Dispatch, localDispatch } from "../cluster/dispatch.js";
import type { RedisClient } from "../cluster/redis.js";
import type { Config } from "../config/schema.js";
import type { Pusher } from "../gateway/push.js";
import type { Lifecycle } from "../lifecycle.js";
import type { Logger } from "../observe/log.js";
import type { Counters } from "../observe/stats.js";
import type { Registry } from "../sessions/registry.js";
import type { Sessions } from "../sessions/sessions.js";
import { createRedisStatusStore } from "../presence/redis-store.js";
import { type PubSub, createPubSub, isSharded } from "../cluster/pubsub.js";
import { bump } from "../observe/stats.js";

export interface EngineContext {
  config: Config;
  nodeID: string;
  log: Logger;
  counters: Counters;
  secret: string;
  /** Redis connections when configured (any shape may keep its status there; the cluster shape needs it). */
  redis?: { client: RedisClient; subscriber: RedisClient };
  started: Lifecycle;
  /** The before-send webhooks, for the shapes that are the message service (embedded, cluster). */
  beforeSend?: BeforeSend;
}

/** The core an engine routes over. */
export interface Core {
  registry: Registry;
  pusher: Pusher;
  sessions: Sessions;
}

/** How pushes, kicks and status queries reach users, and how that stops. */
export interface Routing {
  dispatch: Dispatch;
  /** What leaving takes at a shutdown, after every user is written offline (cluster: this node's routes removed).
   *  The parts themselves (bus, heartbeat, route writer) are stopped by the lifecycle, as after a failed start. */
  close(): Promise<void>;
}

export interface Engine {
  statusStore: StatusStore;
  backend: Backend;
  /** Local or routed delivery over the core; also announces logins where the shape needs it. */
  route(core: Core): Promise<Routing>;
  /** After the hub listens: what the shape does with the bound ports (openim: register in etcd). */
  listening(ports: { rpc: number; admin: number }, core: Core): Promise<void>;
  /** Why the node is not ready because of this shape (etcd registration), or undefined. */
  notReady(): string | undefined;
  /** 1/0 while the shape has a registration to keep; undefined without one (the imgate_etcd_registered gauge). */
  registered(): number | undefined;
  /** Shutdown, first: stop being found (so no more pushes come here). */
  leave(): Promise<void>;
}

/**
 * Redis pub/sub for `kind` (bus, presence). Sharded only in the cluster shape on a Redis Cluster: elsewhere the
 * channels are OpenIM's (online_change), read by OpenIM's own services with classic SUBSCRIBE. Probed where sharded
 * (a probe message on an OpenIM channel would reach OpenIM's readers).
 */
export function redisPubSub(ctx: EngineContext, redis: NonNullable<EngineContext["redis"]>, kind: string): PubSub {
  const sharded = ctx.config.shape === "cluster" && isSharded(redis.client);
  return createPubSub({
    pub: redis.client, sub: redis.subscriber, sharded, probeEveryMs: sharded || kind === "bus" ? 5000 : 0,
    onError: (err) => ctx.log.warn("redis subscribe failed", { kind, err }),
    onResubscribe: (channel) => {
      bump(ctx.counters.resubscribes, kind);
      ctx.log.warn("redis subscription lost; subscribed again", { kind, channel });
    },
  });
}

/** Online status in Redis in OpenIM's layout (the cluster shape, and the others when Redis is configured). */
export function redisStatusStore(ctx: EngineContext, redis: NonNullable<EngineContext["redis"]>): StatusStore {
  const pubsub = redisPubSub(ctx, redis, "presence");
  const store = createRedisStatusStore({ client: redis.client, pubsub, ttlSeconds: ctx.config.presence.ttlSeconds, onError: (err) => ctx.log.warn("redis subscribe failed", { err }) });
  return { ...store, close: async () => (await store.close(), await pubsub.close()) };
}

/** Delivery to this node's connections only, with nothing to close. */
export function localRouting(core: Core): Routing {
  return { dispatch: localDispatch(core), close: async () => {} };
}
