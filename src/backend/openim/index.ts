// The openim shape: the ports answered by OpenIM's own services over gRPC (h2c), with OpenIM's metadata on
// every call (operationid, opuserid, platform name, connid, §2.6) and a deadline on each (the reference has
// none, §9.2.8). Business errors come back as OpenIM codes and pass through to clients unchanged.
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { Http2SessionManager, createGrpcTransport } from "@connectrpc/connect-node";
import { Auth } from "../../gen/openim/auth/auth_pb.js";
import { msg as MsgService } from "../../gen/openim/msg/msg_pb.js";
import { PushMsgService } from "../../gen/openim/push/push_pb.js";
import { user as UserService } from "../../gen/openim/user/user_pb.js";
import { openimCodeOf } from "../../protocol/grpc-errors.js";
import { CodeError, ErrCode } from "../../protocol/errors.js";
import type { Backend, CallMeta, StatusEntry, StatusStore } from "../ports.js";
import { nextOperationID } from "../../protocol/operation-id.js";
import { BoundedMap } from "../../bounds.js";

export interface OpenIMAddresses {
  /** Current addresses of each service (static, or from discovery); calls go round robin over them. */
  resolve: (service: "auth" | "msg" | "push" | "user") => string[];
  callTimeoutMs: number;
}

/** OpenIM's metadata keys, lowercased as gRPC carries them. */
export function metadata(meta: Partial<CallMeta>): Record<string, string> {
  const h: Record<string, string> = { operationid: meta.operationID || `imgate_${Date.now()}` };
  if (meta.opUserID) h.opuserid = meta.opUserID;
  if (meta.platform) h.platform = meta.platform;
  if (meta.connID) h.connid = meta.connID;
  return h;
}

/** A failed call as OpenIM's gateway reports it (§3.4): business codes pass through; Unavailable is 500 "down". */
export function fromConnectError(err: unknown, service: string): CodeError {
  if (err instanceof CodeError) return err;
  if (!(err instanceof ConnectError)) return new CodeError(ErrCode.ServerInternal, "ServerInternalError", String(err));
  if (err.code === Code.Unavailable)
    return new CodeError(ErrCode.ServerInternal, `grpc service ${service} down, grpc message ${err.rawMessage}`);
  if (err.code === Code.DeadlineExceeded) return new CodeError(ErrCode.ServerInternal, "ServerInternalError", `${service}: deadline exceeded`);
  const code = openimCodeOf(err);
  if (code < 100) return new CodeError(ErrCode.ServerInternal, "ServerInternalError", err.rawMessage);
  // Connect reports a non-standard grpc-status as "invalid grpc-status"; the message is in grpc-message.
  const msg = decodeURIComponent(err.metadata.get("grpc-message") ?? err.rawMessage);
  return new CodeError(code, msg);
}

/** One client per address, chosen round robin per call from the service's current addresses; `close` ends their
 *  HTTP/2 connections (a stopped node keeps none open). */
function pool<T extends Parameters<typeof createClient>[0]>(service: T, name: "auth" | "msg" | "push" | "user", addr: OpenIMAddresses) {
  const clients = new Map<string, { client: Client<T>; session: Http2SessionManager }>();
  let i = 0;
  const get = (): Client<T> => {
    const list = addr.resolve(name);
    if (list.length === 0) throw new CodeError(ErrCode.ServerInternal, `grpc service ${name} down, grpc message no address known`);
    const a = list[i++ % list.length]!;
    let c = clients.get(a);
    if (!c) {
      const session = new Http2SessionManager(`http://${a}`);
      c = { client: createClient(service, createGrpcTransport({ baseUrl: `http://${a}`, sessionManager: session })) as Client<T>, session };
      clients.set(a, c);
    }
    return c.client;
  };
  return Object.assign(get, {
    close() {
      for (const c of clients.values()) c.session.abort();
      clients.clear();
    },
  });
}

