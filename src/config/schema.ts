// The one typed configuration and its defaults. Every key a file, env var or flag can set is listed in
// `keys` below, so unknown keys and wrong types are caught by one table.

export type Shape = "embedded" | "cluster" | "openim";

export interface Config {
  shape: Shape;
  nodeID: string;
  dataDir: string;
  /** HS256 secret for tokens; empty means "generate one in dataDir on first start". */
  secret: string;
  ws: {
    host: string;
    port: number;
    maxConnections: number;
    /** Largest client frame on the wire (OpenIM's websocketMaxMsgLen, which the reference ignores). */
    maxFrameBytes: number;
    /** Largest client frame after gzip inflate: the gzip-bomb bound. */
    maxInflatedBytes: number;
    handshakeTimeoutSeconds: number;
    pongWaitSeconds: number;
    pingPeriodSeconds: number;
    /** Bytes buffered for one slow socket before it is closed as a slow consumer. */
    slowConsumerBytes: number;
    /** Deadline on every backend call made for a client request. */
    requestTimeoutMs: number;
    /** Requests one connection may have in flight; more close it (clients wait for replies). */
    maxInflightPerConn: number;
    maxSubscriptionsPerConn: number;
    /** Users a large push handles per event-loop turn before letting other traffic through. */
    pushSliceUsers: number;
    /** PEM files; both set = wss:// (TLS) on the WebSocket port. */
    tlsCert: string;
    tlsKey: string;
    /** Limits below: 0 = no limit. Refusals answer 1601 (handshake) or 1650 (request), and count in metrics. */
    maxConnsPerUser: number;
    maxConnsPerIP: number;
    handshakesPerSecond: number;
    requestsPerSecond: number;
    bytesPerSecond: number;
  };
  rpc: {
    host: string;
    port: number;
    /** Bearer token required on the hub and admin API when set. */
    token: string;
    /** Let OpenIM's own services call the msgGateway methods without the token. */
    allowOpenIMWithoutToken: boolean;
    /** PEM files; both set = gRPC over TLS (h2) on the rpc port. */
    tlsCert: string;
    tlsKey: string;
    /** The address registered in etcd (OpenIM's rpc.registerIP); empty = this machine's first non-internal IPv4. */
    registerIP: string;
  };
  admin: { host: string; port: number };
  multiLogin: { policy: number };
  imAdminUser: { userIDs: string[] };
  redis: {
    url: string;
    address: string[];
    username: string;
    password: string;
    redisMode: string;
    db: number;
    /** OpenIM main's redis.yml sentinelMode: the master's name and the sentinels (redisMode "sentinel"). */
    sentinelMode: { masterName: string; sentinelsAddrs: string[]; routeByLatency: boolean; routeRandomly: boolean };
  };
  log: { level: LogLevel; format: "auto" | "json" | "pretty" };
  messages: {
    retentionDays: number;
    maxPerConversation: number;
    /** Embedded store: calls waiting for the store worker beyond which a new one fails at once (500). */
    storeQueueSize: number;
  };
  presence: { shards: number; batchSize: number; mergeIntervalMs: number; renewIntervalSeconds: number; ttlSeconds: number };
  webhooks: {
    url: string;
    queueSize: number;
    retries: number;
    afterUserOnline: { enable: boolean; timeout: number };
    afterUserOffline: { enable: boolean; timeout: number };
    afterUserKickOff: { enable: boolean; timeout: number };
  };
  shutdown: { graceSeconds: number };
  /** The openim shape: addresses (host:port, gRPC h2c) of OpenIM's services and the deadline on each call. */
  openim: { auth: string; msg: string; push: string; user: string; callTimeoutMs: number };
  /** OpenIM's discovery.yml: where the openim shape registers itself and finds services without static addresses. */
  discovery: {
    enable: string;
    etcd: { rootDirectory: string; address: string[]; username: string; password: string };
    rpcService: { auth: string; msg: string; push: string; user: string; messageGateway: string };
    /** Where OpenIM's Prometheus discovery finds this gateway's metrics (written with the registration); empty = none. */
    prometheusKey: string;
  };
}

export type LogLevel = "debug" | "info" | "warn" | "error";

