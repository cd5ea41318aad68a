// OpenIM's app-server API (open-im-server internal/api) where imgate is the message service (embedded and cluster
// shapes): the paths, headers (operationID, token), JSON shapes and error envelope of OpenIM's api service, so an app
// server written against OpenIM works unchanged. What is implemented and what is not: docs/api.md.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { SendMsgReqSchema } from "../gen/openim/msg/msg_pb.js";
import type { Backend, TokenIssuer } from "../backend/ports.js";
import type { Dispatch } from "../cluster/dispatch.js";
import type { Config } from "../config/schema.js";
import type { Logger } from "../observe/log.js";
import { isValidPlatform } from "../protocol/constants.js";
import { CodeError, ErrCode, codeError, toCodeError } from "../protocol/errors.js";
import { decodeBody, failure, omitEmpty, success } from "./envelope.js";
import { decodeSendMsg, toMsgData, type SendMsgFields } from "./message.js";
import { hostAllowed } from "../config/cidr.js";
import { readBoundedBytes } from "../bounds.js";
import { NOT_SERVED, SDK_PREFIXES, createSdkApi } from "./sdk/index.js";
import { callMeta, onlineStatusList, pushUnstored } from "./sdk/common.js";
import { apiCaller } from "../backend/lane.js";
import { splitHostPort } from "../config/host-port.js";

/** OpenIM's constant.AdminPlatformID: admin tokens are minted for it. */
const ADMIN_PLATFORM = 10;

export interface AppServerDeps {
  config: Config;
  secret: string;
  backend: Backend;
  dispatch: Dispatch;
  log: Logger;
  /** Counts each call (OpenIM's api_count and http_count); unknown paths are counted as "<404>", as OpenIM's. */
  count?: (path: string, status: number, errCode: number) => void;
}

interface Caller {
  operationID: string;
  userID: string;
  platformID: number;
  admin: boolean;
}

type Handler = (body: string, caller: Caller) => Promise<Response>;
type BinaryHandler = (body: Uint8Array, protobuf: boolean, caller: Caller) => Promise<Response>;

/** Paths OpenIM answers without a token (its Whitelist). */
const WHITELIST = new Set(["/auth/get_admin_token", "/auth/parse_token"]);

export function isApiPath(pathname: string): boolean {
  return pathname.startsWith("/auth/") || pathname.startsWith("/msg/") || pathname.startsWith("/user/") || SDK_PREFIXES.some((p) => pathname.startsWith(p));
}

/** A handler for when the API is not served here, saying why. */
export function apiUnavailable(why: string): (req: Request) => Promise<Response> {
  return async () => failure(new CodeError(404, "NotFound", why), 404);
}

/** The API's fetch handler: answers every path under /auth, /msg and /user. Long because it holds the route table,
 *  one short handler per OpenIM path, side by side as OpenIM's router lists them. */
