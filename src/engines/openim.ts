// The openim shape: a drop-in for OpenIM's msggateway. OpenIM's auth, msg, push and user services (static
// addresses, or found in etcd under the names of the folder's release line) behind every client request; online
// status in OpenIM's user service, refreshed by its online_change through Redis when configured; the gateway
// registered in etcd where OpenIM's push and api services look, with its Prometheus target; logins announced to
// the other gateways with OpenIM's MultiTerminalLoginCheck.
import { createClient } from "@connectrpc/connect";
import { Http2SessionManager, createGrpcTransport } from "@connectrpc/connect-node";
import { createOpenIMBackend, createOpenIMStatusStore, type OpenIMAddresses } from "../backend/openim/index.js";
import { openimPeerAnnounce } from "../cluster/dispatch.js";
import type { Config } from "../config/schema.js";
import { joinHostPort } from "../discovery/address.js";
import { createEtcd, keepRegistered, type Registration, watchService } from "../discovery/etcd.js";
import { msgGateway } from "../gen/openim/msggateway/msggateway_pb.js";
import { type Engine, type EngineContext, localRouting, redisStatusStore } from "./engine.js";

/** `registerAs`: the address to register in etcd (checked against the listen address before anything started). */
export async function startOpenIMEngine(ctx: EngineContext, registerAs: string | undefined): Promise<Engine> {
  const { config, log, started } = ctx;
  const etcd = config.discovery.enable === "etcd"
    ? createEtcd({ endpoints: config.discovery.etcd.address, username: config.discovery.etcd.username, password: config.discovery.etcd.password })
    : undefined;
  const watchers = new Map<string, ReturnType<typeof watchService>>();
  if (etcd) {
    for (const svc of ["auth", "msg", "push", "user"] as const) {
      if (config.openim[svc]) continue;
      const w = watchService(etcd, config.discovery.etcd.rootDirectory, config.discovery.rpcService[svc], 5000,
        (err) => log.warn("etcd lookup failed", { service: svc, err }));
      watchers.set(svc, w);
      started.add(`etcd watch ${svc}`, () => w.stop());
      await w.refresh();
    }
  }
  const addresses: OpenIMAddresses = {
    callTimeoutMs: config.openim.callTimeoutMs,
    resolve: (svc) => (config.openim[svc] ? [config.openim[svc]] : watchers.get(svc)?.addresses() ?? []),
  };
  // OpenIM's user service owns the status; its online_change reaches us through Redis when configured.
  const changes = ctx.redis ? redisStatusStore(ctx, ctx.redis) : undefined;
  const statusStore = createOpenIMStatusStore(addresses, changes);
  started.add("status store", () => statusStore.close());
  const backend = createOpenIMBackend(addresses);
  started.add("backend", () => backend.close());
  const running: { registration?: Registration } = {};

  return {
    statusStore,
    backend,
    route: async (core) => localRouting(core),
    // OpenIM's push, auth and api services find gateways in etcd (§8.4).
    async listening(ports, { sessions }) {
      if (!etcd || !registerAs) return;
      const addr = joinHostPort(registerAs, ports.rpc);
      // Peer gateways hear about our logins through OpenIM's MultiTerminalLoginCheck, as the reference does.
      const peers = watchService(etcd, config.discovery.etcd.rootDirectory, config.discovery.rpcService.messageGateway, 5000);
      watchers.set("messageGateway", peers);
      started.add("etcd watch messageGateway", () => peers.stop());
      await peers.refresh();
      // Clients of the other gateways (cross-node login checks), closed with the node.
      const peerClients = new Map<string, ReturnType<typeof createClient<typeof msgGateway>>>();
      const peerSessions: Http2SessionManager[] = [];
      started.add("peer gateway clients", () => peerSessions.forEach((p) => p.abort()));
      // The policy is live (a reload may set it): read at each login, not once at start.
      const announce = openimPeerAnnounce({
        peers: () => peers.addresses(), self: () => addr, timeoutMs: config.openim.callTimeoutMs, log,
        check: (peer, req, operationID) => {
          let c = peerClients.get(peer);
          if (!c) {
            const sessionManager = new Http2SessionManager(`http://${peer}`);
            peerSessions.push(sessionManager);
            peerClients.set(peer, (c = createClient(msgGateway, createGrpcTransport({ baseUrl: `http://${peer}`, sessionManager }))));
          }
          return c.multiTerminalLoginCheck(req, { headers: { operationid: operationID }, timeoutMs: config.openim.callTimeoutMs });
        },
      });
      sessions.onRegistered((conn) => {
        if (config.multiLogin.policy !== 0) announce(conn);
      });
      const registration = keepRegistered(etcd, registrationEntries(config, addr, joinHostPort(registerAs, ports.admin)), {
        onRegistered: ({ keys, again }) => log.info(again ? "registered in etcd again" : "registered in etcd", { keys, addr }),
        onFailed: (err, { first, attempt }) => {
          // The first failure and then one a minute: a long etcd outage must not flood the log.
          if (first || attempt % 60 === 0) log.warn("etcd registration failed; not registered, retrying every second", { err, attempt });
        },
      });
      running.registration = registration;
      started.add("etcd registration", () => registration.stop());
      await registration.start();
    },
    notReady() {
      const reg = running.registration;
      if (!reg || reg.state() === "registered") return undefined;
      return `etcd registration ${reg.state()}${reg.lastError() ? ` (${reg.lastError()})` : ""}`;
    },
    registered: () => (running.registration ? (running.registration.state() === "registered" ? 1 : 0) : undefined),
    async leave() {
      await running.registration?.stop();
      for (const w of watchers.values()) w.stop();
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
