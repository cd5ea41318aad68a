// Cheap, read-only probes for `imgate doctor`, each bounded by a deadline: can this port be bound, does this
// address accept TCP, does a gRPC server answer there, does Redis (or a Sentinel) answer, which schema PostgreSQL holds.
import { connect as h2connect } from "node:http2";
import { connect as tcpConnect, createServer } from "node:net";
import { SQL } from "bun";
import { Redis } from "ioredis";
import { pgSchemaVersion } from "../backend/cluster/postgres-schema.js";
import { hostPort } from "../cluster/redis.js";
import { joinHostPort } from "../discovery/address.js";

export type Probe<T = {}> = ({ ok: true; ms: number } & T) | { ok: false; ms: number; error: string };

const since = (t: number) => Math.round(performance.now() - t);
const message = (e: unknown) => (e as NodeJS.ErrnoException)?.code ?? (e as Error)?.message ?? String(e);

/** Binds host:port and lets go: "EADDRINUSE" (someone holds it), "EADDRNOTAVAIL" (not an address of this machine)… */
export function canBind(host: string, port: number): Promise<{ ok: true } | { ok: false; code: string }> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", (e) => resolve({ ok: false, code: message(e) }));
    s.listen({ host, port, exclusive: true }, () => s.close(() => resolve({ ok: true })));
  });
}

export function tcpReach(host: string, port: number, timeoutMs: number): Promise<Probe> {
  const t = performance.now();
  return new Promise((resolve) => {
    const c = tcpConnect({ host, port });
    const timer = setTimeout(() => (c.destroy(), resolve({ ok: false, ms: since(t), error: `no answer within ${timeoutMs} ms` })), timeoutMs);
    c.once("connect", () => (clearTimeout(timer), c.destroy(), resolve({ ok: true, ms: since(t) })));
    c.once("error", (e) => (clearTimeout(timer), resolve({ ok: false, ms: since(t), error: message(e) })));
  });
}

/**
 * Proves that `method` (a "/package.Service/Method" path) is served at `addr` without running it: the request
 * body is one byte that no protobuf decoder accepts (a truncated varint), so a gRPC server answers with an error
 * status before any handler runs, and nothing changes on the server. An unknown method (grpc-status 12, or
 * HTTP 404 from Connect servers) means a gRPC server is there but not this service.
 */
export function grpcProbe(addr: string, method: string, timeoutMs: number): Promise<Probe<{ grpcStatus: number }>> {
  const t = performance.now();
  return new Promise((resolve) => {
    let done = false;
    const finish = (r: Probe<{ grpcStatus: number }>) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      session.destroy();
      resolve(r);
    };
    const session = h2connect(`http://${addr}`);
    const timer = setTimeout(() => finish({ ok: false, ms: since(t), error: `no gRPC answer within ${timeoutMs} ms` }), timeoutMs);
    session.on("error", (e) => finish({ ok: false, ms: since(t), error: message(e) }));
    const req = session.request({ ":method": "POST", ":path": method, "content-type": "application/grpc", te: "trailers" });
    let status: string | undefined;
    const settle = (h: Record<string, unknown>) => {
      if (h["grpc-status"] !== undefined) status = String(h["grpc-status"]);
    };
    const unknown = () => finish({ ok: false, ms: since(t), error: `a gRPC server answers but has no ${method} (another service is registered here)` });
    req.on("response", (h) => {
      settle(h);
      if (h[":status"] === 404) unknown();
      else if (h[":status"] !== 200) finish({ ok: false, ms: since(t), error: `HTTP ${h[":status"]}: not a gRPC server` });
    });
    req.on("trailers", settle);
    req.on("data", () => {});
    req.on("end", () => {
      if (status === undefined) finish({ ok: false, ms: since(t), error: "answered without a grpc-status: not a gRPC server" });
      else if (status === "12") unknown();
      else finish({ ok: true, ms: since(t), grpcStatus: Number(status) });
    });
    req.on("error", (e) => finish({ ok: false, ms: since(t), error: message(e) }));
    req.end(Buffer.from([0, 0, 0, 0, 1, 0xff]));
  });
}

function redisAt(addr: string, defaultPort: number, opts: { username?: string; password?: string; db?: number }, timeoutMs: number): Redis {
  const common = {
    ...opts, lazyConnect: true, connectTimeout: timeoutMs, commandTimeout: timeoutMs,
    maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false,
  };
  // A redis:// or rediss:// URL (our redis.url), else host:port.
  const client = addr.includes("://") ? new Redis(addr, common) : new Redis({ ...hostPort(addr, defaultPort), ...common });
  client.on("error", (e) => (lastError.get(client) ?? lastError.set(client, e)));
  return client;
}

/** The socket's own error (ECONNREFUSED…) rather than ioredis' "Connection is closed" that follows it. */
const lastError = new WeakMap<Redis, unknown>();
const cause = (c: Redis, e: unknown) => message(lastError.get(c) ?? e);

/** PING one Redis server (standalone, or the master a Sentinel named). */
export async function redisPing(addr: string, opts: { username?: string; password?: string; db?: number }, timeoutMs: number): Promise<Probe> {
  const t = performance.now();
  const c = redisAt(addr, 6379, opts, timeoutMs);
  try {
    await c.connect();
    await c.ping();
    return { ok: true, ms: since(t) };
  } catch (e) {
    return { ok: false, ms: since(t), error: cause(c, e) };
  } finally {
    c.disconnect();
  }
}

/** Asks one Sentinel where `masterName`'s master is; `master` undefined when it does not monitor that name. */
export async function sentinelMaster(addr: string, masterName: string, timeoutMs: number): Promise<Probe<{ master?: string }>> {
  const t = performance.now();
  const c = redisAt(addr, 26379, {}, timeoutMs);
  try {
    await c.connect();
    const r = (await c.call("SENTINEL", "get-master-addr-by-name", masterName)) as string[] | null;
    return { ok: true, ms: since(t), master: r ? joinHostPort(r[0]!, Number(r[1])) : undefined };
  } catch (e) {
    return { ok: false, ms: since(t), error: cause(c, e) };
  } finally {
    c.disconnect();
  }
}

/** CLUSTER INFO's cluster_state of one node of a Redis Cluster. */
export async function clusterState(addr: string, opts: { username?: string; password?: string }, timeoutMs: number): Promise<Probe<{ state: string }>> {
  const t = performance.now();
  const c = redisAt(addr, 6379, opts, timeoutMs);
  try {
    await c.connect();
    const info = String(await c.call("CLUSTER", "INFO"));
    return { ok: true, ms: since(t), state: /cluster_state:(\w+)/.exec(info)?.[1] ?? "unknown" };
  } catch (e) {
    return { ok: false, ms: since(t), error: cause(c, e) };
  } finally {
    c.disconnect();
  }
}

/** Connects to PostgreSQL and reads imgate's schema version there (0: none of its tables yet). */
export async function postgresSchema(url: string, timeoutMs: number): Promise<Probe<{ version: number }>> {
  const t = performance.now();
  const sql = new SQL({ url, max: 1, connectionTimeout: Math.max(1, Math.ceil(timeoutMs / 1000)) });
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const deadline = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs)));
    const version = await Promise.race([pgSchemaVersion(sql), deadline]);
    return { ok: true, ms: since(t), version };
  } catch (e) {
    return { ok: false, ms: since(t), error: (e as Error).message ?? String(e) };
  } finally {
    clearTimeout(timer);
    await sql.close({ timeout: 1 }).catch(() => {});
  }
}
