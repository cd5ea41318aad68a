// The one typed configuration, declared once: every setting's kind, default, check and meaning in one tree
// (`schema`). The Config type, defaultConfig(), the key table that files, IMGATE_* variables and flags are checked
// against (`keys`) and the list of secrets are all derived from it; a test keeps deploy/imgate.yml equal to it.

import { checkCidrs } from "./cidr.js";
import { splitHostPort } from "./host-port.js";
import { setPath } from "./path.js";

export type Kind = "string" | "int" | "bool" | "string[]" | "int[]";

interface Leaf<T> {
  readonly leaf: true;
  kind: Kind;
  default: T;
  /** Extra check on the parsed value; returns an error text or undefined. */
  check?: (v: any) => string | undefined;
  secret?: boolean;
  help?: string;
}

interface Opts {
  check?: (v: any) => string | undefined;
  secret?: boolean;
  help?: string;
}

const leaf = <T>(kind: Kind, value: T, o: Opts = {}): Leaf<T> => ({ leaf: true, kind, default: value, ...o });
const str = (value: string, o?: Opts) => leaf<string>("string", value, o);
const int = (value: number, check?: (v: number) => string | undefined, help?: string) => leaf<number>("int", value, { check, help });
const bool = (value: boolean, help?: string) => leaf<boolean>("bool", value, { help });
const strs = (value: string[], help?: string) => leaf<string[]>("string[]", value, { help });
const ints = (value: number[], help?: string) => leaf<number[]>("int[]", value, { help });
/** A string that must be one of `values`; its type is their union. */
const choice = <const T extends readonly string[]>(value: T[number], values: T, help?: string) =>
  leaf<T[number]>("string", value, { check: oneOf(...values), help });

const port = (v: number) => (v >= 0 && v <= 65535 ? undefined : "must be a port number 0..65535");
const positive = (v: number) => (v > 0 ? undefined : "must be > 0");
const nonNegative = (v: number) => (v >= 0 ? undefined : "must be >= 0");
function oneOf(...xs: (string | number)[]) {
  return (v: string | number) => (xs.includes(v) ? undefined : `must be one of ${xs.join(", ")}`);
}
const hook = () => ({ enable: bool(false), timeout: int(5, positive) });
const beforeHook = () => ({
  ...hook(),
  failedContinue: bool(true, "an unreachable or garbled hook: true = send the message anyway, false = refuse it (90004/90007)"),
  deniedTypes: ints([], "content types never sent to this hook (typing and notifications never are)"),
});
const afterHook = () => ({ ...hook(), attentionIds: strs([], "only these recvIDs (single) or groupIDs (group); empty = all"), deniedTypes: ints([]) });
const SERVICES = { auth: "auth-rpc-service", msg: "msg-rpc-service", push: "push-rpc-service", user: "user-rpc-service", messageGateway: "messagegateway-rpc-service" };