export function createAppServerApi(deps: AppServerDeps): (req: Request) => Promise<Response> {
  const { config, backend, dispatch, log } = deps;
  const admins = new Set(config.imAdminUser.userIDs);
  const ttlSeconds = () => config.api.tokenExpireDays * 86_400;
  const tokens = (): TokenIssuer => {
    if (!backend.tokens) throw codeError(ErrCode.Args, "this shape does not issue tokens");
    return backend.tokens;
  };
  const needAdmin = (c: Caller, what: string) => {
    if (!c.admin) throw codeError(ErrCode.NoPermission, `only app manager can ${what}`);
  };

  /** Stores and pushes one message as a client's 1003 would; isOnlineOnly messages are pushed, not stored (OpenIM). */
  async function send(req: SendMsgFields, recvID: string, c: Caller, clientMsgID: string) {
    const msg = toMsgData(req, recvID);
    msg.clientMsgID = clientMsgID;
    if (req.isOnlineOnly) {
      const users = msg.groupID && backend.store ? await backend.store.groupMembers(msg.groupID) : [recvID, msg.sendID];
      await pushUnstored(dispatch, msg, users, c.operationID);
      return { serverMsgID: msg.serverMsgID, clientMsgID, sendTime: Number(msg.sendTime) };
    }
    const r = await backend.messages.sendMsg(create(SendMsgReqSchema, { msgData: msg }), callMeta(c, msg.sendID));
    return { serverMsgID: r.serverMsgID, clientMsgID: r.clientMsgID, sendTime: Number(r.sendTime) };
  }

  const randomClientMsgID = () => randomBytes(16).toString("hex");

  const routes: Record<string, Handler> = {
    async "/auth/get_admin_token"(body) {
      const req = decodeBody(body, "GetAdminTokenReq", { secret: "string", userID: "string" });
      const given = Buffer.from(req.secret), want = Buffer.from(deps.secret);
      if (given.length !== want.length || !timingSafeEqual(given, want)) throw codeError(ErrCode.NoPermission, "secret invalid");
      if (!admins.has(req.userID)) throw codeError(ErrCode.Args, `userID is error. userID ${req.userID} is not in imAdminUser.userIDs`);
      const token = await tokens().issue(req.userID, ADMIN_PLATFORM, ttlSeconds());
      return success({ token, expireTimeSeconds: ttlSeconds() });
    },
    async "/auth/get_user_token"(body, c) {
      const req = decodeBody(body, "GetUserTokenReq", { platformID: "int32", userID: "string" });
      needAdmin(c, "get a user's token");
      if (!req.userID) throw codeError(ErrCode.Args, "userID is empty");
      if (req.platformID === ADMIN_PLATFORM) throw codeError(ErrCode.NoPermission, "platformID invalid. platformID must not be adminPlatformID");
      if (!isValidPlatform(req.platformID)) throw codeError(ErrCode.Args, `platformID ${req.platformID} is not 1..11`);
      if (admins.has(req.userID)) throw codeError(ErrCode.NoPermission, "don't get Admin token");
      const token = await tokens().issue(req.userID, req.platformID, ttlSeconds());
      return success({ token, expireTimeSeconds: ttlSeconds() });
    },
    async "/auth/parse_token"(body, c) {
      const req = decodeBody(body, "ParseTokenReq", { token: "string" });
      if (!req.token) throw codeError(ErrCode.Args, "token is empty");
      const r = await backend.auth.parseToken(req.token, callMeta(c, ""));
      return success(omitEmpty({ userID: r.userID, platformID: r.platformID, expireTimeSeconds: Number(r.expireTimeSeconds) }));
    },
    async "/auth/force_logout"(body, c) {
      const req = decodeBody(body, "ForceLogoutReq", { platformID: "int32", userID: "string" });
      needAdmin(c, "force a logout");
      if (!req.userID) throw codeError(ErrCode.Args, "userID is empty");
      if (!isValidPlatform(req.platformID)) throw codeError(ErrCode.Args, `platformID ${req.platformID} is not 1..11`);
      // Tokens first, so the kicked client cannot come straight back with the same token.
      await tokens().kickAll(req.userID, req.platformID);
      await dispatch.kickUser(req.userID, req.platformID, "admin");
      return success();
    },
    async "/msg/send_msg"(body, c) {
      const req = decodeSendMsg(body, "SendMsgReq", { recvID: "string" });
      needAdmin(c, "send message");
      if (!req.recvID && (req.sessionType === 1 || req.sessionType === 4 || req.contentType === 1400))
        throw codeError(ErrCode.Args, "recvID is required if sessionType is SingleChatType or NotificationChatType");
      return success(omitEmpty(await send(req, req.recvID, c, req.clientMsgID || randomClientMsgID())));
    },
    async "/msg/batch_send_msg"(body, c) {
      const req = decodeSendMsg(body, "BatchSendMsgReq", { isSendAll: "bool", recvIDs: "string[]" });
      needAdmin(c, "send message");
      if (req.isSendAll) throw codeError(ErrCode.Args, "isSendAll needs OpenIM's user service (a list of every user); imgate has none: list the recvIDs");
      if (req.recvIDs.length === 0) throw codeError(ErrCode.Args, "recvIDs is required");
      const results: Record<string, unknown>[] = [], failed: string[] = [];
      for (const recvID of req.recvIDs) {
        // One clientMsgID per recipient (OpenIM reuses one for all; idempotency here is by sender and clientMsgID).
        const clientMsgID = req.clientMsgID ? createHash("md5").update(`${req.clientMsgID}\u0000${recvID}`).digest("hex") : randomClientMsgID();
        try {
          results.push({ ...(await send(req, recvID, c, clientMsgID)), recvID });
        } catch (err) {
          log.debug("batch_send_msg: one recipient failed", { recvID, err, operationID: c.operationID });
          failed.push(recvID);
        }
      }
      return success({ results: results.length ? results : null, failedUserIDs: failed.length ? failed : null });
    },
    async "/msg/get_server_time"() {
      return success({ serverTime: Date.now() });
    },
    async "/user/get_users_online_status"(body, c) {
      const req = decodeBody(body, "GetUsersOnlineStatusReq", { userIDs: "string[]" });
      if (req.userIDs.length === 0) throw codeError(ErrCode.Args, "userIDs is empty");
      capUsers(req.userIDs);
      needAdmin(c, "read online status");
      const status = await dispatch.onlineStatus(req.userIDs);
      return success(req.userIDs.map((userID: string) => {
        const conns = status.get(userID) ?? [];
        return omitEmpty({
          userID, status: conns.length ? 1 : 0,
          detailPlatformStatus: conns.map((d) => omitEmpty({ platformID: d.platformID, connID: d.connID, isBackground: d.isBackground, token: d.token })),
        });
      }));
    },
    async "/user/get_users_status"(body) {
      const req = decodeBody(body, "GetUserStatusReq", { userID: "string", userIDs: "string[]" });
      capUsers(req.userIDs);
      const statusList = (await onlineStatusList(dispatch, req.userIDs)).map((s) => omitEmpty(s));
      return success(omitEmpty({ statusList }));
    },
  };

  // OpenIM's SDK routes where imgate keeps users, groups and conversations (the embedded and cluster shapes); the
  // app-server's own routes above keep their answers where both name a path.
  const sdk = backend.directory && backend.store
    ? createSdkApi({ directory: backend.directory, store: backend.store, messages: backend.messages, dispatch, log })
    : undefined;
  for (const [path, route] of Object.entries(sdk?.json ?? {}))
    if (!Object.hasOwn(routes, path)) routes[path] = async (body, c) => success(await route(body, c));
  const binary: Record<string, BinaryHandler> = Object.fromEntries(Object.entries(sdk?.protobuf ?? {})
    .map(([path, route]) => [path, async (body: Uint8Array, protobuf: boolean, c: Caller) => success(await route(body, protobuf, c))]));
  const notFound = (path: string) =>
    NOT_SERVED.includes(path) ? `imgate does not implement ${path} (docs/compatibility.md lists OpenIM's routes and what imgate answers)`
    : `${path} is not part of imgate's API (docs/api.md and docs/compatibility.md list what is)`;

  /** The answer and its errCode (for the counters). */
  const refuse = (err: unknown, status = 200): [Response, number] => {
    const e = toCodeError(err);
    return [withCors(failure(e, status)), e.code];
  };
  const serve = async (req: Request, path: string): Promise<[Response, number]> => {
    try {
      const handler = Object.hasOwn(routes, path) ? routes[path] : undefined;
      const binaryHandler = Object.hasOwn(binary, path) ? binary[path] : undefined;
      if (!handler && !binaryHandler) return refuse(new CodeError(404, "NotFound", notFound(path)), 404);
      if (req.method !== "POST") return refuse(codeError(ErrCode.Args, `${path} takes POST`), 405);
      const limit = config.api.maxBodyBytes;
      const tooLarge = () => refuse(codeError(ErrCode.Args, `the request body is larger than api.maxBodyBytes (${limit} bytes)`), 413);
      if (Number(req.headers.get("content-length") ?? 0) > limit) return tooLarge();
      const operationID = req.headers.get("operationID") ?? "";
      if (!operationID) throw codeError(ErrCode.Args, "header must have operationID");
      const caller: Caller = { operationID, userID: "", platformID: 0, admin: false };
      if (!WHITELIST.has(path)) {
        const token = req.headers.get("token") ?? "";
        if (!token) throw codeError(ErrCode.Args, "header must have token");
        const who = await backend.auth.parseToken(token, { operationID, opUserID: "", platform: "", connID: "" });
        Object.assign(caller, { userID: who.userID, platformID: who.platformID, admin: admins.has(who.userID) });
      }
      const body = await readBoundedBytes(req, limit);
      if (body === undefined) return tooLarge();
      const run = () => binaryHandler ? binaryHandler(body, isProtobuf(req.headers.get("content-type")), caller) : handler!(new TextDecoder().decode(body), caller);
      return [withCors(await apiCaller.run(caller.userID, run)), 0];
    } catch (err) {
      if (!(err instanceof CodeError)) log.warn("app-server API call failed", { path, err });
      return refuse(err);
    }
  };
  return async (req) => {
    if (req.method === "OPTIONS") return new Response(null, { status: 204, headers: cors });
    const path = new URL(req.url).pathname;
    const [res, errCode] = await serve(req, path);
    deps.count?.(res.status === 404 ? "<404>" : path, res.status, errCode);
    return res;
  };
}

