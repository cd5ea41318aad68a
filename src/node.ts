// The Node owns the process-wide state: config, registry, backend, presence, the WebSocket edge, the admin
// HTTP listener and the hub, and in the cluster shape the route table, node registry and bus. `startNode`
// brings them up in one pass, each part built from the ones before it (listeners registered, never patched in);
// a failed start unwinds what it started, and `stop` drains and closes them.
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { createSecureContext } from "node:tls";
import type { Server } from "bun";
import { startAdminHttp, type AdminHttp } from "./admin/http.js";
import { apiUnavailable, createAppServerApi, isApiPath, startApiListener } from "./api/app-server.js";
import type { Backend, StatusStore } from "./backend/ports.js";
import { MESSAGE_HOOKS, createSendHooks } from "./backend/send-hooks.js";
import { createWebhookClient } from "./backend/webhook-client.js";
import type { Dispatch } from "./cluster/dispatch.js";
import { type RedisClient, createRedis, redisConfigured, waitReady } from "./cluster/redis.js";
import type { Config } from "./config/schema.js";
import { ConfigError } from "./config/errors.js";
import type { HubDeps, ReloadResult } from "./hub/deps.js";
import { joinHostPort, registerAddress } from "./discovery/address.js";
import { type Outbound, createOutbound } from "./gateway/outbound.js";
import { createPusher } from "./gateway/push.js";
import { createRouter } from "./gateway/requests.js";
import { startEdge, type Edge } from "./gateway/server.js";
import { createSubscriptions } from "./gateway/subscriptions.js";
import { startHub, type Hub } from "./hub/server.js";
import { createLifecycle, type Lifecycle } from "./lifecycle.js";
import { type Logger, rateLimitedLog } from "./observe/log.js";
import { startLoopLag } from "./observe/loop-lag.js";
import { createMetrics, type Metrics } from "./observe/metrics.js";
import { type Sampler, createSampler } from "./observe/sampler.js";
import { createCounters, type Counters } from "./observe/stats.js";
import { createPresence, type Presence } from "./presence/presence.js";
import { USER_HOOKS, createWebhooks, type Webhooks } from "./presence/webhooks.js";
import { Disconnects } from "./protocol/disconnects.js";
import type { Conn } from "./sessions/conn.js";
import { Registry } from "./sessions/registry.js";
import { createSessions, type Sessions } from "./sessions/sessions.js";
import { VERSION } from "./version.js";
import { generatedAdminToken } from "./config/secret.js";
import { registersInDiscovery, traitsOf } from "./config/shapes.js";
import { startEngine } from "./engines/index.js";
import { type Reloader, createReloader } from "./reloader.js";
import type { Engine, Routing } from "./engines/engine.js";
import { closeSpread } from "./sessions/spread.js";

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
  ports: { ws: number; admin: number; rpc: number; api: number };
  /** Drains and stops; `overMs` spreads the clients' closes over that window (0: all at once). */
  stop(opts?: { reason?: string; overMs?: number }): Promise<void>;
  /** Re-reads the config (NodeOptions.reloadConfig) and applies what can change live. */
  reload(): Promise<ReloadResult>;
  /** What /readyz answers. */
  readiness(): { ready: boolean; reason?: string };
  /** Settles when the node has stopped, whoever asked (a signal, the admin API's Drain). */
  stopped: Promise<void>;
}

export interface NodeOptions {
  /** Reads the config again from where it came from (file, environment, flags), for a reload. */
  reloadConfig?: () => Config;
  /** systemd's notify protocol (RELOADING=1 / READY=1 around reloads, STOPPING=1 on a drain), when asked for. */
  notify?: (state: string) => void;
}

export async function startNode(config: Config, log: Logger, secret: string, opts: NodeOptions = {}): Promise<Node> {
  // Checked before anything starts: a registered address the hub does not answer on is a config error.
  const registerAs = registersInDiscovery(config) ? registerAddress(config) : undefined;
  const started = createLifecycle(log);
  try {
    return await buildNode(config, log, secret, registerAs, started, opts);
  } catch (e) {
    await started.unwind();
    throw e;
  }
}

