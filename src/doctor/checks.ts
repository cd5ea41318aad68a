// `imgate doctor`'s checks: everything `serve` would depend on, tried without starting anything. Each finding
// says what was checked, what was found, and (when it is a problem) what to change. A problem is a config
// problem (fixed by editing a file: exit 2) or a dependency problem (something is down or unreachable: exit 1).
import { accessSync, constants, existsSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join, resolve } from "node:path";
import type { Config } from "../config/schema.js";
import { SECRET_FILE } from "../config/secret.js";
import { createEtcd } from "../discovery/etcd.js";
import { isLocalAddress, isLoopback, isWildcard, joinHostPort, listenHost, localAddresses, registerAddress } from "../discovery/address.js";
import { Auth } from "../gen/openim/auth/auth_pb.js";
import { msg } from "../gen/openim/msg/msg_pb.js";
import { msgGateway } from "../gen/openim/msggateway/msggateway_pb.js";
import { PushMsgService } from "../gen/openim/push/push_pb.js";
import { user } from "../gen/openim/user/user_pb.js";
import { canBind, clusterState, grpcProbe, postgresSchema, redisPing, sentinelMaster, tcpReach } from "./probes.js";
import { PG_SCHEMA_VERSION } from "../backend/cluster/postgres-schema.js";
import { redactedUrl } from "../config/url.js";
import { LOOPBACK_CIDRS, PRIVATE_CIDRS, cidrMatcher } from "../config/cidr.js";
import { Database } from "bun:sqlite";
import { DB_FILE } from "../backend/embedded/db.js";
import { SCHEMA_VERSION, schemaPlan, schemaVersionOf } from "../backend/embedded/schema.js";
import { registersInDiscovery, traitsOf } from "../config/shapes.js";

export interface Finding {
  area: string;
  status: "ok" | "warn" | "fail";
  text: string;
  /** For failures: "config" (edit a file; exit 2) or "dependency" (start or reach something; exit 1). */
  kind?: "config" | "dependency";
  fix?: string;
}

export function exitCode(findings: Finding[]): 0 | 1 | 2 {
  if (findings.some((f) => f.status === "fail" && f.kind === "config")) return 2;
  return findings.some((f) => f.status === "fail") ? 1 : 0;
}

const SERVICES = ["auth", "msg", "push", "user"] as const;
/** A read-only method of each service: the probe proves the right service answers at an address. */
const PROBE_METHOD: Record<(typeof SERVICES)[number] | "messageGateway", string> = {
  auth: `/${Auth.typeName}/${Auth.method.parseToken.name}`,
  msg: `/${msg.typeName}/${msg.method.getMaxSeq.name}`,
  push: `/${PushMsgService.typeName}/${PushMsgService.method.delUserPushToken.name}`,
  user: `/${user.typeName}/${user.method.getUserStatus.name}`,
  messageGateway: `/${msgGateway.typeName}/${msgGateway.method.getUsersOnlineStatus.name}`,
};
/** Each service's name in the two release lines, to recognise a folder and a deployment that disagree. */
const LINE_NAMES: Record<(typeof SERVICES)[number] | "messageGateway", [main: string, v383: string]> = {
  auth: ["auth-rpc-service", "auth"], msg: ["msg-rpc-service", "msg"], push: ["push-rpc-service", "push"],
  user: ["user-rpc-service", "user"], messageGateway: ["messagegateway-rpc-service", "messageGateway"],
};

export async function diagnose(config: Config, opts: { timeoutMs: number }): Promise<Finding[]> {
  const out: Finding[] = [];
  const t = opts.timeoutMs;
  await listeners(config, out);
  const shape = traitsOf(config);
  if (registersInDiscovery(config)) await hubAddress(config, out, t);
  risks(config, out);
  if (shape.usesOpenIM) {
    if (config.discovery.enable === "etcd") await etcdServices(config, out, t);
    for (const svc of SERVICES) if (config.openim[svc]) await dial(svc, config.openim[svc], `openim.${svc}`, out, t);
  }
  await redis(config, out, t);
  if (config.postgres.url) await postgres(config, out, t);
  // The data dir holds the secret and the admin token in every shape, and the messages where they live there.
  if (shape.state !== "openim") storage(config, out);
  return out;
}