export const schema = {
  shape: choice("embedded", ["embedded", "cluster", "openim"] as const),
  nodeID: str(""),
  dataDir: str("./imgate-data"),
  secret: str("", { secret: true, help: "HS256 secret for tokens; empty: generated in dataDir on first start" }),
  ws: {
    host: str("0.0.0.0"),
    port: int(10001, port),
    maxConnections: int(100_000, positive),
    maxFrameBytes: int(51_200, positive, "largest client frame on the wire (OpenIM's websocketMaxMsgLen, which the reference ignores)"),
    maxInflatedBytes: int(1 << 20, positive, "largest client frame after gzip inflate: the gzip-bomb bound"),
    handshakeTimeoutSeconds: int(10, positive),
    pongWaitSeconds: int(30, positive),
    pingPeriodSeconds: int(27, positive),
    slowConsumerBytes: int(4 << 20, positive, "bytes buffered for one slow socket before it is closed as a slow consumer"),
    requestTimeoutMs: int(10_000, positive, "deadline on every backend call made for a client request; the call is cancelled then"),
    maxInflightPerConn: int(64, positive, "requests one connection may have in flight; more close it (clients wait for replies)"),
    maxSubscriptionsPerConn: int(3000, nonNegative),
    pushSliceUsers: int(256, positive, "users large pushes handle per event-loop turn at most, all together, before letting other traffic through"),
    pushSliceMs: int(1, positive, "milliseconds of an event-loop turn large pushes may take, all together, their writes included"),
    tlsCert: str("", { help: "PEM files; both set = wss:// (TLS) on the WebSocket port" }),
    tlsKey: str(""),
    maxConnsPerUser: int(32, nonNegative, "limits (0 = none): connections one user may hold on this node, all platforms (refused with 1601)"),
    maxConnsPerIP: int(1000, nonNegative, "connections from one client address (limitExempt addresses are never counted)"),
    handshakesPerIPPerSecond: int(20, nonNegative, "handshakes one client address may start per second (burst: twice that)"),
    handshakesPerSecond: int(0, nonNegative, "handshakes the whole node starts per second"),
    requestsPerSecond: int(100, nonNegative, "frames one connection may send per second, text frames included (burst: twice that); over it a request gets 1650, and a client that keeps going is closed"),
    bytesPerSecond: int(1 << 20, nonNegative, "bytes one connection may send per second, counted on the wire before any inflate"),
    maxPullMessages: int(10_000, positive, "messages one pull (1002 ranges, 1005 seqs) may ask for in all; more is refused with ArgsError 1001"),
    maxConcurrentReadsPerUser: int(2, positive, "heavy reads (1002, 1005, 1006, 1007) of one user that run at once; the rest wait their turn, in order"),
    maxConversationsPerRequest: int(1000, positive, "conversations one request (1002, 1005, 1006, 1007) may name; more is refused with ArgsError 1001"),
    allowedOrigins: strs([], "browser Origins allowed to open a WebSocket (https://app.example.com, https://*.example.com); empty = any. Clients that send no Origin (native SDKs) are not affected"),
    trustedProxies: leaf<string[]>("string[]", ["127.0.0.0/8", "::1/128"], {
      check: checkCidrs, help: "CIDRs of reverse proxies whose X-Forwarded-For names the client (for per-address limits)",
    }),
    limitExempt: leaf<string[]>("string[]", ["127.0.0.0/8", "::1/128"], {
      check: checkCidrs, help: "CIDRs never counted by the per-address limits (loopback: tests, health checks, a local proxy that sends no X-Forwarded-For)",
    }),
  },
  rpc: {
    host: str("127.0.0.1"),
    port: int(10140, port),
    token: str("", { secret: true, help: "bearer token of the hub's Admin service and the dashboard (and /metrics when set here); empty = the one generated in dataDir/admin-token" }),
    allowOpenIMWithoutToken: bool(true, "let OpenIM's own services (callers in rpc.allowFrom) call the msgGateway methods without the token"),
    allowFrom: leaf<string[]>("string[]", ["127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7"], {
      check: checkCidrs, help: "CIDRs that may call the msgGateway methods without the token (allowOpenIMWithoutToken)",
    }),
    tlsCert: str("", { help: "PEM files; both set = gRPC over TLS (h2) on the rpc port" }),
    tlsKey: str(""),
    registerIP: str("", { help: "the address registered in etcd (OpenIM's rpc.registerIP); empty = this machine's first private IPv4" }),
  },
  admin: { host: str("127.0.0.1"), port: int(12140, port) },
  multiLogin: { policy: int(1, oneOf(0, 1, 4, 5)) },
  imAdminUser: { userIDs: strs(["imAdmin"]) },
  redis: {
    url: str("", { secret: true }),
    address: strs([]),
    username: str(""),
    password: str("", { secret: true }),
    redisMode: choice("standalone", ["standalone", "cluster", "sentinel"] as const),
    db: int(0, nonNegative),
    waitReplicas: int(0, nonNegative, "cluster shape: acknowledge a message only once this many replicas have it (Redis WAIT); closes the loss window of a failover"),
    waitTimeoutMs: int(1000, positive, "how long a send waits for waitReplicas; past it the send fails with 500 (the client resends; clientMsgID keeps it once)"),
    sentinelMode: {
      masterName: str("", { help: "OpenIM main's redis.yml sentinelMode: the master's name and the sentinels (redisMode sentinel)" }),
      sentinelsAddrs: strs([]),
      routeByLatency: bool(false),
      routeRandomly: bool(false),
    },
  },
  postgres: {
    url: str("", {
      secret: true,
      check: (v: string) => (v === "" || /^postgres(ql)?:\/\//.test(v) ? undefined : "must be a postgres:// or postgresql:// URL"),
      help: "cluster shape: keep messages, conversations, memberships, read marks and groups in PostgreSQL (postgres://user:pass@host:5432/db); empty = in Redis",
    }),
    maxConnections: int(10, positive, "connections to PostgreSQL this node keeps at most"),
  },
  log: { level: choice("info", ["debug", "info", "warn", "error"] as const), format: choice("auto", ["auto", "json", "pretty"] as const) },
  messages: {
    retentionDays: int(0, nonNegative, "messages older than this are removed (SQLite: hourly; Redis: on each send to the conversation, and an hourly sweep); 0 = keep forever"),
    maxPerConversation: int(0, nonNegative),
    storeQueueSize: int(10_000, positive, "embedded store: calls waiting for the store thread, and sends waiting for their commit (cluster shape with PostgreSQL: sends waiting for a transaction), beyond which a new one fails at once (500)"),
  },
  presence: {
    shards: int(4, positive),
    batchSize: int(100, positive),
    mergeIntervalMs: int(1000, positive),
    renewIntervalSeconds: int(600, positive),
    ttlSeconds: int(1800, positive),
  },
  webhooks: {
    url: str(""),
    queueSize: int(1000, positive),
    retries: int(2, nonNegative),
    afterUserOnline: hook(),
    afterUserOffline: hook(),
    afterUserKickOff: hook(),
    beforeSendSingleMsg: beforeHook(),
    beforeSendGroupMsg: beforeHook(),
    afterSendSingleMsg: afterHook(),
    afterSendGroupMsg: afterHook(),
  },
  api: {
    enable: bool(true, "OpenIM's app-server API (/auth, /msg, /user) where imgate is the message service (embedded, cluster shapes)"),
    listen: str("", {
      check: (v: string) => (v === "" || splitHostPort(v) ? undefined : "must be host:port (e.g. 0.0.0.0:10002) or empty"),
      help: "host:port of a listener of its own (OpenIM's api: 0.0.0.0:10002); empty = served on the admin port",
    }),
    tokenExpireDays: int(90, positive, "lifetime of tokens from /auth/get_admin_token and /auth/get_user_token (OpenIM's tokenPolicy.expire)"),
    maxBodyBytes: int(8 << 20, positive, "largest request body; larger ones are refused with 413"),
  },
  shutdown: {
    graceSeconds: int(10, positive, "how long a stop may take after the drain window, before the process exits anyway"),
    drainSeconds: int(10, nonNegative, "SIGTERM and `imgate drain` close clients spread over this window (oldest first, at least 100 a second) instead of all at once; 0 = at once"),
  },
  openim: {
    auth: str("", { help: "the openim shape: host:port (gRPC h2c) of OpenIM's services" }),
    msg: str(""),
    push: str(""),
    user: str(""),
    callTimeoutMs: int(5000, positive),
  },
  discovery: {
    enable: choice("", ["", "etcd"] as const, "OpenIM's discovery.yml: where the openim shape registers and finds services"),
    etcd: { rootDirectory: str("openim"), address: strs([]), username: str(""), password: str("", { secret: true }) },
    rpcService: {
      auth: str(SERVICES.auth), msg: str(SERVICES.msg), push: str(SERVICES.push), user: str(SERVICES.user), messageGateway: str(SERVICES.messageGateway),
    },
    prometheusKey: str("", { help: "where OpenIM's Prometheus discovery finds this gateway's metrics; empty = none" }),
  },
};

type Infer<S> = S extends Leaf<infer T> ? T : { -readonly [K in keyof S]: Infer<S[K]> };
export type Config = Infer<typeof schema>;
export type Shape = Config["shape"];
export type LogLevel = Config["log"]["level"];

function isLeaf(x: unknown): x is Leaf<unknown> {
  return typeof x === "object" && x !== null && (x as Leaf<unknown>).leaf === true;
}

function walk(node: Record<string, unknown>, prefix: string, visit: (path: string, l: Leaf<unknown>) => void): void {
  for (const [k, v] of Object.entries(node)) {
    const path = prefix ? `${prefix}.${k}` : k;
    if (isLeaf(v)) visit(path, v);
    else walk(v as Record<string, unknown>, path, visit);
  }
}

export function defaultConfig(): Config {
  const out: Record<string, any> = {};
  walk(schema, "", (path, l) => setPath(out, path, l.default));
  return out as Config;
}

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

/** Every key a file, IMGATE_* variable or flag can set. */
export const keys: KeySpec[] = [];
walk(schema, "", (path, l) => keys.push({ path, kind: l.kind, check: l.check, secret: l.secret, help: l.help }));

/** OpenIM's key names (openim-msggateway.yml, share.yml, redis.yml) accepted in our own files (§8). */
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