async function buildNode(config: Config, log: Logger, secret: string, registerAs: string | undefined, started: Lifecycle, opts: NodeOptions): Promise<Node> {
  const counters = createCounters();
  const nodeID = config.nodeID || `${hostname()}-${process.pid}`;
  // The admin API always needs a token: rpc.token (live), else one generated beside the secret (0600).
  const generated = generatedAdminToken(config.dataDir, true)!;
  const adminToken = () => config.rpc.token || generated;
  const startedAt = Date.now();
  // Parts that captured a setting at start register how to take it anew, where they are built.
  const reloader = createReloader({ config, source: opts.reloadConfig, log, notify: opts.notify, count: (r) => metrics.countReload(r) });
  reloader.onReload(() => log.configure(config.log));
  // What changes while the node runs; read through getters by the Node and by the parts that need it.
  const state = { draining: false };
  // The WebSocket server exists only once the edge listens; topic publishes before that go nowhere.
  const sockets: { server?: Server<Conn> } = {};
  const outbound = createOutbound({ server: () => sockets.server, slowConsumerBytes: () => config.ws.slowConsumerBytes, counters, log });

  // ---- shared state: Redis when configured ----------------------------------------------------------
  const redis = await openRedis(config, log, started);

  // ---- webhooks: one queue for every hook (user status, messages), as OpenIM's one client ---------------------
  // Handed the live config section: a reload's new URL, queue size and retries apply to the next call.
  const hookClient = createWebhookClient(
    config.webhooks,
    [...USER_HOOKS, ...MESSAGE_HOOKS],
    (call, err) => log.warn("webhook failed", { hook: call.hook, err }),
  );
  const sendHooks = createSendHooks(hookClient, config.webhooks, (hook, err) => log.warn("webhook unreachable; message sent anyway (failedContinue)", { hook, err }));

  // ---- the shape: status store, backend, routing, discovery ------------------------------------------------
  const ctx = { config, nodeID, log, counters, secret, redis, started, beforeSend: sendHooks.before };
  const engine = await startEngine(ctx, registerAs);
  const { statusStore, backend } = engine;
  // Other nodes' status changes must reach this one before it takes clients (their 2005 subscribers); a Redis that
  // is down does not hold the start (the node starts degraded, /readyz says why).
  if (statusStore.listening) await Promise.race([statusStore.listening(), Bun.sleep(5000)]);

  // ---- presence: the registry, the batcher and webhooks -----------------------------------------------------
  const webhooks = createWebhooks(hookClient, config.webhooks);
  const registry = new Registry();
  const presence = startPresence({ config, registry, statusStore, webhooks, log, started, reloader });

  // ---- observability ----------------------------------------------------------------------------------------
  const loopLag = startLoopLag();
  started.add("loop lag probe", () => loopLag.stop());
  const metrics = createMetrics({
    counters, registry, batcher: presence.batcher, webhooks, loopLag,
    redisUp: () => (redis ? (redis.client.status === "ready" ? 1 : 0) : undefined),
    etcdRegistered: () => engine.registered(),
    storeQueue: () => backend.storeQueue?.(),
    // Read at scrape time, after the start defined it below.
    ready: () => ready().ready,
    draining: () => state.draining,
  });
  started.add("metrics", () => metrics.stop());

  // ---- sessions, pushes, requests, routing ---------------------------------------------------------------------
  const sessions = createSessions({ registry, outbound, auth: backend.auth, policy: () => config.multiLogin.policy, counters, log });
  sessions.onKicked((conn) => presence.onKicked(conn));
  const pusher = createPusher({ registry, outbound, counters, observeFanout: (n) => metrics.observeFanout(n), slice: () => config.ws.pushSliceUsers, sliceMs: () => config.ws.pushSliceMs });
  const subscriptions = createSubscriptions({ outbound, lookup: (ids) => presence.lookup(ids), maxPerConn: () => config.ws.maxSubscriptionsPerConn });
  presence.onStatusChange((userID, platforms) => subscriptions.notify(userID, platforms));
  const handlers = createRouter({
    backend,
    setBackground: (c, b) => sessions.setBackground(c, b),
    close: (c, code, reason) => outbound.close(c, code, reason),
    subscribe: (c, sub, unsub) => subscriptions.update(c, sub, unsub),
  });
  const core = { registry, pusher, sessions };
  const routing = await engine.route(core);
  const { dispatch } = routing;
  backend.onStored?.((msg, users, opID) => {
    counters.deliveryLatencyMs.push(Date.now() - Number(msg.sendTime));
    dispatch.deliver(msg, users, opID).catch((err) => log.warn("delivery failed", { err, operationID: opID }));
    sendHooks.after(msg, opID);
  });
  if (redis) onReconnect(redis.client, () => {
    // Redis restarts empty (or lost keys): write this node's presence again.
    log.info("redis reconnected; re-asserting local presence", { users: registry.userCount });
    presence.resync();
  });

  // ---- readiness, admin HTTP -----------------------------------------------------------------------------
  const ready = () => {
    if (state.draining) return { ready: false, reason: "draining" };
    if (!backend.ready()) return { ready: false, reason: backend.notReady?.() ?? "backend not ready" };
    if (redis && redis.client.status !== "ready") return { ready: false, reason: `redis ${redis.client.status}` };
    const why = engine.notReady();
    return why ? { ready: false, reason: why } : { ready: true };
  };
  const sampler = createSampler({ counters, registry, readiness: ready, loopLag });
  started.add("sampler", () => sampler.stop());
  const { admin, apiServer } = startHttp({ config, log, secret, backend, dispatch, metrics, sampler, ready, adminToken, nodeID, started });

  // ---- the WebSocket edge and the hub ----------------------------------------------------------------------
  const edge = startEdge({
    config, log, counters, registry, sessions, outbound, auth: backend.auth, handlers, accepting: () => !state.draining,
    observeRequest: (req, seconds) => metrics.observeRequest(req, seconds),
  });
  sockets.server = edge.server;
  started.add("websocket edge", () => edge.stop());
  reloader.onReload(() => edge.reconfigure());

  const { promise: stopped, resolve: markStopped } = Promise.withResolvers<void>();
  const stop = shutdown({ config, log, state, registry, outbound, sessions, edge, engine, presence, routing, started, notify: opts.notify, stopped, markStopped });
  const hub = await startHubReloadable({
    config, nodeID, startedAt, get draining() { return state.draining; },
    registry, sessions, dispatch, backend, counters, metrics, stop, reload: () => reloader.reload(), adminToken,
  }, started, reloader);

  const ports = { ws: edge.server.port ?? config.ws.port, admin: admin.port, rpc: hub.port, api: apiServer?.port ?? admin.port };
  await engine.listening({ rpc: ports.rpc, admin: ports.admin }, core);
  log.info("imgate started", {
    version: VERSION, shape: config.shape, node: nodeID, ws: joinHostPort(config.ws.host, ports.ws), rpc: joinHostPort(hub.host, ports.rpc),
    ...(registerAs ? { registerAs: joinHostPort(registerAs, ports.rpc), etcd: engine.registered() === 1 ? "registered" : "retrying" } : {}),
    admin: `${config.admin.host}:${ports.admin}`, ...(apiServer ? { api: config.api.listen.replace(/:\d+$/, `:${ports.api}`) } : {}),
    ...(traitsOf(config).state === "redis" ? { redis: "shared state" } : { dataDir: config.dataDir }),
  });
  return {
    stopped, stop, reload: () => reloader.reload(), readiness: ready,
    config, nodeID, log, counters, registry, sessions, dispatch, backend, presence, webhooks, metrics, edge, admin, hub, ports,
    startedAt,
    get draining() { return state.draining; },
  };
}

