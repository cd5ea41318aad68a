// Reading OpenIM's own config folder (§8.1): openim-msggateway.yml, share.yml, redis.yml, webhooks.yml and
// discovery.yml, with OpenIM's IMENV_<FILE>_<KEY_PATH> environment overrides, mapped onto our keys. Keys of
// these files that the gateway does not use are ignored (the files serve every OpenIM service).
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { ConfigError } from "./load.js";

type Doc = Record<string, unknown>;

/** Case-insensitive lookup of a dotted path, as viper does. */
function get(doc: Doc | undefined, path: string): unknown {
  let cur: unknown = doc;
  for (const part of path.split(".")) {
    if (typeof cur !== "object" || cur === null) return undefined;
    const key = Object.keys(cur).find((k) => k.toLowerCase() === part.toLowerCase());
    if (key === undefined) return undefined;
    cur = (cur as Doc)[key];
  }
  return cur;
}

/** IMENV_OPENIM_MSGGATEWAY_LONGCONNSVR_PORTS for file "openim-msggateway", path "longConnSvr.ports". */
export function imenvName(file: string, path: string): string {
  return `IMENV_${file.replace(/-/g, "_")}_${path.replace(/\./g, "_")}`.toUpperCase();
}

/** Our key → [OpenIM file, key path, kind]. */
const MAP: [string, string, string, "int" | "string" | "bool" | "list" | "firstInt"][] = [
  ["ws.port", "openim-msggateway", "longConnSvr.ports", "firstInt"],
  ["ws.maxConnections", "openim-msggateway", "longConnSvr.websocketMaxConnNum", "int"],
  ["ws.maxFrameBytes", "openim-msggateway", "longConnSvr.websocketMaxMsgLen", "int"],
  ["ws.handshakeTimeoutSeconds", "openim-msggateway", "longConnSvr.websocketTimeout", "int"],
  ["rpc.registerIP", "openim-msggateway", "rpc.registerIP", "string"],
  ["rpc.host", "openim-msggateway", "rpc.listenIP", "string"],
  ["secret", "share", "secret", "string"],
  ["imAdminUser.userIDs", "share", "imAdminUser.userIDs", "list"],
  ["multiLogin.policy", "share", "multiLogin.policy", "int"],
  ["redis.address", "redis", "address", "list"],
  ["redis.username", "redis", "username", "string"],
  ["redis.password", "redis", "password", "string"],
  ["redis.redisMode", "redis", "redisMode", "string"],
  ["redis.db", "redis", "db", "int"],
  ["webhooks.url", "webhooks", "url", "string"],
  ...(["afterUserOnline", "afterUserOffline", "afterUserKickOff"] as const).flatMap((h) => [
    [`webhooks.${h}.enable`, "webhooks", `${h}.enable`, "bool"],
    [`webhooks.${h}.timeout`, "webhooks", `${h}.timeout`, "int"],
  ] as [string, string, string, "bool" | "int"][]),
  ["discovery.enable", "discovery", "enable", "string"],
  ["discovery.etcd.rootDirectory", "discovery", "etcd.rootDirectory", "string"],
  ["discovery.etcd.address", "discovery", "etcd.address", "list"],
  ["discovery.etcd.username", "discovery", "etcd.username", "string"],
  ["discovery.etcd.password", "discovery", "etcd.password", "string"],
  ...(["auth", "msg", "push", "user", "messageGateway"] as const).map((k) =>
    [`discovery.rpcService.${k}`, "discovery", `rpcService.${k}`, "string"] as [string, string, string, "string"]),
];

/** Our settings from an OpenIM config folder; `index` picks the element of port lists (OpenIM's -i). */
export function fromOpenIMFolder(dir: string, index: number, env: Record<string, string | undefined>): Record<string, unknown> {
  const docs = new Map<string, Doc>();
  for (const file of new Set(MAP.map((m) => m[1]))) {
    const path = join(dir, `${file}.yml`);
    if (!existsSync(path)) continue;
    try {
      docs.set(file, (parseYaml(readFileSync(path, "utf8")) ?? {}) as Doc);
    } catch (e) {
      throw new ConfigError(`OpenIM config ${path} is not valid YAML: ${(e as Error).message.split("\n")[0]}`);
    }
  }
  if (docs.size === 0) throw new ConfigError(`no OpenIM config files (openim-msggateway.yml, share.yml, …) in ${dir}`);
  const out: Record<string, unknown> = {};
  for (const [ours, file, path, kind] of MAP) {
    const fromEnv = env[imenvName(file, path)];
    let v: unknown = fromEnv !== undefined ? fromEnv : get(docs.get(file), path);
    if (v === undefined) continue;
    // A key present but empty ("listenIP:") is the empty string for text settings, absent otherwise.
    if (v === null) {
      if (kind !== "string") continue;
      v = "";
    }
    const where = fromEnv !== undefined ? imenvName(file, path) : `${path} in ${join(dir, file + ".yml")}`;
    const list = (x: unknown) => (Array.isArray(x) ? x : String(x).split(/[,\s]+/).filter(Boolean));
    switch (kind) {
      case "firstInt": {
        const ports = list(v).map(Number);
        v = ports[index] ?? ports[0];
        if (!Number.isInteger(v)) throw new ConfigError(`${where} must list ports, got ${JSON.stringify(ports)}`);
        break;
      }
      case "int":
        v = Number(v);
        if (!Number.isInteger(v)) throw new ConfigError(`${where} must be an integer`);
        break;
      case "bool":
        v = typeof v === "boolean" ? v : String(v).toLowerCase() === "true";
        break;
      case "list":
        v = list(v).map(String);
        break;
      case "string":
        v = String(v);
        break;
    }
    // OpenIM's empty listen IP means all interfaces; ours is an explicit address.
    if (ours === "rpc.host" && v === "") v = "0.0.0.0";
    out[ours] = v;
  }
  // Kubernetes discovery is OpenIM's other mode; without etcd we fall back to static addresses.
  if (out["discovery.enable"] !== "etcd") delete out["discovery.enable"];
  out.shape = "openim";
  return out;
}