/** The database's schema version, read only, and what opening it would do (migrate, or refuse a newer file). */
function schema(dir: string, out: Finding[]): void {
  const path = join(dir, DB_FILE);
  if (!existsSync(path)) return void out.push({ area: "schema", status: "ok", text: `no database yet: created at schema version ${SCHEMA_VERSION}` });
  let version: number;
  try {
    const db = new Database(path, { readonly: true });
    try {
      version = schemaVersionOf(db);
    } finally {
      db.close();
    }
  } catch (e) {
    return void out.push({ area: "schema", status: "fail", kind: "config", text: `${path} cannot be read: ${(e as Error).message}` });
  }
  const plan = schemaPlan(version);
  if (plan.action === "refuse")
    out.push({ area: "schema", status: "fail", kind: "config", text: `${path} has schema version ${version}, newer than this imgate knows (${SCHEMA_VERSION})`, fix: "run the imgate that wrote it, or restore a backup taken before the upgrade" });
  else if (plan.action === "migrate")
    out.push({ area: "schema", status: "ok", text: `${path} is at schema version ${version}: it will be migrated to ${SCHEMA_VERSION} at start (one transaction; back it up first)` });
  else out.push({ area: "schema", status: "ok", text: `${path} is at schema version ${version} (current)` });
}

/** The settings docs/security.md calls risky on the internet, as this config has them. */
export function risks(config: Config, out: Finding[]): void {
  const warn = (text: string) => out.push({ area: "security", status: "warn", text });
  const ws = config.ws;
  if (!config.rpc.token && !isLoopback(config.admin.host))
    warn(`/metrics on ${config.admin.host} answers without a token; set rpc.token (Prometheus then sends it as a bearer)`);
  if (!isLoopback(config.rpc.host) && config.rpc.allowOpenIMWithoutToken) {
    const wide = config.rpc.allowFrom.filter((c) => /\/0$/.test(c) || c === "::/0");
    if (wide.length) warn(`the hub on ${config.rpc.host} takes msgGateway calls without a token from anywhere (rpc.allowFrom ${wide.join(", ")}): narrow it to OpenIM's hosts`);
    else if (isWildcard(config.rpc.host) || !localAddresses().every((a) => isPrivateOrLoopback(a.address)))
      warn(`the hub listens on ${config.rpc.host}: msgGateway calls without a token are taken from ${config.rpc.allowFrom.join(", ")}; keep the port off the internet (firewall) or set allowOpenIMWithoutToken: false`);
  }
  const off = [
    ["ws.maxConnsPerUser", ws.maxConnsPerUser], ["ws.maxConnsPerIP", ws.maxConnsPerIP], ["ws.handshakesPerIPPerSecond", ws.handshakesPerIPPerSecond],
    ["ws.requestsPerSecond", ws.requestsPerSecond], ["ws.bytesPerSecond", ws.bytesPerSecond],
  ].filter(([, v]) => v === 0).map(([k]) => k);
  if (off.length && !isLoopback(ws.host)) warn(`limits off on an open WebSocket port: ${off.join(", ")} (0); one client can take what they bound`);
  if (ws.limitExempt.some((c) => /\/0$/.test(c))) warn(`ws.limitExempt holds ${ws.limitExempt.filter((c) => /\/0$/.test(c)).join(", ")}: every address is exempt from the per-address limits`);
  if (!ws.tlsCert && !isLoopback(ws.host)) warn(`the WebSocket port on ${ws.host} is plain ws://: tokens travel in the clear unless a TLS proxy is in front`);
}

const isPrivateOrLoopback = cidrMatcher([...LOOPBACK_CIDRS, ...PRIVATE_CIDRS]);