export function defaultConfig(): Config {
  return {
    shape: "embedded",
    nodeID: "",
    dataDir: "./imgate-data",
    secret: "",
    ws: {
      host: "0.0.0.0",
      port: 10001,
      maxConnections: 100_000,
      maxFrameBytes: 51_200,
      maxInflatedBytes: 1 << 20,
      handshakeTimeoutSeconds: 10,
      pongWaitSeconds: 30,
      pingPeriodSeconds: 27,
      slowConsumerBytes: 4 << 20,
      requestTimeoutMs: 10_000,
      maxInflightPerConn: 64,
      maxSubscriptionsPerConn: 3000,
      pushSliceUsers: 256,
      tlsCert: "",
      tlsKey: "",
      maxConnsPerUser: 0,
      maxConnsPerIP: 0,
      handshakesPerSecond: 0,
      requestsPerSecond: 0,
      bytesPerSecond: 0,
    },
    rpc: { host: "127.0.0.1", port: 10140, token: "", allowOpenIMWithoutToken: true, tlsCert: "", tlsKey: "", registerIP: "" },
    admin: { host: "127.0.0.1", port: 12140 },
    multiLogin: { policy: 1 },
    imAdminUser: { userIDs: ["imAdmin"] },
    redis: {
      url: "", address: [], username: "", password: "", redisMode: "standalone", db: 0,
      sentinelMode: { masterName: "", sentinelsAddrs: [], routeByLatency: false, routeRandomly: false },
    },
    log: { level: "info", format: "auto" },
    messages: { retentionDays: 0, maxPerConversation: 0, storeQueueSize: 10_000 },
    presence: { shards: 4, batchSize: 100, mergeIntervalMs: 1000, renewIntervalSeconds: 600, ttlSeconds: 1800 },
    webhooks: {
      url: "",
      queueSize: 1000,
      retries: 2,
      afterUserOnline: { enable: false, timeout: 5 },
      afterUserOffline: { enable: false, timeout: 5 },
      afterUserKickOff: { enable: false, timeout: 5 },
    },
    shutdown: { graceSeconds: 10 },
    openim: { auth: "", msg: "", push: "", user: "", callTimeoutMs: 5000 },
    discovery: {
      enable: "",
      etcd: { rootDirectory: "openim", address: [], username: "", password: "" },
      rpcService: { auth: "auth-rpc-service", msg: "msg-rpc-service", push: "push-rpc-service", user: "user-rpc-service", messageGateway: "messagegateway-rpc-service" },
      prometheusKey: "",
    },
  };
}

type Kind = "string" | "int" | "bool" | "string[]" | "int[]";

export interface KeySpec {
  /** Dotted path in our own layout. */
  path: string;
  kind: Kind;
  /** Extra check on the parsed value; returns an error text or undefined. */
  check?: (v: any) => string | undefined;
  secret?: boolean;
  /** Maps a value given under an OpenIM key name onto our layout. */
  to?: (v: any) => [path: string, value: unknown];
  help?: string;
}

const port = (v: number) => (v >= 0 && v <= 65535 ? undefined : "must be a port number 0..65535");
const positive = (v: number) => (v > 0 ? undefined : "must be > 0");
const nonNegative = (v: number) => (v >= 0 ? undefined : "must be >= 0");
const oneOf = (...xs: (string | number)[]) => (v: string | number) =>
  xs.includes(v) ? undefined : `must be one of ${xs.join(", ")}`;

