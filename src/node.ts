// The Node owns the process-wide state: config, registry, backend, presence, the WebSocket edge, the admin
// HTTP listener and the hub, and in the cluster shape the route table, node registry and bus. `startNode`
// brings them up in one pass, each part built from the ones before it (listeners registered, never patched in);
// a failed start unwinds what it started, and `stop` drains and closes them.
import { hostname } from "node:os";
import { createClusterBackend } from "./backend/cluster/index.js";
import { createEmbeddedBackend } from "./backend/embedded/index.js";
import { createOpenIMBackend, createOpenIMStatusStore, type OpenIMAddresses } from "./backend/openim/index.js";
import { createEtcd, keepRegistered, type Registration, watchService } from "./discovery/etcd.js";
import { joinHostPort, registerAddress } from "./discovery/address.js";
import type { Backend, StatusStore } from "./backend/ports.js";
import type { Server } from "bun";
import type { Config } from "./config/schema.js";
import { createBus } from "./cluster/bus.js";
import { busHandler, clusterDispatch, type Dispatch, localDispatch, openimPeerAnnounce } from "./cluster/dispatch.js";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { msgGateway } from "./gen/openim/msggateway/msggateway_pb.js";
import { createNodeRegistry } from "./cluster/nodes.js";
import { createRedis, type RedisClient, redisConfigured, waitReady } from "./cluster/redis.js";
import { createRouteTable } from "./cluster/routes.js";
import { startEdge, type Edge } from "./gateway/server.js";
import { createOutbound } from "./gateway/outbound.js";
import { createPusher, type Pusher } from "./gateway/push.js";
import { createRouter } from "./gateway/requests.js";
import { createSubscriptions } from "./gateway/subscriptions.js";
import { startAdminHttp, type AdminHttp } from "./admin/http.js";
import { startHub, type Hub } from "./hub/server.js";
import type { Logger } from "./observe/log.js";
import { createCounters, type Counters } from "./observe/stats.js";
import { createMetrics, type Metrics } from "./observe/metrics.js";
import { createSampler } from "./observe/sampler.js";
import { startLoopLag } from "./observe/loop-lag.js";
import { createPresence, type Presence } from "./presence/presence.js";
import { createMemoryStatusStore } from "./presence/store.js";
import { createRedisStatusStore } from "./presence/redis-store.js";
import { createWebhooks, type Webhooks } from "./presence/webhooks.js";
import { Disconnects } from "./protocol/disconnects.js";
import type { Conn } from "./sessions/conn.js";
import { Registry } from "./sessions/registry.js";
import { createSessions, type Sessions } from "./sessions/sessions.js";
import { VERSION } from "./version.js";
import { createLifecycle, type Lifecycle } from "./lifecycle.js";

export interface Node {
  config: Config;
  nodeID: string;
  log: Logger;
  counters: Counters;
  registry: Registry;
  sessions: Sessions;
  presence: Presence;
  metrics: Metrics;
  webhooks: Webhooks;
  /** Pushes, kicks and status queries: local on one node, routed across a cluster. */
  dispatch: Dispatch;
  backend: Backend;
  edge: Edge;
  admin: AdminHttp;
  hub: Hub;
  startedAt: number;
  readonly draining: boolean;
  /** Addresses actually bound (ports may be 0 in config). */
  ports: { ws: number; admin: number; rpc: number };
  /** The openim shape's etcd registration, when discovery is etcd. */
  readonly registration?: Registration;
  stop(opts?: { reason?: string }): Promise<void>;
  /** Settles when the node has stopped, whoever asked (a signal, the admin API's Drain). */
  stopped: Promise<void>;
}

export async function startNode(config: Config, log: Logger, secret: string): Promise<Node> {
  // Checked before anything starts: a registered address the hub does not answer on is a config error.
  const registerAs = config.shape === "openim" && config.discovery.enable === "etcd" ? registerAddress(config) : undefined;
  const started = createLifecycle(log);
  try {
    return await buildNode(config, log, secret, registerAs, started);
  } catch (e) {
    await started.unwind();
    throw e;
  }
}