async function listeners(config: Config, out: Finding[]) {
  const list = [
    ["WebSocket", config.ws.host, config.ws.port, "ws.port (longConnSvr.ports)"],
    ["hub", listenHost(config.rpc.host), config.rpc.port, "rpc.port (rpc.ports)"],
    ["admin/metrics", config.admin.host, config.admin.port, "admin.port (prometheus.ports)"],
  ] as const;
  for (const [area, host, port, key] of list) {
    if (port === 0) {
      out.push({ area, status: "ok", text: `a free port on ${host}, chosen at start${area === "WebSocket" ? "" : " and registered in etcd"}` });
      continue;
    }
    const r = await canBind(host, port);
    const where = joinHostPort(host, port);
    if (r.ok) out.push({ area, status: "ok", text: `${where} is free` });
    else if (r.code === "EADDRINUSE") out.push({ area, status: "warn", text: `${where} is in use: another process holds it (or this gateway, already running)` });
    else if (r.code === "EADDRNOTAVAIL")
      out.push({ area, status: "fail", kind: "config", text: `${host} is not an address of this machine`, fix: `listen on 0.0.0.0 or one of ${localAddresses().map((a) => a.address).join(", ")}` });
    else if (r.code === "EACCES")
      out.push({ area, status: "fail", kind: "config", text: `${where} needs privileges to bind`, fix: `pick a port above 1024 for ${key}, or grant CAP_NET_BIND_SERVICE` });
    else out.push({ area, status: "fail", kind: "config", text: `cannot listen on ${where}: ${r.code}`, fix: `check ${key}` });
  }
}

/** The address the gateway registers must reach the hub's listen address: tried with a real listener and a real dial. */
async function hubAddress(config: Config, out: Finding[], timeoutMs: number) {
  let ip: string;
  try {
    ip = registerAddress(config);
  } catch (e) {
    out.push({ area: "hub address", status: "fail", kind: "config", text: (e as Error).message });
    return;
  }
  const host = listenHost(config.rpc.host);
  if (!isLocalAddress(ip)) {
    out.push({ area: "hub address", status: "warn", text: `registers ${ip}, which is not an address of this machine (a NAT or load balancer?): it must forward to the hub port` });
    return;
  }
  const probe = createServer();
  const bound = await new Promise<number | undefined>((resolve) => {
    probe.once("error", () => resolve(undefined));
    probe.listen({ host, port: 0 }, () => resolve((probe.address() as { port: number }).port));
  });
  if (bound === undefined) return; // the listener check above already said why
  const r = await tcpReach(ip, bound, timeoutMs);
  probe.close();
  if (r.ok) out.push({ area: "hub address", status: "ok", text: `listens on ${isWildcard(config.rpc.host) ? `${host} (all interfaces)` : host}, registers ${ip}: a test listener there was reached at ${ip}` });
  else out.push({ area: "hub address", status: "fail", kind: "config", text: `a test listener on ${host} was not reached at ${ip} (${r.error})`, fix: `set listenIP to 0.0.0.0, or rpc.registerIP to an address the hub listens on` });
}

