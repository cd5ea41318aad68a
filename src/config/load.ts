import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { redactedUrl } from "./url.js";
import { type Config, type KeySpec, defaultConfig, keys, openimKeys, secretPaths } from "./schema.js";
import { ConfigError } from "./errors.js";
import { readOpenIMFolder } from "./openim.js";
import { splitHostPort } from "./host-port.js";
import { getPath, setPath } from "./path.js";
import { KIND_TEXT, weakDecode } from "./values.js";
import { redisConfigured } from "./redis.js";
import { traitsOf } from "./shapes.js";

export { ConfigError };

export interface ConfigSources {
  /** Path of a YAML file; its keys are our own layout or OpenIM's names. */
  file?: string;
  /** Environment; IMGATE_* variables are read. */
  env?: Record<string, string | undefined>;
  /** Already-mapped overrides from CLI flags: dotted path → raw string or value. */
  flags?: Record<string, unknown>;
  /** An OpenIM config folder (openim-msggateway.yml, share.yml, …), read below our own file; implies shape openim. */
  openimDir?: string;
  openimIndex?: number;
}

const byPath = new Map<string, KeySpec>([...keys, ...openimKeys].map((k) => [k.path, k]));

/** Environment variable name for a dotted key: ws.maxConnections → IMGATE_WS_MAX_CONNECTIONS. */
export function envName(path: string): string {
  return (
    "IMGATE_" +
    path
      .split(".")
      .map((p) => p.replace(/([a-z0-9])([A-Z])/g, "$1_$2").replace(/([A-Z])([A-Z][a-z]{2,})/g, "$1_$2"))
      .join("_")
      .toUpperCase()
  );
}

const envToPath = new Map(keys.map((k) => [envName(k.path), k.path]));
/** Env vars that are not config keys but are ours. */
const envNonKeys = new Set(["IMGATE_CONFIG", "IMGATE_WORKER", "IMGATE_TEST_LOG"]);

/** Defaults, then the file, then IMGATE_* env, then flags; each value checked against the key table. */
export function loadConfig(src: ConfigSources = {}): Config {
  const cfg = defaultConfig();
  let fileSetShape = false;
  if (src.openimDir) {
    const openim = readOpenIMFolder(src.openimDir, src.openimIndex ?? 0, src.env ?? {});
    const from = new Map(openim.mapping.map((m) => [m.ours, m.openim]));
    for (const [path, v] of Object.entries(openim.settings)) {
      const spec = byPath.get(path);
      if (spec) setPath(cfg, path, checked(spec, v, `${from.get(path) ?? path} in ${src.openimDir} (imgate's ${path})`));
    }
  }
  if (src.file) fileSetShape = applyFile(cfg, src.file).has("shape");
  for (const [name, raw] of Object.entries(src.env ?? {})) {
    if (!name.startsWith("IMGATE_") || raw === undefined || envNonKeys.has(name)) continue;
    const path = envToPath.get(name);
    if (!path) throw new ConfigError(`unknown environment variable ${name}`);
    setPath(cfg, path, fromString(byPath.get(path)!, raw, `environment variable ${name}`));
  }
  for (const [path, raw] of Object.entries(src.flags ?? {})) {
    if (raw === undefined) continue;
    const spec = byPath.get(path);
    if (!spec) throw new ConfigError(`unknown setting ${path}`);
    const v = typeof raw === "string" ? fromString(spec, raw, `flag for ${path}`) : checked(spec, raw, `flag for ${path}`);
    setPath(cfg, path, v);
  }
  // `--redis` alone means a cluster node, as operators start them; an explicit shape wins.
  const shapeSet = fileSetShape || src.openimDir !== undefined || src.flags?.shape !== undefined || src.env?.[envName("shape")] !== undefined;
  if (!shapeSet && redisConfigured(cfg)) cfg.shape = "cluster";
  validate(cfg);
  return cfg;
}