async function buildNode(config: Config, log: Logger, secret: string, registerAs: string | undefined, started: Lifecycle): Promise<Node> {
  const counters = createCounters();
  const nodeID = config.nodeID || `${hostname()}-${process.pid}`;
  const clustered = config.shape === "cluster";
  const startedAt = Date.now();
  // What changes while the node runs; read through getters by the Node and by the parts that need it.
  const state: { draining: boolean; registration?: Registration } = { draining: false };
  // The WebSocket server exists only once the edge listens; topic publishes before that go nowhere.
  const sockets: { server?: Server<Conn> } = {};
  const outbound = createOutbound({ server: () => sockets.server, slowConsumerBytes: config.ws.slowConsumerBytes, counters, log });

  // ---- shared state: Redis when configured ----------------------------------------------------------
  const redis = redisConfigured(config)
    ? { client: createRedis(config, "commands"), subscriber: createRedis(config, "subscriber") }
    : undefined;
  for (const r of redis ? [redis.client, redis.subscriber] : []) r.on("error", (err) => log.debug("redis error", { err }));
  if (redis) started.add("redis", () => (redis.client.disconnect(), redis.subscriber.disconnect()));
  if (redis && !(await waitReady(redis.client, 5000))) log.warn("redis is not reachable; starting degraded (see /readyz)");

  // ---- openim: OpenIM's services, by static address or found in etcd ---------------------------------
  const etcd = config.discovery.enable === "etcd"
    ? createEtcd({ endpoints: config.discovery.etcd.address, username: config.discovery.etcd.username, password: config.discovery.etcd.password })
    : undefined;
  const watchers = new Map<string, ReturnType<typeof watchService>>();
  if (config.shape === "openim" && etcd) {
    for (const svc of ["auth", "msg", "push", "user"] as const) {
      if (config.openim[svc]) continue;
      const w = watchService(etcd, config.discovery.etcd.rootDirectory, config.discovery.rpcService[svc], 5000,
        (err) => log.warn("etcd lookup failed", { service: svc, err }));
      watchers.set(svc, w);
      started.add(`etcd watch ${svc}`, () => w.stop());
      await w.refresh();
    }
  }
  const openimAddresses: OpenIMAddresses = {
    callTimeoutMs: config.openim.callTimeoutMs,
    resolve: (svc) => (config.openim[svc] ? [config.openim[svc]] : watchers.get(svc)?.addresses() ?? []),
  };

  // ---- presence: the status store, the registry, the batcher and webhooks ------------------------------
  const webhooks = createWebhooks(
    {
      url: config.webhooks.url, queueSize: config.webhooks.queueSize, retries: config.webhooks.retries,
      hooks: { afterUserOnline: config.webhooks.afterUserOnline, afterUserOffline: config.webhooks.afterUserOffline, afterUserKickOff: config.webhooks.afterUserKickOff },
    },
    (e, err) => log.warn("webhook failed", { hook: e.kind, userID: e.userID, err }),
  );
  const redisStatus = redis
    ? createRedisStatusStore({ ...redis, ttlSeconds: config.presence.ttlSeconds, onError: (err) => log.warn("redis subscribe failed", { err }) })
    : undefined;
  // openim: OpenIM's user service owns the status; its online_change reaches us through Redis when configured.
  const statusStore = config.shape === "openim"
    ? createOpenIMStatusStore(openimAddresses, redisStatus)
    : redisStatus ?? createMemoryStatusStore({ ttlSeconds: config.presence.ttlSeconds });
  started.add("status store", () => statusStore.close());
  const registry = new Registry();
  const presence = createPresence({
    registry, store: statusStore, webhooks, log,
    options: {
      shards: config.presence.shards, batchSize: config.presence.batchSize, mergeIntervalMs: config.presence.mergeIntervalMs,
      renewIntervalMs: config.presence.renewIntervalSeconds * 1000,
    },
  });
  started.add("presence", () => presence.stop());

  // ---- observability ----------------------------------------------------------------------------------------
  const loopLag = startLoopLag();
  started.add("loop lag probe", () => loopLag.stop());
  const metrics = createMetrics({
    counters, registry, batcher: presence.batcher, webhooks, loopLag,
    redisUp: () => (redis ? (redis.client.status === "ready" ? 1 : 0) : undefined),
    etcdRegistered: () => (state.registration ? (state.registration.state() === "registered" ? 1 : 0) : undefined),
    draining: () => state.draining,
  });
  started.add("metrics", () => metrics.stop());

  // ---- backend ----------------------------------------------------------------------------------------
  const backend: Backend = config.shape === "openim"
    ? createOpenIMBackend(openimAddresses)
    : clustered
    ? createClusterBackend({
      redis: redis!.client, secret, adminUserIDs: config.imAdminUser.userIDs, maxPerConversation: config.messages.maxPerConversation,
    })
    : await createEmbeddedBackend({
      dataDir: config.dataDir, secret, adminUserIDs: config.imAdminUser.userIDs, log, maxQueue: config.messages.storeQueueSize,
      retention: { maxAgeMs: config.messages.retentionDays * 86_400_000, maxPerConversation: config.messages.maxPerConversation },
    });
  started.add("backend", () => backend.close());

  // ---- sessions, pushes, requests ---------------------------------------------------------------------
  const sessions = createSessions({ registry, outbound, auth: backend.auth, policy: () => config.multiLogin.policy, counters, log });
  sessions.onKicked((conn) => presence.onKicked(conn));
  const pusher = createPusher({ registry, outbound, counters, observeFanout: (n) => metrics.observeFanout(n), slice: config.ws.pushSliceUsers });
  const subscriptions = createSubscriptions({ outbound, lookup: (ids) => presence.lookup(ids), maxPerConn: () => config.ws.maxSubscriptionsPerConn });
  presence.onStatusChange((userID, platforms) => subscriptions.notify(userID, platforms));
  const handlers = createRouter({
    backend,
    requestTimeoutMs: config.ws.requestTimeoutMs,
    setBackground: (c, b) => sessions.setBackground(c, b),
    close: (c, code, reason) => outbound.close(c, code, reason),
    subscribe: (c, sub, unsub) => subscriptions.update(c, sub, unsub),
  });

  // ---- dispatch: local, or routed across the cluster (routes, bus, node registry) -------------------------
  const cluster = clustered ? await startClusterParts({ config, nodeID, redis: redis!, registry, pusher, sessions, statusStore, log, counters, started }) : undefined;
  const dispatch: Dispatch = cluster?.dispatch ?? localDispatch({ registry, pusher, sessions });
  // Logins are announced to the other cluster nodes (their policy may kick there); OpenIM peers: see below.
  if (cluster && config.multiLogin.policy !== 0) sessions.onRegistered((conn) => dispatch.announceLogin(conn));
  backend.onStored?.((msg, users, opID) => {
    counters.deliveryLatencyMs.push(Date.now() - Number(msg.sendTime));
    dispatch.deliver(msg, users, opID).catch((err) => log.warn("delivery failed", { err, operationID: opID }));
  });
  if (redis) {
    // Redis restarts empty (or lost keys): after every reconnect, write this node's truth again.
    let connectedBefore = redis.client.status === "ready";
    redis.client.on("ready", () => {
      if (connectedBefore) {
        log.info("redis reconnected; re-asserting local presence and routes", { users: registry.userCount });
        presence.resync();
        cluster?.routes.resync();
      }
      connectedBefore = true;
    });
  }

  // ---- readiness, admin HTTP -----------------------------------------------------------------------------
  const ready = () => {
    if (state.draining) return { ready: false, reason: "draining" };
    if (!backend.ready()) return { ready: false, reason: backend.notReady?.() ?? "backend not ready" };
    if (redis && redis.client.status !== "ready") return { ready: false, reason: `redis ${redis.client.status}` };
    const reg = state.registration;
    if (reg && reg.state() !== "registered")
      return { ready: false, reason: `etcd registration ${reg.state()}${reg.lastError() ? ` (${reg.lastError()})` : ""}` };
    return { ready: true };
  };
  const sampler = createSampler({ counters, registry, readiness: ready, loopLag });
  started.add("sampler", () => sampler.stop());
  const admin = startAdminHttp({ config, log, metrics, sampler, ready, meta: () => ({ version: VERSION, shape: config.shape, nodeID }) });
  started.add("admin http", () => admin.stop());

  // ---- the WebSocket edge and the hub ----------------------------------------------------------------------
  const edge = startEdge({
    config, log, counters, registry, sessions, outbound, auth: backend.auth, handlers, accepting: () => !state.draining,
    observeRequest: (req, seconds) => metrics.observeRequest(req, seconds),
  });
  sockets.server = edge.server;
  started.add("websocket edge", () => edge.stop());

  const { promise: stopped, resolve: markStopped } = Promise.withResolvers<void>();
  /** Drain: clients told to reconnect elsewhere, discovery left, everyone written offline, then the rest closed. */
  const stop = async ({ reason = "shutdown" } = {}) => {
    if (state.draining) return;
    state.draining = true;
    log.info("stopping", { reason, connections: registry.connections });
    // Tell clients to reconnect elsewhere (1012 Service Restart); they reconnect to a live node.
    // outbound.close writes what is queued for the connection first (pushes and replies of this turn).
    for (const c of [...registry.allConns()]) {
      outbound.close(c, Disconnects.restart.code, Disconnects.restart.reason);
      sessions.unregister(c);
      c.state = "closing";
    }
    edge.stop();
    // Leave discovery first, so OpenIM's push service stops sending here.
    await state.registration?.stop();
    for (const w of watchers.values()) w.stop();
    // Every local user goes offline in the store before we exit (the reference sends nothing, §9.2.9).
    const flushed = await presence.flushOffline(Math.max(1000, config.shutdown.graceSeconds * 1000 - 2000));
    if (!flushed) log.warn("offline status not fully written before shutdown", { ...presence.batcher.stats() });
    presence.stop();
    sampler.stop();
    metrics.stop();
    loopLag.stop();
    if (cluster) await cluster.leave();
    await statusStore.close();
    if (redis) await Promise.all([redis.client.quit().catch(() => {}), redis.subscriber.quit().catch(() => {})]);
    admin.stop();
    await hub.close();
    await backend.close();
    markStopped();
  };
  const hub = await startHub({
    config, nodeID, startedAt, get draining() { return state.draining; },
    registry, sessions, dispatch, backend, counters, metrics, stop,
  });
  started.add("hub", () => hub.close());

  const node: Node = {
    stopped, stop,
    config, nodeID, log, counters, registry, sessions, dispatch, backend, presence, webhooks, metrics, edge, admin, hub,
    startedAt,
    get draining() { return state.draining; },
    get registration() { return state.registration; },
    ports: { ws: edge.server.port ?? config.ws.port, admin: admin.port, rpc: hub.port },
  };

  // OpenIM's push, auth and api services find gateways in etcd (§8.4).
  if (etcd && registerAs) {
    const addr = joinHostPort(registerAs, node.ports.rpc);
    // Peer gateways hear about our logins through OpenIM's MultiTerminalLoginCheck, as the reference does.
    const peers = watchService(etcd, config.discovery.etcd.rootDirectory, config.discovery.rpcService.messageGateway, 5000);
    watchers.set("messageGateway", peers);
    started.add("etcd watch messageGateway", () => peers.stop());
    await peers.refresh();
    const peerClients = new Map<string, ReturnType<typeof createClient<typeof msgGateway>>>();
    if (config.multiLogin.policy !== 0)
      sessions.onRegistered(openimPeerAnnounce({
        peers: () => peers.addresses(), self: () => addr, timeoutMs: config.openim.callTimeoutMs, log,
        check: (peer, req, operationID) => {
          let c = peerClients.get(peer);
          if (!c) peerClients.set(peer, (c = createClient(msgGateway, createGrpcTransport({ baseUrl: `http://${peer}` }))));
          return c.multiTerminalLoginCheck(req, { headers: { operationid: operationID }, timeoutMs: config.openim.callTimeoutMs });
        },
      }));
    const registration = keepRegistered(etcd, registrationEntries(config, addr, joinHostPort(registerAs, node.ports.admin)), {
      onRegistered: ({ keys, again }) => log.info(again ? "registered in etcd again" : "registered in etcd", { keys, addr }),
      onFailed: (err, { first, attempt }) => {
        // The first failure and then one a minute: a long etcd outage must not flood the log.
        if (first || attempt % 60 === 0) log.warn("etcd registration failed; not registered, retrying every second", { err, attempt });
      },
    });
    state.registration = registration;
    started.add("etcd registration", () => registration.stop());
    await registration.start();
  }
  log.info("imgate started", {
    version: VERSION, shape: config.shape, node: nodeID, ws: joinHostPort(config.ws.host, node.ports.ws), rpc: joinHostPort(hub.host, node.ports.rpc),
    ...(registerAs ? { registerAs: joinHostPort(registerAs, node.ports.rpc), etcd: state.registration!.state() } : {}),
    admin: `${config.admin.host}:${node.ports.admin}`, ...(clustered ? { redis: "shared state" } : { dataDir: config.dataDir }),
  });
  return node;
}

