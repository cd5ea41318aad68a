// Reading OpenIM's own config folder (§8.1), as OpenIM's msggateway reads it: the five files it loads
// (openim-msggateway.yml, share.yml, redis.yml, webhooks.yml, discovery.yml), each key overridable by
// IMENV_<FILE>_<KEY_PATH>, weakly typed as viper decodes them. Both release lines are understood:
//   main (tools v0.0.50-alpha.117): service names in discovery.yml rpcService.*, admins in share.yml
//     imAdminUser.userIDs, Sentinel in redis.yml sentinelMode.*;
//   v3.8.3-patch (tools v0.0.50-alpha.113): service names in share.yml rpcRegisterName.*, admins in a flat
//     share.yml imAdminUserID, no rpcService and no sentinelMode.
// A key of one line is used where the other line's key is absent; both present with different values is an error.
// Keys the gateway does not use are ignored (the files serve every OpenIM service).
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { ConfigError } from "./errors.js";
import type { Kind } from "./schema.js";
import { weakDecode } from "./values.js";

type Doc = Record<string, unknown>;


export const OPENIM_FILES = ["openim-msggateway", "share", "redis", "webhooks", "discovery"] as const;
type OpenIMFile = (typeof OPENIM_FILES)[number];

export type OpenIMLine = "main" | "v3.8.3" | "mixed";

/** One OpenIM key (or IMENV variable) that set one of our settings: what `imgate doctor` prints. */
export interface MappingRow {
  openim: string;
  ours: string;
  value: unknown;
  note?: string;
}

export interface OpenIMReading {
  dir: string;
  index: number;
  line: OpenIMLine;
  /** Our dotted keys → values. */
  settings: Record<string, unknown>;
  mapping: MappingRow[];
}

/** IMENV_OPENIM_MSGGATEWAY_LONGCONNSVR_PORTS for file "openim-msggateway", path "longConnSvr.ports". */
export function imenvName(file: string, path: string): string {
  return `IMENV_${file.replace(/-/g, "_")}_${path.replace(/\./g, "_")}`.toUpperCase();
}

/** Case-insensitive lookup of a dotted path, as viper does; `has` tells a present-but-empty key from a missing one. */
function lookup(doc: Doc | undefined, path: string): { has: boolean; value: unknown } {
  let cur: unknown = doc;
  for (const part of path.split(".")) {
    if (typeof cur !== "object" || cur === null || Array.isArray(cur)) return { has: false, value: undefined };
    const key = Object.keys(cur).find((k) => k.toLowerCase() === part.toLowerCase());
    if (key === undefined) return { has: false, value: undefined };
    cur = (cur as Doc)[key];
  }
  return { has: true, value: cur };
}

/** The files of one folder, with IMENV_* overrides, read key by key. */
function openFolder(dir: string, env: Record<string, string | undefined>) {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new ConfigError(`OpenIM config folder ${dir} does not exist`);
  const docs = new Map<OpenIMFile, Doc>();
  for (const file of OPENIM_FILES) {
    const path = join(dir, `${file}.yml`);
    if (!existsSync(path))
      throw new ConfigError(`${path} is missing: OpenIM's msggateway reads ${OPENIM_FILES.map((f) => f + ".yml").join(", ")} at start, and so does imgate (copy it from OpenIM's config/ folder)`);
    let doc: unknown;
    try {
      doc = parseYaml(readFileSync(path, "utf8"));
    } catch (e) {
      throw new ConfigError(`${path} is not valid YAML: ${(e as Error).message.split("\n")[0]}`);
    }
    if (doc != null && (typeof doc !== "object" || Array.isArray(doc))) throw new ConfigError(`${path} must hold a mapping of keys`);
    docs.set(file, (doc ?? {}) as Doc);
  }
  return {
    /** A key's value (undefined when absent) and where it came from, for messages and the mapping table. */
    read(file: OpenIMFile, path: string, kind: Kind): { value: any; where: string } | undefined {
      const name = imenvName(file, path);
      const fromEnv = env[name];
      if (fromEnv !== undefined) return { value: weakDecode(kind, fromEnv, `environment variable ${name}`), where: name };
      const { has, value } = lookup(docs.get(file), path);
      if (!has) return undefined;
      const where = `${file}.yml ${path}`;
      // A present-but-empty key ("registerIP:") is "" for text, [] for lists, and absent for numbers and switches.
      if (value === null && (kind === "int" || kind === "bool")) return undefined;
      return { value: weakDecode(kind, value, `${join(dir, file + ".yml")}: ${path}`), where };
    },
    has(file: OpenIMFile, path: string): boolean {
      return lookup(docs.get(file), path).has || env[imenvName(file, path)] !== undefined;
    },
  };
}

const SERVICES = ["auth", "msg", "push", "user", "messageGateway"] as const;
const REDIS_MODES = ["standalone", "cluster", "sentinel"];

/** Our settings from an OpenIM config folder; `index` picks the element of port lists (OpenIM's -i). Long because it
 *  is a table: one short read per OpenIM key, in the order of OpenIM's files. */