/** Applies a YAML file; returns the paths it set. */
function applyFile(cfg: Config, file: string): Set<string> {
  const applied = new Set<string>();
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new ConfigError(`cannot read config file ${file}: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw new ConfigError(`config file ${file} is not valid YAML: ${(e as Error).message.split("\n")[0]}`);
  }
  if (doc == null) return applied;
  if (!isPlainObject(doc)) throw new ConfigError(`config file ${file} must hold a mapping of keys`);
  for (const [path, value] of leaves(doc)) {
    const spec = byPath.get(path);
    if (!spec) throw new ConfigError(`unknown key "${path}" in ${file}`);
    const v = checked(spec, value, `key "${path}" in ${file}`);
    applied.add(path);
    if (spec.to) {
      const [target, mapped] = spec.to(v);
      if (target) setPath(cfg, target, mapped);
    } else {
      setPath(cfg, path, v);
    }
  }
  return applied;
}

function* leaves(obj: Record<string, unknown>, prefix = ""): Generator<[string, unknown]> {
  for (const [k, v] of Object.entries(obj)) {
    const path = prefix ? `${prefix}.${k}` : k;
    // A mapping is descended into unless the table says this path is a leaf (then its type check reports it).
    if (isPlainObject(v) && !byPath.has(path)) yield* leaves(v, path);
    else yield [path, v];
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function typeName(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "number") return Number.isInteger(v) ? "an integer" : "a number";
  if (typeof v === "object") return "a mapping";
  return `a ${typeof v}`;
}

function checked(spec: KeySpec, v: unknown, where: string): unknown {
  let ok: boolean;
  switch (spec.kind) {
    case "string": ok = typeof v === "string"; break;
    case "int": ok = typeof v === "number" && Number.isSafeInteger(v); break;
    case "bool": ok = typeof v === "boolean"; break;
    case "string[]": ok = Array.isArray(v) && v.every((x) => typeof x === "string"); break;
    case "int[]": ok = Array.isArray(v) && v.every((x) => typeof x === "number" && Number.isSafeInteger(x)); break;
  }
  if (!ok) throw new ConfigError(`${where} must be ${KIND_TEXT[spec.kind]}, got ${typeName(v)}`);
  const problem = spec.check?.(v);
  if (problem) throw new ConfigError(`${where} ${problem} (got ${JSON.stringify(v)})`);
  return v;
}

/** An environment variable's text, decoded as viper decodes OpenIM's (lists split on commas), then checked. */
function fromString(spec: KeySpec, raw: string, where: string): unknown {
  const text = spec.kind === "string[]" || spec.kind === "int[]" ? raw.split(",").map((s) => s.trim()).filter(Boolean) : raw;
  return checked(spec, weakDecode(spec.kind, text, where), where);
}

export { redisConfigured };

function validate(cfg: Config): void {
  const ports = [
    ["ws.port", cfg.ws.port],
    ["rpc.port", cfg.rpc.port],
    ["admin.port", cfg.admin.port],
    ["api.listen", splitHostPort(cfg.api.listen)?.port ?? 0],
  ] as const;
  for (let i = 0; i < ports.length; i++)
    for (let j = i + 1; j < ports.length; j++)
      if (ports[i]![1] !== 0 && ports[i]![1] === ports[j]![1])
        throw new ConfigError(`${ports[i]![0]} and ${ports[j]![0]} are both ${ports[i]![1]}: each listener needs its own port`);
  if (cfg.ws.pingPeriodSeconds >= cfg.ws.pongWaitSeconds)
    throw new ConfigError(`ws.pingPeriodSeconds (${cfg.ws.pingPeriodSeconds}) must be below ws.pongWaitSeconds (${cfg.ws.pongWaitSeconds})`);
  if (cfg.ws.maxInflatedBytes < cfg.ws.maxFrameBytes)
    throw new ConfigError(`ws.maxInflatedBytes (${cfg.ws.maxInflatedBytes}) must be at least ws.maxFrameBytes (${cfg.ws.maxFrameBytes})`);
  for (const [name, t] of [["ws", cfg.ws], ["rpc", cfg.rpc]] as const) {
    if (Boolean(t.tlsCert) !== Boolean(t.tlsKey)) throw new ConfigError(`${name}.tlsCert and ${name}.tlsKey go together: set both or neither`);
    for (const f of [t.tlsCert, t.tlsKey]) {
      if (!f) continue;
      try {
        readFileSync(f);
      } catch (e) {
        throw new ConfigError(`cannot read ${name} TLS file ${f}: ${(e as NodeJS.ErrnoException).code ?? e}`);
      }
    }
  }
  if (cfg.presence.renewIntervalSeconds >= cfg.presence.ttlSeconds)
    throw new ConfigError(`presence.renewIntervalSeconds (${cfg.presence.renewIntervalSeconds}) must be below presence.ttlSeconds (${cfg.presence.ttlSeconds})`);
  const etcd = cfg.discovery.enable === "etcd";
  if (etcd && cfg.discovery.etcd.address.length === 0) throw new ConfigError(`discovery.enable "etcd" needs discovery.etcd.address`);
  const s = cfg.redis.sentinelMode;
  if (cfg.redis.redisMode === "sentinel" && !cfg.redis.url && (!s.masterName || s.sentinelsAddrs.length === 0))
    throw new ConfigError(`redis.redisMode "sentinel" needs redis.sentinelMode.masterName and redis.sentinelMode.sentinelsAddrs (redis.yml sentinelMode.*)`);
  const shapeNeeds = traitsOf(cfg).requires(cfg);
  if (shapeNeeds) throw new ConfigError(shapeNeeds);
}

/** The effective config with secrets masked, for `imgate config print`. */
export function maskedConfig(cfg: Config): Config {
  const copy = structuredClone(cfg);
  for (const path of secretPaths) {
    const v = getPath(copy, path);
    if (v) setPath(copy, path, path === "redis.url" || path === "postgres.url" ? redactedUrl(String(v)) : "***");
  }
  return copy;
}