export const keys: KeySpec[] = [
  { path: "shape", kind: "string", check: oneOf("embedded", "cluster", "openim") },
  { path: "nodeID", kind: "string" },
  { path: "dataDir", kind: "string" },
  { path: "secret", kind: "string", secret: true },
  { path: "ws.host", kind: "string" },
  { path: "ws.port", kind: "int", check: port },
  { path: "ws.maxConnections", kind: "int", check: positive },
  { path: "ws.maxFrameBytes", kind: "int", check: positive },
  { path: "ws.maxInflatedBytes", kind: "int", check: positive },
  { path: "ws.handshakeTimeoutSeconds", kind: "int", check: positive },
  { path: "ws.pongWaitSeconds", kind: "int", check: positive },
  { path: "ws.pingPeriodSeconds", kind: "int", check: positive },
  { path: "ws.slowConsumerBytes", kind: "int", check: positive },
  { path: "ws.requestTimeoutMs", kind: "int", check: positive },
  { path: "ws.maxInflightPerConn", kind: "int", check: positive },
  { path: "ws.maxSubscriptionsPerConn", kind: "int", check: nonNegative },
  { path: "ws.pushSliceUsers", kind: "int", check: positive },
  { path: "ws.tlsCert", kind: "string" },
  { path: "ws.tlsKey", kind: "string" },
  { path: "ws.maxConnsPerUser", kind: "int", check: nonNegative },
  { path: "ws.maxConnsPerIP", kind: "int", check: nonNegative },
  { path: "ws.handshakesPerSecond", kind: "int", check: nonNegative },
  { path: "ws.requestsPerSecond", kind: "int", check: nonNegative },
  { path: "ws.bytesPerSecond", kind: "int", check: nonNegative },
  { path: "rpc.host", kind: "string" },
  { path: "rpc.port", kind: "int", check: port },
  { path: "rpc.token", kind: "string", secret: true },
  { path: "rpc.allowOpenIMWithoutToken", kind: "bool" },
  { path: "rpc.tlsCert", kind: "string" },
  { path: "rpc.tlsKey", kind: "string" },
  { path: "admin.host", kind: "string" },
  { path: "admin.port", kind: "int", check: port },
  { path: "multiLogin.policy", kind: "int", check: oneOf(0, 1, 4, 5) },
  { path: "imAdminUser.userIDs", kind: "string[]" },
  { path: "redis.url", kind: "string", secret: true },
  { path: "redis.address", kind: "string[]" },
  { path: "redis.username", kind: "string" },
  { path: "redis.password", kind: "string", secret: true },
  { path: "redis.redisMode", kind: "string", check: oneOf("standalone", "cluster", "sentinel") },
  { path: "redis.db", kind: "int", check: nonNegative },
  { path: "redis.sentinelMode.masterName", kind: "string" },
  { path: "redis.sentinelMode.sentinelsAddrs", kind: "string[]" },
  { path: "redis.sentinelMode.routeByLatency", kind: "bool" },
  { path: "redis.sentinelMode.routeRandomly", kind: "bool" },
  { path: "log.level", kind: "string", check: oneOf("debug", "info", "warn", "error") },
  { path: "log.format", kind: "string", check: oneOf("auto", "json", "pretty") },
  { path: "messages.retentionDays", kind: "int", check: nonNegative },
  { path: "messages.maxPerConversation", kind: "int", check: nonNegative },
  { path: "messages.storeQueueSize", kind: "int", check: positive },
  { path: "shutdown.graceSeconds", kind: "int", check: positive },
  { path: "openim.auth", kind: "string" },
  { path: "openim.msg", kind: "string" },
  { path: "openim.push", kind: "string" },
  { path: "openim.user", kind: "string" },
  { path: "openim.callTimeoutMs", kind: "int", check: positive },
  { path: "rpc.registerIP", kind: "string" },
  { path: "discovery.enable", kind: "string", check: oneOf("", "etcd") },
  { path: "discovery.etcd.rootDirectory", kind: "string" },
  { path: "discovery.etcd.address", kind: "string[]" },
  { path: "discovery.etcd.username", kind: "string" },
  { path: "discovery.etcd.password", kind: "string", secret: true },
  ...(["auth", "msg", "push", "user", "messageGateway"] as const).map((k): KeySpec => ({ path: `discovery.rpcService.${k}`, kind: "string" })),
  { path: "discovery.prometheusKey", kind: "string" },
  { path: "presence.shards", kind: "int", check: positive },
  { path: "presence.batchSize", kind: "int", check: positive },
  { path: "presence.mergeIntervalMs", kind: "int", check: positive },
  { path: "presence.renewIntervalSeconds", kind: "int", check: positive },
  { path: "presence.ttlSeconds", kind: "int", check: positive },
  { path: "webhooks.url", kind: "string" },
  { path: "webhooks.queueSize", kind: "int", check: positive },
  { path: "webhooks.retries", kind: "int", check: nonNegative },
  ...(["afterUserOnline", "afterUserOffline", "afterUserKickOff"] as const).flatMap((h): KeySpec[] => [
    { path: `webhooks.${h}.enable`, kind: "bool" },
    { path: `webhooks.${h}.timeout`, kind: "int", check: positive },
  ]),
];

/** OpenIM's key names (openim-msggateway.yml, share.yml, redis.yml) accepted in our files (§8). */
export const openimKeys: KeySpec[] = [
  {
    path: "longConnSvr.ports", kind: "int[]",
    check: (v: number[]) => (v.length > 0 && v.every((p) => port(p) === undefined) ? undefined : "must be a non-empty list of ports"),
    to: (v: number[]) => ["ws.port", v[0]],
  },
  { path: "longConnSvr.websocketMaxConnNum", kind: "int", check: positive, to: (v) => ["ws.maxConnections", v] },
  { path: "longConnSvr.websocketMaxMsgLen", kind: "int", check: positive, to: (v) => ["ws.maxFrameBytes", v] },
  { path: "longConnSvr.websocketTimeout", kind: "int", check: positive, to: (v) => ["ws.handshakeTimeoutSeconds", v] },
  { path: "multiLogin.maxNumOneEnd", kind: "int", to: () => ["", undefined] },
];

export const secretPaths = new Set(keys.filter((k) => k.secret).map((k) => k.path));