/** OpenIM's /jssdk routes read protobuf under these content types, JSON under a JSON one or none, and refuse others. */
function isProtobuf(contentType: string | null): boolean {
  if (!contentType || contentType.includes("application/json")) return false;
  if (contentType.includes("application/protobuf") || contentType.includes("application/x-protobuf")) return true;
  throw codeError(ErrCode.Args, "unsupported content type");
}

// OpenIM's CorsHandler: browsers may call the API from any origin.
const cors = { "Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "*", "Access-Control-Allow-Headers": "*" };
function withCors(res: Response): Response {
  for (const [k, v] of Object.entries(cors)) res.headers.set(k, v);
  return res;
}


/** User IDs one status query may name (the answer and the lookups grow with it). */
export const MAX_STATUS_USERS = 1000;

function capUsers(userIDs: string[]): void {
  if (userIDs.length > MAX_STATUS_USERS) throw codeError(ErrCode.Args, `at most ${MAX_STATUS_USERS} userIDs per call, got ${userIDs.length}`);
}

/** The API on a listener of its own (`api.listen`, host:port), as OpenIM's api service has one. */
export function startApiListener(listen: string, fetch: (req: Request) => Promise<Response>) {
  const hp = splitHostPort(listen);
  if (!hp) throw new Error(`api.listen must be host:port, got "${listen}"`);
  const host = hp.host || "0.0.0.0";
  return Bun.serve({
    hostname: host, port: hp.port, idleTimeout: 30, reusePort: process.env.IMGATE_WORKER !== undefined,
    fetch: (req) => {
      if (!hostAllowed(host, req.headers.get("host"))) return failure(new CodeError(421, "MisdirectedRequest", "this listener answers loopback names only"), 421);
      return isApiPath(new URL(req.url).pathname) ? fetch(req) : failure(new CodeError(404, "NotFound", "this listener serves OpenIM's API only (/auth, /msg, /user and the SDKs' routes)"), 404);
    },
  });
}