/** The cluster shape's parts: the route table, the bus and the node registry, and the dispatch routed over them. */
async function startClusterParts(o: {
  config: Config; nodeID: string; redis: { client: RedisClient; subscriber: RedisClient }; registry: Registry; pusher: Pusher;
  sessions: Sessions; statusStore: StatusStore; log: Logger; counters: Counters; started: Lifecycle;
}) {
  const { nodeID, redis, registry, pusher, sessions, log, started } = o;
  const routes = createRouteTable({
    redis: redis.client, nodeID, current: (u) => registry.onlinePlatforms(u), localUsers: () => registry.userIDs(),
    onError: (err) => log.debug("route write failed; will retry", { err }),
  });
  started.add("routes", () => routes.stop());
  registry.onChange((change) => routes.mark(change.userID));
  const bus = createBus({
    nodeID, pub: redis.client, sub: redis.subscriber, handle: busHandler({ registry, pusher, sessions }),
    onError: (err) => log.warn("bus error", { err }),
  });
  started.add("bus", () => bus.close());
  const nodes = createNodeRegistry({
    redis: redis.client, nodeID, ttlMs: 6000, statusStore: o.statusStore,
    onReaped: (dead, users) => log.warn("node left without saying goodbye; its users are offline now", { dead, users }),
    onError: (err) => log.debug("node heartbeat failed", { err }),
  });
  const dispatch = clusterDispatch({ nodeID, registry, pusher, sessions, routes, bus, timeoutMs: 3000, log, counters: o.counters });
  started.add("node registry", () => nodes.leave());
  await nodes.start();
  return {
    dispatch,
    routes,
    /** Shutdown: this node's routes removed, its heartbeat ended, the bus closed. */
    async leave() {
      await routes.clear().catch((err) => log.warn("could not clear routes", { err }));
      await nodes.leave();
      await bus.close();
    },
  };
}

/** The gateway's key as OpenIM's tools register it, and the Prometheus target OpenIM's API lists for Grafana. */
function registrationEntries(config: Config, addr: string, metricsAddr: string): { key: string; value: string }[] {
  const entries = [{
    key: `${config.discovery.etcd.rootDirectory}/${config.discovery.rpcService.messageGateway}/${addr}`,
    value: JSON.stringify({ Op: 0, Addr: addr, Metadata: null }),
  }];
  if (config.discovery.prometheusKey)
    entries.push({ key: config.discovery.prometheusKey, value: JSON.stringify({ target: metricsAddr, labels: { namespace: "default" } }) });
  return entries;
}

export type { Conn };