/** The registry's status batcher and webhooks, stopped with the node; its batch timing follows reloads. */
function startPresence(p: {
  config: Config; registry: Registry; statusStore: StatusStore; webhooks: Webhooks; log: Logger; started: Lifecycle; reloader: Reloader;
}): Presence {
  const c = p.config.presence;
  const timing = () => ({ batchSize: c.batchSize, mergeIntervalMs: c.mergeIntervalMs, renewIntervalMs: c.renewIntervalSeconds * 1000 });
  const presence = createPresence({ registry: p.registry, store: p.statusStore, webhooks: p.webhooks, log: p.log, options: { shards: c.shards, ...timing() } });
  p.started.add("presence", () => presence.stop());
  p.reloader.onReload(() => presence.batcher.reconfigure(timing()));
  return presence;
}

/** Calls `f` each time the connection is ready again after having been ready before (a reconnect). */
function onReconnect(client: RedisClient, f: () => void): void {
  let connectedBefore = client.status === "ready";
  client.on("ready", () => {
    if (connectedBefore) f();
    connectedBefore = true;
  });
}

/** The hub, stopped with the node; its certificate can change live, its kind (TLS or not) is fixed when it opens. */
async function startHubReloadable(deps: HubDeps, started: Lifecycle, reloader: Reloader): Promise<Hub> {
  const hub = await startHub(deps);
  started.add("hub", () => hub.close());
  const config = deps.config;
  const tlsChanged = (changed: string[]) => changed.includes("rpc.tlsCert") || changed.includes("rpc.tlsKey");
  reloader.onCheck((next, changed) => {
    if (!tlsChanged(changed)) return;
    if (!next.rpc.tlsCert !== !config.rpc.tlsCert)
      throw new ConfigError(`rpc.tlsCert: turning TLS ${next.rpc.tlsCert ? "on" : "off"} on the hub takes a restart; the certificate of a TLS hub can change live`);
    checkTls(next.rpc.tlsCert, next.rpc.tlsKey);
  });
  reloader.onReload((changed) => tlsChanged(changed) && hub.reloadTls());
  return hub;
}

/** The admin HTTP listener, and OpenIM's app-server API where imgate is the message service: on the admin port, or
 *  on a listener of its own (api.listen). */