async function etcdServices(config: Config, out: Finding[], timeoutMs: number) {
  const { rootDirectory: root, address, username, password } = config.discovery.etcd;
  const etcd = createEtcd({ endpoints: address, username: username || undefined, password: password || undefined, timeoutMs });
  let keys: string[];
  try {
    keys = (await etcd.list(`${root}/`)).map((kv) => kv.key);
  } catch (e) {
    out.push({
      area: "etcd", status: "fail", kind: "dependency", text: `${address.join(", ")} did not answer: ${(e as Error).message}`,
      fix: "start etcd, or correct discovery.yml etcd.address (and username/password)",
    });
    return;
  }
  out.push({ area: "etcd", status: "ok", text: `${address.join(", ")} answered; ${keys.length} keys under ${root}/` });
  const byName = new Map<string, string[]>();
  for (const k of keys) {
    const [name, ...rest] = k.slice(root.length + 1).split("/");
    const addr = rest.join("/");
    if (!name || !/^[^/]+:\d+$/.test(addr)) continue;
    byName.set(name, [...(byName.get(name) ?? []), addr]);
  }
  for (const svc of SERVICES) {
    if (config.openim[svc]) continue;
    const name = config.discovery.rpcService[svc];
    const found = byName.get(name) ?? [];
    if (found.length === 0) {
      const other = LINE_NAMES[svc].find((n) => n !== name && byName.has(n));
      out.push({
        area: `OpenIM ${svc}`, status: "fail", kind: other ? "config" : "dependency", text: `no instance registered under ${root}/${name}/`,
        fix: other
          ? `your OpenIM registers it as ${root}/${other}/ (the other release line's name): set discovery.yml rpcService.${svc} (main) or share.yml rpcRegisterName.${svc} (v3.8.3) to "${other}"`
          : `start OpenIM's ${svc} service, or check that it uses this etcd and root "${root}"`,
      });
      continue;
    }
    for (const a of found) await dial(svc, a, `${root}/${name}/${a}`, out, timeoutMs);
  }
  const gw = config.discovery.rpcService.messageGateway;
  const peers = byName.get(gw) ?? [];
  out.push({ area: "gateways", status: "ok", text: peers.length ? `${peers.length} registered under ${root}/${gw}/: ${peers.join(", ")}` : `none registered under ${root}/${gw}/ yet` });
  for (const a of peers) {
    const r = await grpcProbe(a, PROBE_METHOD.messageGateway, timeoutMs);
    if (!r.ok) out.push({ area: "gateways", status: "warn", text: `${a} is registered but does not answer (${r.error}); its key goes when its lease ends` });
  }
}

async function dial(svc: (typeof SERVICES)[number], addr: string, source: string, out: Finding[], timeoutMs: number) {
  const area = `OpenIM ${svc}`;
  const r = await grpcProbe(addr, PROBE_METHOD[svc], timeoutMs);
  if (r.ok) out.push({ area, status: "ok", text: `${addr} answers gRPC (${r.ms} ms)` });
  else out.push({ area, status: "fail", kind: "dependency", text: `${addr} (${source}) does not answer: ${r.error}`, fix: `check that the service runs and that this machine can reach ${addr}` });
}

/** PostgreSQL answers, and what the start will do with its schema (nothing, migrate, or refuse a newer one). */
async function postgres(config: Config, out: Finding[], timeoutMs: number) {
  const where = redactedUrl(config.postgres.url);
  const p = await postgresSchema(config.postgres.url, timeoutMs);
  if (!p.ok)
    return void out.push({ area: "postgres", status: "fail", kind: "dependency", text: `${where}: ${p.error}`, fix: "start PostgreSQL, create the database, or correct postgres.url" });
  const text = `${where} answers in ${p.ms} ms; imgate schema version ${p.version}`;
  if (p.version > PG_SCHEMA_VERSION)
    out.push({ area: "postgres", status: "fail", kind: "config", text: `${text}, newer than this imgate knows (${PG_SCHEMA_VERSION})`, fix: "run the imgate that wrote it" });
  else if (p.version < PG_SCHEMA_VERSION)
    out.push({ area: "postgres", status: "ok", text: `${text}: ${p.version === 0 ? "the tables will be created" : "it will be migrated"} at start (to ${PG_SCHEMA_VERSION}, one transaction)` });
  else out.push({ area: "postgres", status: "ok", text: `${text} (current)` });
}

