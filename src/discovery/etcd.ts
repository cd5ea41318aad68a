// etcd v3 through its JSON gateway (plain fetch, so the single binary needs no gRPC stubs or proto files at run
// time). OpenIM's layout (§8.4): a gateway registers `<root>/<messageGateway>/<ip>:<port>` with the value
// {"Op":0,"Addr":"<ip>:<port>","Metadata":null} under a 30 s lease kept alive, re-registering after a lost
// lease; services are found by listing `<root>/<name>/` and taking the last path segment as host:port.

const b64 = (s: string) => Buffer.from(s).toString("base64");
const unb64 = (s: string) => Buffer.from(s, "base64").toString("utf8");

/** The key just after every key with this prefix (etcd's range_end for a prefix scan). */
function prefixEnd(prefix: string): string {
  const b = Buffer.from(prefix);
  for (let i = b.length - 1; i >= 0; i--) {
    if (b[i]! < 0xff) {
      b[i]!++;
      return b.subarray(0, i + 1).toString("base64");
    }
  }
  return b64("\0");
}

export interface EtcdOptions {
  endpoints: string[];
  username?: string;
  password?: string;
  timeoutMs?: number;
}

export function createEtcd(opts: EtcdOptions) {
  let next = 0;
  let token: string | undefined;
  const timeoutMs = opts.timeoutMs ?? 3000;

  async function post(path: string, body: unknown, retryAuth = true): Promise<any> {
    let lastErr: unknown;
    for (let k = 0; k < opts.endpoints.length; k++) {
      const ep = opts.endpoints[next++ % opts.endpoints.length]!;
      const base = ep.startsWith("http") ? ep : `http://${ep}`;
      try {
        if (opts.username && !token) await authenticate(base);
        const res = await fetch(`${base}${path}`, {
          method: "POST", body: JSON.stringify(body), signal: AbortSignal.timeout(timeoutMs),
          headers: { "Content-Type": "application/json", ...(token ? { Authorization: token } : {}) },
        });
        const json = await res.json() as any;
        if (res.status === 401 && retryAuth) {
          token = undefined;
          return post(path, body, false);
        }
        if (!res.ok) throw new Error(`etcd ${path}: ${json.message ?? json.error ?? res.status}`);
        return json;
      } catch (e) {
        lastErr = e;
      }
    }
    throw lastErr;
  }

  async function authenticate(base: string) {
    const res = await fetch(`${base}/v3/auth/authenticate`, {
      method: "POST", body: JSON.stringify({ name: opts.username, password: opts.password }), signal: AbortSignal.timeout(timeoutMs),
    });
    const json = await res.json() as any;
    if (!res.ok || !json.token) throw new Error(`etcd authentication failed: ${json.message ?? res.status}`);
    token = json.token;
  }

  return {
    async list(prefix: string): Promise<{ key: string; value: string }[]> {
      const r = await post("/v3/kv/range", { key: b64(prefix), range_end: prefixEnd(prefix) });
      return (r.kvs ?? []).map((kv: any) => ({ key: unb64(kv.key), value: kv.value ? unb64(kv.value) : "" }));
    },
    async grant(ttlSeconds: number): Promise<string> {
      return (await post("/v3/lease/grant", { TTL: ttlSeconds })).ID;
    },
    async put(key: string, value: string, lease?: string): Promise<void> {
      await post("/v3/kv/put", { key: b64(key), value: b64(value), ...(lease ? { lease } : {}) });
    },
    /** Remaining TTL after the refresh; 0 or less means the lease is gone. */
    async keepAlive(lease: string): Promise<number> {
      const r = await post("/v3/lease/keepalive", { ID: lease });
      return Number(r.result?.TTL ?? 0);
    },
    async revoke(lease: string): Promise<void> {
      await post("/v3/lease/revoke", { ID: lease });
    },
    async del(key: string): Promise<void> {
      await post("/v3/kv/deleterange", { key: b64(key) });
    },
  };
}