function startHttp(p: {
  config: Config; log: Logger; secret: string; backend: Backend; dispatch: Dispatch; metrics: Metrics; sampler: Sampler;
  ready: () => { ready: boolean; reason?: string }; adminToken: () => string; nodeID: string; started: Lifecycle;
}) {
  const { config, backend, metrics } = p;
  const apiFetch = !config.api.enable ? apiUnavailable("the app-server API is off (api.enable: false)")
    : !backend.tokens ? apiUnavailable("in the openim shape OpenIM's own api service answers /auth, /msg, /user and the SDKs' routes")
    : createAppServerApi({ config, secret: p.secret, backend, dispatch: p.dispatch, log: p.log, count: (path, status, code) => metrics.countApi(path, status, code) });
  const apiServer = config.api.listen ? startApiListener(config.api.listen, apiFetch) : undefined;
  if (apiServer) p.started.add("api http", () => apiServer.stop(true));
  const api = apiServer ? undefined : { owns: isApiPath, fetch: apiFetch };
  const admin = startAdminHttp({
    config, log: p.log, metrics, sampler: p.sampler, ready: p.ready, api, adminToken: p.adminToken,
    meta: () => ({ version: VERSION, shape: config.shape, nodeID: p.nodeID }),
  });
  p.started.add("admin http", () => admin.stop());
  return { admin, apiServer };
}

/** Redis connections when configured (commands and subscriber), recorded in the lifecycle; a Redis that does not
 *  answer within 5 s does not hold the start (the node starts degraded and /readyz says why). */
async function openRedis(config: Config, log: Logger, started: Lifecycle) {
  if (!redisConfigured(config)) return undefined;
  const redis = { client: createRedis(config, "commands"), subscriber: createRedis(config, "subscriber") };
  // A dead Redis is an operator's problem: warned, a few lines a minute (ioredis reports every reconnect attempt).
  const warn = rateLimitedLog(log, 3, 60_000);
  for (const [name, r] of [["commands", redis.client], ["subscriber", redis.subscriber]] as const)
    r.on("error", (err) => warn(`redis ${name}`, "redis error", { connection: name, err }));
  // QUIT lets replies in flight arrive; a Redis that is gone is simply disconnected.
  started.add("redis", () => Promise.all([redis.client, redis.subscriber].map((r) => r.quit().catch(() => r.disconnect()))));
  if (!(await waitReady(redis.client, 5000))) log.warn("redis is not reachable; starting degraded (see /readyz)");
  return redis;
}

/**
 * One teardown: the leaving a shutdown takes (drain, discovery, offline status, routes), then the lifecycle stops
 * every part newest first, as after a failed start. Whatever throws is logged and the rest still stop; `stopped`
 * settles in any case.
 */
function shutdown(p: {
  config: Config; log: Logger; state: { draining: boolean }; registry: Registry; outbound: Outbound; sessions: Sessions; edge: Edge;
  engine: Engine; presence: Presence; routing: Routing; started: Lifecycle; notify?: (s: string) => void;
  stopped: Promise<void>; markStopped: () => void;
}) {
  const { config, log, state, registry } = p;
  /** Tells a client to reconnect elsewhere (1012 Service Restart); what is queued for it is written first. */
  const sendAway = (c: Conn) => {
    if (c.state !== "open") return;
    p.outbound.close(c, Disconnects.restart.code, Disconnects.restart.reason);
    p.sessions.unregister(c);
    c.state = "closing";
  };
  return async ({ reason = "shutdown", overMs = 0 } = {}): Promise<void> => {
    if (state.draining) return p.stopped;
    state.draining = true;
    try {
      p.notify?.("STOPPING=1");
      log.info("stopping", { reason, connections: registry.connections, ...(overMs > 0 ? { drainSeconds: overMs / 1000 } : {}) });
      // No new clients from now on.
      p.edge.stopAccepting();
      if (overMs > 0) {
        // The ones here are served until their turn, spread over the window, so they reconnect elsewhere as a
        // stream. Each goes offline in the status store as it goes (the batcher writes it).
        await closeSpread([...registry.allConns()], overMs, sendAway);
        log.info("drain window over", { left: registry.connections });
      }
      for (const c of [...registry.allConns()]) sendAway(c);
      // Leave discovery first, so OpenIM's push service stops sending here.
      await p.engine.leave();
      // Every local user goes offline in the store before we exit (the reference sends nothing, §9.2.9).
      const flushed = await p.presence.flushOffline(Math.max(1000, config.shutdown.graceSeconds * 1000 - 2000));
      if (!flushed) log.warn("offline status not fully written before shutdown", { ...p.presence.batcher.stats() });
      await p.routing.close();
    } catch (err) {
      log.error("shutdown step failed; stopping the rest", { err });
    } finally {
      await p.started.unwind();
      p.markStopped();
    }
  };
}

function checkTls(cert: string, key: string): void {
  if (!cert) return;
  try {
    createSecureContext({ cert: readFileSync(cert), key: readFileSync(key) });
  } catch (e) {
    throw new ConfigError(`rpc.tlsCert/rpc.tlsKey do not load: ${(e as Error).message}`);
  }
}