export function readOpenIMFolder(dir: string, index: number, env: Record<string, string | undefined>): OpenIMReading {
  const f = openFolder(dir, env);
  const settings: Record<string, unknown> = { shape: "openim" };
  const mapping: MappingRow[] = [];
  const put = (ours: string, from: { value: unknown; where: string } | string, value?: unknown, note?: string) => {
    const v = typeof from === "string" ? value : value === undefined ? from.value : value;
    settings[ours] = v;
    mapping.push({ openim: typeof from === "string" ? from : from.where, ours, value: v, ...(note ? { note } : {}) });
  };
  const file = (name: OpenIMFile) => join(dir, `${name}.yml`);
  /** ports[index], as OpenIM's datautil.GetElemByIndex: past the end is an error, not the first port. */
  const pick = (r: { value: number[]; where: string }, fileName: OpenIMFile, path: string): number => {
    const p = r.value[index];
    if (p === undefined)
      throw new ConfigError(`${file(fileName)}: ${path} has ${r.value.length} entr${r.value.length === 1 ? "y" : "ies"}, so -i ${index} has no port (OpenIM refuses this index too)`);
    if (p < 0 || p > 65535) throw new ConfigError(`${file(fileName)}: ${path}[${index}] must be a port number, got ${p}`);
    return p;
  };

  // ---- WebSocket edge: longConnSvr.* -------------------------------------------------------------------
  const wsPorts = f.read("openim-msggateway", "longConnSvr.ports", "int[]");
  if (!wsPorts || wsPorts.value.length === 0) throw new ConfigError(`${file("openim-msggateway")}: longConnSvr.ports must list the WebSocket ports`);
  put("ws.port", wsPorts, pick(wsPorts, "openim-msggateway", "longConnSvr.ports"), `element ${index} (-i ${index})`);
  for (const [path, ours] of [
    ["longConnSvr.websocketMaxConnNum", "ws.maxConnections"],
    ["longConnSvr.websocketMaxMsgLen", "ws.maxFrameBytes"],
    ["longConnSvr.websocketTimeout", "ws.handshakeTimeoutSeconds"],
  ] as const) {
    const r = f.read("openim-msggateway", path, "int");
    if (r) put(ours, r);
  }

  // ---- discovery.yml -----------------------------------------------------------------------------------
  const enable = f.read("discovery", "enable", "string");
  const mode = enable?.value ?? "";
  if (mode === "etcd") put("discovery.enable", enable!);
  else if (["k8s", "kubernetes", ""].includes(mode))
    mapping.push({ openim: enable?.where ?? "discovery.yml enable", ours: "discovery.enable", value: "", note: `"${mode}": imgate registers only in etcd; give openim.auth/msg/push/user addresses instead` });
  else throw new ConfigError(`${file("discovery")}: enable "${mode}" is not a discovery OpenIM supports (etcd, or kubernetes)`);
  for (const [path, kind] of [["etcd.rootDirectory", "string"], ["etcd.address", "string[]"], ["etcd.username", "string"], ["etcd.password", "string"]] as const) {
    const r = f.read("discovery", path, kind);
    if (r) put(`discovery.${path}`, r, undefined);
  }
  const etcd = mode === "etcd";

  // ---- service names and admins: main's keys, else the release line's --------------------------------
  const either = (ours: string, mainKey: [OpenIMFile, string], oldKey: [OpenIMFile, string], kind: Kind) => {
    const a = f.read(mainKey[0], mainKey[1], kind);
    const b = f.read(oldKey[0], oldKey[1], kind);
    if (a && b && JSON.stringify(a.value) !== JSON.stringify(b.value))
      throw new ConfigError(`${a.where} (${JSON.stringify(a.value)}, OpenIM main) and ${b.where} (${JSON.stringify(b.value)}, v3.8.3) disagree: keep the one your OpenIM release reads`);
    const r = a ?? b;
    if (r) put(ours, r);
  };
  for (const s of SERVICES) either(`discovery.rpcService.${s}`, ["discovery", `rpcService.${s}`], ["share", `rpcRegisterName.${s}`], "string");
  either("imAdminUser.userIDs", ["share", "imAdminUser.userIDs"], ["share", "imAdminUserID"], "string[]");
  const hasMain = f.has("discovery", "rpcService") || f.has("share", "imAdminUser");
  const hasOld = f.has("share", "rpcRegisterName") || f.has("share", "imAdminUserID");
  const line: OpenIMLine = hasOld && !hasMain ? "v3.8.3" : hasMain && hasOld ? "mixed" : "main";

  // ---- hub: where it listens, what it registers, which ports -------------------------------------------
  // v3.8.3 passes the top-level listenIP to its RPC server; main's file has only the top-level key too.
  const listen = f.read("openim-msggateway", "listenIP", "string") ?? f.read("openim-msggateway", "rpc.listenIP", "string");
  const host = listen?.value ? listen.value : "0.0.0.0";
  if (listen) put("rpc.host", listen, host, listen.value ? undefined : "empty: all interfaces");
  else mapping.push({ openim: "openim-msggateway.yml listenIP (absent)", ours: "rpc.host", value: (settings["rpc.host"] = host), note: "all interfaces, as OpenIM" });
  const registerIP = f.read("openim-msggateway", "rpc.registerIP", "string");
  if (registerIP) put("rpc.registerIP", registerIP, undefined, registerIP.value ? undefined : "empty: this machine's first private IPv4, as OpenIM");
  const auto = f.read("openim-msggateway", "rpc.autoSetPorts", "bool");
  const promEnable = f.read("openim-msggateway", "prometheus.enable", "bool");
  const prometheus = promEnable?.value !== false;
  if (auto?.value) {
    if (!etcd) throw new ConfigError(`${file("openim-msggateway")}: rpc.autoSetPorts: true needs discovery.yml enable: etcd (free ports are found only through etcd; OpenIM refuses this too)`);
    put("rpc.port", auto, 0, "a free port, registered in etcd");
    put("admin.port", auto, 0, "a free port for /metrics, registered under prometheus_discovery");
  } else {
    const rpcPorts = f.read("openim-msggateway", "rpc.ports", "int[]");
    if (!rpcPorts || rpcPorts.value.length === 0)
      throw new ConfigError(`${file("openim-msggateway")}: rpc.autoSetPorts is false, so rpc.ports must list the hub ports`);
    put("rpc.port", rpcPorts, pick(rpcPorts, "openim-msggateway", "rpc.ports"), `element ${index}`);
    const promPorts = f.read("openim-msggateway", "prometheus.ports", "int[]");
    if (prometheus && promPorts && promPorts.value.length > 0)
      put("admin.port", promPorts, pick(promPorts, "openim-msggateway", "prometheus.ports"), `element ${index}: /metrics, /healthz, /readyz`);
  }
  // OpenIM's Prometheus is scraped from other hosts: the metrics port listens where the hub does.
  if (prometheus)
    mapping.push({ openim: listen?.where ?? "openim-msggateway.yml listenIP (absent)", ours: "admin.host", value: (settings["admin.host"] = host), note: "where OpenIM's metrics listen" });
  if (etcd && prometheus) {
    const gw = (settings["discovery.rpcService.messageGateway"] as string | undefined) ?? "messagegateway-rpc-service";
    const root = (settings["discovery.etcd.rootDirectory"] as string | undefined) ?? "openim";
    // tools alpha.113 (v3.8.3) writes the literal "openim/…" key; alpha.117 (main) puts it under rootDirectory.
    const key = `${line === "v3.8.3" ? "openim" : root}/prometheus_discovery/${gw}/${index}`;
    put("discovery.prometheusKey", promEnable ?? "prometheus.enable (absent)", key, "target = registerIP:admin port");
  }

  // ---- share.yml ----------------------------------------------------------------------------------------
  const secret = f.read("share", "secret", "string");
  if (secret) put("secret", secret);
  const policy = f.read("share", "multiLogin.policy", "int");
  if (policy) put("multiLogin.policy", policy);

  // ---- redis.yml -------------------------------------------------------------------------------------------
  for (const [path, ours, kind] of [
    ["address", "redis.address", "string[]"], ["username", "redis.username", "string"], ["password", "redis.password", "string"],
    ["db", "redis.db", "int"], ["sentinelMode.masterName", "redis.sentinelMode.masterName", "string"],
    ["sentinelMode.sentinelsAddrs", "redis.sentinelMode.sentinelsAddrs", "string[]"],
    ["sentinelMode.routeByLatency", "redis.sentinelMode.routeByLatency", "bool"],
    ["sentinelMode.routeRandomly", "redis.sentinelMode.routeRandomly", "bool"],
  ] as const) {
    const r = f.read("redis", path, kind);
    if (r) put(ours, r);
  }
  const redisMode = f.read("redis", "redisMode", "string");
  if (redisMode) {
    const m = redisMode.value || "standalone";
    if (!REDIS_MODES.includes(m)) throw new ConfigError(`${file("redis")}: redisMode "${m}" is not one of ${REDIS_MODES.join(", ")}`);
    put("redis.redisMode", redisMode, m);
    if (m === "sentinel" && (!settings["redis.sentinelMode.masterName"] || !(settings["redis.sentinelMode.sentinelsAddrs"] as string[] | undefined)?.length))
      throw new ConfigError(`${file("redis")}: redisMode "sentinel" needs sentinelMode.masterName and sentinelMode.sentinelsAddrs (OpenIM main's keys; v3.8.3 has no Sentinel support and would connect to address[0] directly: use redisMode: standalone there)`);
  }

  // ---- webhooks.yml -------------------------------------------------------------------------------------------
  const url = f.read("webhooks", "url", "string");
  if (url) put("webhooks.url", url);
  for (const h of ["afterUserOnline", "afterUserOffline", "afterUserKickOff"] as const) {
    const en = f.read("webhooks", `${h}.enable`, "bool");
    if (en) put(`webhooks.${h}.enable`, en);
    const t = f.read("webhooks", `${h}.timeout`, "int");
    if (t) put(`webhooks.${h}.timeout`, t);
  }
  return { dir, index, line, settings, mapping };
}