export type Etcd = ReturnType<typeof createEtcd>;

export type RegistrationState = "starting" | "registered" | "retrying" | "stopped";

export interface RegistrationEvents {
  /** After the put and a confirmed lease: the keys are really in etcd. */
  onRegistered?: (info: { keys: string[]; lease: string; again: boolean }) => void;
  /** A failed attempt; `first` is true on the first failure after a success (or at start). */
  onFailed?: (err: unknown, info: { first: boolean; attempt: number }) => void;
}

/**
 * Keeps `entries` in etcd under one lease, refreshed every ttl/3; when the lease is lost (an etcd restart, a
 * partition longer than the TTL) or an attempt fails, registers again every second. `state()` is what /readyz
 * and the dashboard show: "registered" only after the put and a keep-alive both succeeded.
 */
export function keepRegistered(etcd: Etcd, entries: { key: string; value: string }[], opts: { ttlSeconds?: number } & RegistrationEvents = {}) {
  const ttl = opts.ttlSeconds ?? 30;
  let lease: string | undefined;
  let state: RegistrationState = "starting";
  let lastError: string | undefined;
  let failures = 0;
  let registeredOnce = false;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const register = async () => {
    const id = await etcd.grant(ttl);
    lease = id;
    for (const e of entries) await etcd.put(e.key, e.value, id);
    if ((await etcd.keepAlive(id)) <= 0) throw new Error(`etcd lease ${id} expired right after the put`);
    state = "registered";
    lastError = undefined;
    failures = 0;
    opts.onRegistered?.({ keys: entries.map((e) => e.key), lease: id, again: registeredOnce });
    registeredOnce = true;
  };
  const attempt = async (): Promise<number> => {
    try {
      if (!lease || state !== "registered" || (await etcd.keepAlive(lease)) <= 0) {
        if (lease && state === "registered") state = "retrying"; // lost: say so before trying again
        await register();
      }
      return (ttl * 1000) / 3;
    } catch (e) {
      const stale = lease;
      lease = undefined;
      if (stale) etcd.revoke(stale).catch(() => {});
      state = "retrying";
      lastError = (e as Error)?.message ?? String(e);
      opts.onFailed?.(e, { first: failures++ === 0, attempt: failures });
      return 1000;
    }
  };
  const loop = async () => {
    if (state === "stopped") return;
    const delay = await attempt();
    if ((state as RegistrationState) !== "stopped") timer = setTimeout(loop, delay);
  };
  return {
    /** Makes the first attempt and keeps going; resolves after that attempt whatever its outcome. */
    async start() {
      const delay = await attempt();
      if ((state as RegistrationState) !== "stopped") timer = setTimeout(loop, delay);
    },
    state: () => state,
    lastError: () => lastError,
    async stop() {
      // Once: a shutdown leaves discovery early, and the lifecycle stops it again at the end.
      if (state === "stopped") return;
      state = "stopped";
      clearTimeout(timer);
      if (lease) await etcd.revoke(lease).catch(() => {});
      for (const e of entries) await etcd.del(e.key).catch(() => {});
    },
  };
}

export type Registration = ReturnType<typeof keepRegistered>;

/** Addresses of a service, from keys `<root>/<name>/<host:port>`, refreshed every `everyMs`. */
export function watchService(etcd: Etcd, root: string, name: string, everyMs = 5000, onError?: (e: unknown) => void) {
  let addrs: string[] = [];
  const prefix = `${root}/${name}/`;
  const refresh = async () => {
    try {
      const kvs = await etcd.list(prefix);
      addrs = kvs.map((kv) => kv.key.slice(prefix.length)).filter((a) => /^[^/]+:\d+$/.test(a)).sort();
    } catch (e) {
      onError?.(e);
    }
  };
  const t = setInterval(() => void refresh(), everyMs);
  t.unref?.();
  return { refresh, addresses: () => addrs, stop: () => clearInterval(t) };
}
