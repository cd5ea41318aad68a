// Prometheus metrics on the admin port. Hot paths increment plain counters (stats.ts) or observe a histogram;
// everything else is read from the owning module at scrape time, so a scrape costs the server little and the
// numbers cannot drift from the state they describe. OpenIM's `online_user_num` and `rpc_count` are kept.
import client from "prom-client";
import { platformName } from "../protocol/constants.js";
import { localHistogram } from "./histogram.js";
import type { LoopLag } from "./loop-lag.js";
import type { Counters } from "./stats.js";

/** What metrics read of the layers above them (the session registry, the status batcher, webhooks), by shape. */
export interface ConnectionsSource {
  readonly userCount: number;
  allConns(): Iterable<{ platformID: number; variant: string }>;
}
export interface BatcherSource {
  stats(): { events: number; writes: number; entriesWritten: number; failures: number; renewals: number; pending: number; maxLagMs: number };
}
export interface WebhooksSource {
  stats(): { sent: Record<string, number>; failed: Record<string, number>; dropped: number };
}

export interface MetricsSources {
  counters: Counters;
  registry: ConnectionsSource;
  batcher: BatcherSource;
  webhooks: WebhooksSource;
  redisUp: () => number | undefined;
  /** 1 registered in etcd, 0 not (yet, or lost); undefined without etcd. */
  etcdRegistered?: () => number | undefined;
  draining: () => boolean;
  loopLag: LoopLag;
  /** Store calls waiting and their bound; undefined where the store has no queue (Redis, OpenIM's services). */
  storeQueue?: () => { depth: number; limit: number } | undefined;
  /** What /readyz answers: true = 200. */
  ready?: () => boolean;
}