export function createOpenIMBackend(addr: OpenIMAddresses): Backend {
  const auth = pool(Auth, "auth", addr);
  const msg = pool(MsgService, "msg", addr);
  const push = pool(PushMsgService, "push", addr);
  const opts = (meta: Partial<CallMeta>) => ({ headers: metadata(meta), timeoutMs: addr.callTimeoutMs, signal: meta.signal });
  const call = async <R>(service: string, f: () => Promise<R>): Promise<R> => {
    try {
      return await f();
    } catch (e) {
      throw fromConnectError(e, service);
    }
  };
  return {
    auth: {
      // The reference sends no platform on parseToken (a typing quirk, §1.3); we send what we know.
      parseToken: (token, meta) => call("auth", () => auth().parseToken({ token }, opts(meta))),
      invalidateToken: async (req, meta) => void (await call("auth", () => auth().invalidateToken(req, opts(meta)))),
      kickTokens: async (tokens, meta) => void (await call("auth", () => auth().kickTokens({ tokens }, opts(meta)))),
    },
    messages: {
      getMaxSeq: (req, meta) => call("msg", () => msg().getMaxSeq(req, opts(meta))),
      pullMessageBySeqs: (req, meta) => call("msg", () => msg().pullMessageBySeqs(req, opts(meta))),
      sendMsg: (req, meta) => call("msg", () => msg().sendMsg(req, opts(meta))),
      getSeqMessage: (req, meta) => call("msg", () => msg().getSeqMessage(req, opts(meta))),
      getConversationsHasReadAndMaxSeq: (req, meta) => call("msg", () => msg().getConversationsHasReadAndMaxSeq(req, opts(meta))),
      getLastMessage: (req, meta) => call("msg", () => msg().getLastMessage(req, opts(meta))),
    },
    pushTokens: {
      delUserPushToken: async (req, meta) => void (await call("push", () => push().delUserPushToken(req, opts(meta)))),
    },
    ready: () => true,
    async close() {
      for (const p of [auth, msg, push]) p.close();
    },
  };
}


/**
 * Online status through OpenIM's user service (§6.3): setUserOnlineStatus with "p_<pid>_<n>" operationIDs,
 * getUserStatus for lookups. Change notifications come from Redis online_change when Redis is configured, and
 * keep OpenIM's online cache (§7.3) current: answers live 15 minutes (failures 3 s, so a flapping user service
 * is not hammered), entries are replaced by online_change, and the cache holds at most `cacheSize` users.
 */
export function createOpenIMStatusStore(addr: OpenIMAddresses, changes?: StatusStore, cacheSize = 1 << 20): StatusStore {
  const user = pool(UserService, "user", addr);
  const cache = new Map<string, { platforms: number[]; until: number }>();
  // Bounded like the cache: user IDs here come from clients (2005) and callers.
  const failedUntil = new BoundedMap<string, number>(cacheSize);
  const remember = (u: string, platforms: number[], ttlMs: number) => {
    cache.delete(u); // re-insert: Map order is the eviction order
    cache.set(u, { platforms, until: Date.now() + ttlMs });
    if (cache.size > cacheSize) cache.delete(cache.keys().next().value!);
  };
  changes?.onChange((u, platforms) => {
    if (cache.has(u)) remember(u, platforms, 15 * 60_000);
  });
  return {
    async setStatus(entries: StatusEntry[]) {
      if (entries.length === 0) return;
      try {
        await user().setUserOnlineStatus(
          { status: entries.map((e) => ({ userID: e.userID, online: e.online, offline: e.offline })) },
          { headers: { operationid: nextOperationID() }, timeoutMs: addr.callTimeoutMs },
        );
      } catch (e) {
        throw fromConnectError(e, "user");
      }
    },
    async getOnline(userIDs) {
      const now = Date.now();
      const m = new Map<string, number[]>();
      const missing: string[] = [];
      for (const u of userIDs) {
        const hit = cache.get(u);
        if (hit && hit.until > now) m.set(u, hit.platforms);
        else if ((failedUntil.get(u) ?? 0) > now) throw new CodeError(ErrCode.ServerInternal, "ServerInternalError", `status of ${u} failed recently`);
        else missing.push(u);
      }
      if (missing.length === 0) return m;
      try {
        const r = await user().getUserStatus({ userIDs: missing }, { headers: { operationid: nextOperationID() }, timeoutMs: addr.callTimeoutMs });
        for (const u of missing) m.set(u, []);
        for (const s of r.statusList) m.set(s.userID, [...s.platformIDs]);
        for (const u of missing) remember(u, m.get(u)!, 15 * 60_000);
        return m;
      } catch (e) {
        for (const u of missing) failedUntil.set(u, Date.now() + 3000);
        throw fromConnectError(e, "user");
      }
    },
    onChange(l) {
      changes?.onChange(l);
    },
    async close() {
      user.close();
      await changes?.close();
    },
  };
}