async function redis(config: Config, out: Finding[], timeoutMs: number) {
  const r = config.redis;
  const auth = { username: r.username || undefined, password: r.password || undefined, db: r.db };
  const ping = async (area: string, addr: string, label = addr) => {
    const p = await redisPing(addr, auth, timeoutMs);
    if (p.ok) out.push({ area, status: "ok", text: `${label} answered PING (${p.ms} ms)` });
    else
      out.push({
        area, status: "fail", kind: /WRONGPASS|NOAUTH|password/i.test(p.error) ? "config" : "dependency",
        text: `${label}: ${p.error}`, fix: /WRONGPASS|NOAUTH|password/i.test(p.error) ? "check redis.yml username/password" : "start Redis, or correct redis.yml address",
      });
  };
  if (r.url) return ping("redis", r.url, redactedUrl(r.url));
  if (r.redisMode === "sentinel") {
    const { masterName, sentinelsAddrs, routeByLatency, routeRandomly } = r.sentinelMode;
    let master: string | undefined;
    for (const s of sentinelsAddrs) {
      const p = await sentinelMaster(s, masterName, timeoutMs);
      if (!p.ok) out.push({ area: "redis sentinel", status: "fail", kind: "dependency", text: `${s}: ${p.error}`, fix: "start the sentinel, or correct redis.yml sentinelMode.sentinelsAddrs" });
      else if (!p.master)
        out.push({ area: "redis sentinel", status: "fail", kind: "config", text: `${s} does not monitor a master named "${masterName}"`, fix: "set redis.yml sentinelMode.masterName to the name in the sentinels' `sentinel monitor` line" });
      else {
        out.push({ area: "redis sentinel", status: "ok", text: `${s} names ${p.master} as master of "${masterName}"` });
        master ??= p.master;
      }
    }
    if (master) await ping("redis", master, `master ${master}`);
    if (routeByLatency || routeRandomly)
      out.push({ area: "redis sentinel", status: "ok", text: "routeByLatency/routeRandomly are read but reads stay on the master (a lagging replica could undo a status change)" });
    return;
  }
  if (r.address.length === 0) return;
  if (r.redisMode === "cluster") {
    for (const a of r.address) {
      const p = await clusterState(a, auth, timeoutMs);
      if (!p.ok) continue;
      if (p.state === "ok") out.push({ area: "redis cluster", status: "ok", text: `${a}: cluster_state ok` });
      else out.push({ area: "redis cluster", status: "fail", kind: "dependency", text: `${a}: cluster_state ${p.state}`, fix: "repair the cluster (redis-cli --cluster check)" });
      return;
    }
    out.push({ area: "redis cluster", status: "fail", kind: "dependency", text: `none of ${r.address.join(", ")} answered`, fix: "start the cluster, or correct redis.yml address" });
    return;
  }
  await ping("redis", r.address[0]!);
}

/** The data dir must be writable; a secret kept there must be readable by this user alone. */
function storage(config: Config, out: Finding[]) {
  const dir = config.dataDir;
  try {
    // A check changes nothing: a missing data dir is tried through its nearest existing parent.
    let existing = resolve(dir);
    while (!existsSync(existing)) existing = dirname(existing);
    if (!statSync(existing).isDirectory()) throw Object.assign(new Error("not a directory"), { code: `ENOTDIR (${existing} is a file)` });
    const probe = join(existing, `.imgate-doctor-${process.pid}`);
    writeFileSync(probe, "");
    rmSync(probe);
    out.push({ area: "data dir", status: "ok", text: existing === resolve(dir) ? `${dir} is writable` : `${dir} will be created (${existing} is writable)` });
  } catch (e) {
    out.push({ area: "data dir", status: "fail", kind: "config", text: `${dir} is not writable: ${(e as NodeJS.ErrnoException).code ?? e}`, fix: "point dataDir (--data-dir) at a directory this user owns" });
    return;
  }
  schema(dir, out);
  if (config.secret) {
    out.push({ area: "secret", status: "ok", text: "set in the config" });
    return;
  }
  const file = join(dir, SECRET_FILE);
  if (!existsSync(file)) {
    out.push({ area: "secret", status: "ok", text: `none yet: generated in ${file} (mode 600) at first start` });
    return;
  }
  const mode = statSync(file).mode & 0o777;
  try {
    accessSync(file, constants.R_OK);
  } catch {
    out.push({ area: "secret", status: "fail", kind: "config", text: `${file} is not readable by this user`, fix: `run as its owner, or chown it` });
    return;
  }
  if (mode & 0o077)
    out.push({ area: "secret", status: "fail", kind: "config", text: `${file} has mode ${mode.toString(8)}: others on this machine can read the token secret`, fix: `chmod 600 ${file}` });
  else out.push({ area: "secret", status: "ok", text: `${file} (mode ${mode.toString(8)})` });
}