/** Long because it declares every metric in one place (name, help, labels, how it is collected). */
export function createMetrics(src: MetricsSources) {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry });
  // prom-client's event-loop metrics read perf_hooks histograms Bun does not fill (NaN): ours replace them.
  for (const name of registry.getMetricsAsArray().map((m) => m.name)) if (name.startsWith("nodejs_eventloop_lag")) registry.removeSingleMetric(name);
  const { counters: c } = src;
  const reg = { registers: [registry] };

  const gauge = (name: string, help: string, collect: (g: client.Gauge) => void, labelNames: string[] = []) =>
    new client.Gauge({ name, help, labelNames, ...reg, collect() { this.reset(); collect(this); } });
  /** A counter whose value lives elsewhere: set at scrape time from the source of truth. */
  const mirror = (name: string, help: string, collect: (set: (labels: Record<string, string | number>, v: number) => void) => void, labelNames: string[] = []) =>
    new client.Counter({
      name, help, labelNames, ...reg,
      collect() {
        this.reset();
        collect((labels, v) => (v > 0 ? this.inc(labels, v) : undefined));
      },
    });

  gauge("online_user_num", "Distinct users online on this node (OpenIM's gauge).", (g) => g.set(src.registry.userCount));
  gauge("imgate_connections", "Open WebSocket connections by platform and codec.", (g) => {
    const per = new Map<string, number>();
    for (const conn of src.registry.allConns()) {
      const k = `${conn.platformID}|${conn.variant}`;
      per.set(k, (per.get(k) ?? 0) + 1);
    }
    for (const [k, v] of per) {
      const [p, codec] = k.split("|");
      g.set({ platform: platformName(Number(p)), codec: codec! }, v);
    }
  }, ["platform", "codec"]);
  gauge("imgate_users", "Distinct users online on this node.", (g) => g.set(src.registry.userCount));
  gauge("imgate_draining", "1 while the node drains.", (g) => g.set(src.draining() ? 1 : 0));
  gauge("imgate_ready", "1 while /readyz answers 200 (the node takes clients), 0 when not (draining, a store or Redis down, etcd registration lost).", (g) => {
    if (src.ready) g.set(src.ready() ? 1 : 0);
  });
  gauge("imgate_redis_up", "1 when the Redis connection is ready, 0 when not; absent without Redis.", (g) => {
    const v = src.redisUp();
    if (v !== undefined) g.set(v);
  });
  gauge("imgate_etcd_registered", "1 while this gateway's key is in etcd under a live lease, 0 when not; absent without etcd.", (g) => {
    const v = src.etcdRegistered?.();
    if (v !== undefined) g.set(v);
  });
  gauge("imgate_store_queue", "Store calls waiting (SQLite store thread, PostgreSQL batches); absent where the store has no queue.", (g) => {
    const q = src.storeQueue?.();
    if (q) g.set(q.depth);
  });
  gauge("imgate_store_queue_limit", "The bound of imgate_store_queue (messages.storeQueueSize): past it new calls fail with 500.", (g) => {
    const q = src.storeQueue?.();
    if (q) g.set(q.limit);
  });
  mirror("imgate_handshakes_total", "WebSocket handshakes by result (ok or OpenIM errCode).", (set) => {
    set({ result: "ok" }, c.handshakes);
    for (const [code, v] of c.handshakeFailures) set({ result: String(code) }, v);
  }, ["result"]);
  mirror("imgate_requests_total", "Client requests by reqIdentifier and errCode.", (set) => {
    for (const [k, v] of c.requests) {
      const [req, code] = k.split(":");
      set({ req: req!, code: code! }, v);
    }
  }, ["req", "code"]);
  mirror("imgate_pushes_total", "Per-connection push results (0 delivered, 1603 failed, 1604 iOS background).", (set) => {
    for (const [code, v] of c.pushes) set({ result: String(code) }, v);
  }, ["result"]);
  mirror("imgate_frames_total", "WebSocket frames by direction.", (set) => {
    set({ direction: "in" }, c.messagesIn);
    set({ direction: "out" }, c.messagesOut);
  }, ["direction"]);
  mirror("imgate_bytes_total", "WebSocket payload bytes by direction.", (set) => {
    set({ direction: "in" }, c.bytesIn);
    set({ direction: "out" }, c.bytesOut);
  }, ["direction"]);
  mirror("imgate_limit_refusals_total", "Handshakes, requests or connections refused by an operator-set limit.", (set) => {
    for (const [k, v] of c.limitRefusals) set({ limit: k }, v);
  }, ["limit"]);
  mirror("imgate_cross_node_failures_total", "Cross-node pushes, kicks or lookups that failed (Redis down, peer timeout).", (set) => set({}, c.crossNodeFailures));
  mirror("imgate_redis_resubscribes_total", "Redis subscriptions found lost (their self-probe did not come back) and made again.", (set) => {
    for (const [k, v] of c.resubscribes) set({ channel: k }, v);
  }, ["channel"]);
  mirror("imgate_slow_consumer_closes_total", "Connections closed because they stopped reading.", (set) => set({}, c.slowConsumerCloses));
  mirror("imgate_kicks_total", "Kicked connections by reason.", (set) => {
    for (const [r, v] of c.kicks) set({ reason: r }, v);
  }, ["reason"]);
  mirror("imgate_protocol_closes_total", "Connections closed for a protocol violation, by reason.", (set) => {
    for (const [r, v] of c.protocolCloses) set({ reason: r }, v);
  }, ["reason"]);
  mirror("imgate_presence_events_total", "Status changes fed to the batcher.", (set) => set({}, src.batcher.stats().events));
  mirror("imgate_presence_writes_total", "Batched writes to the status store.", (set) => set({}, src.batcher.stats().writes));
  mirror("imgate_presence_entries_written_total", "User entries written to the status store.", (set) => set({}, src.batcher.stats().entriesWritten));
  mirror("imgate_presence_failures_total", "Failed status-store writes (retried).", (set) => set({}, src.batcher.stats().failures));
  mirror("imgate_presence_renewals_total", "Online users re-asserted before their TTL.", (set) => set({}, src.batcher.stats().renewals));
  gauge("imgate_presence_pending", "Users waiting to be written to the status store.", (g) => g.set(src.batcher.stats().pending));
  gauge("imgate_presence_lag_seconds", "Longest recent wait of a change before its store write.", (g) => g.set(src.batcher.stats().maxLagMs / 1000));
  mirror("imgate_webhooks_total", "Webhook calls by hook and result.", (set) => {
    const s = src.webhooks.stats();
    for (const [hook, v] of Object.entries(s.sent)) set({ hook, result: "ok" }, v);
    for (const [hook, v] of Object.entries(s.failed)) set({ hook, result: "failed" }, v);
    set({ hook: "any", result: "dropped" }, s.dropped);
  }, ["hook", "result"]);
  const lagSeconds = localHistogram({
    name: "imgate_event_loop_lag_seconds", help: "Event-loop delay, sampled every 10 ms (how late a timer fires).",
    buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registry,
  });
  src.loopLag.onSample((s) => lagSeconds.observe(s));
  gauge("imgate_event_loop_lag_max_seconds", "Largest event-loop delay since the last scrape.", (g) => g.set(src.loopLag.takeMaxMs() / 1000));

  // Observed per request and per push: local buckets, not prom-client's (histogram.ts).
  const requestSeconds = localHistogram({
    name: "imgate_request_duration_seconds", help: "Client request handling time by reqIdentifier.", labelName: "req",
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5], registry,
  });
  const fanout = localHistogram({
    name: "imgate_push_fanout_users", help: "Users addressed by one push call.", buckets: [1, 2, 5, 10, 100, 1000, 10_000, 100_000], registry,
  });
  const rpcCount = new client.Counter({ name: "rpc_count", help: "Served gRPC calls (OpenIM's counter).", labelNames: ["name", "path", "code"], ...reg });
  const reloads = new client.Counter({ name: "imgate_config_reloads_total", help: "Config reloads: ok, partial (some keys need a restart), invalid (refused).", labelNames: ["result"], ...reg });
  for (const r of ["ok", "partial", "invalid"]) reloads.inc({ result: r }, 0);
  // OpenIM's api service counters, for the app-server API: by business code and by HTTP status.
  const apiCount = new client.Counter({ name: "api_count", help: "App-server API calls by errCode (OpenIM's counter).", labelNames: ["path", "method", "code"], ...reg });
  const httpCount = new client.Counter({ name: "http_count", help: "App-server API calls by HTTP status (OpenIM's counter).", labelNames: ["path", "method", "status"], ...reg });

  return {
    registry,
    observeRequest: (req: number, seconds: number) => requestSeconds.observe(seconds, req),
    observeFanout: (users: number) => fanout.observe(users),
    countRpc: (path: string, code: number) => rpcCount.inc({ name: "messagegateway-rpc-service", path, code: String(code) }),
    countReload: (result: "ok" | "partial" | "invalid") => reloads.inc({ result }),
    countApi: (path: string, status: number, code: number) => {
      apiCount.inc({ path, method: "POST", code: String(code) });
      httpCount.inc({ path, method: "POST", status: String(status) });
    },
    render: () => registry.metrics(),
    contentType: registry.contentType,
    stop: () => {},
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
