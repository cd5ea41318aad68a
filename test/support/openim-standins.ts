// Stand-ins for OpenIM's auth, msg, push and user services (the Go services cannot run here), built from our
// proto/ and served over gRPC h2c like the real ones. They record every call with its metadata, keep just
// enough state to answer (tokens, messages with seqs, online status) and fail the way OpenIM does (business
// codes as gRPC status codes).
import { create } from "@bufbuild/protobuf";
import { ConnectError, type Code, type HandlerContext } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { createServer } from "node:http2";
import { Auth } from "../../src/gen/openim/auth/auth_pb.js";
import { msg as MsgService, SendMsgRespSchema } from "../../src/gen/openim/msg/msg_pb.js";
import { PushMsgService } from "../../src/gen/openim/push/push_pb.js";
import { user as UserService } from "../../src/gen/openim/user/user_pb.js";
import { GetMaxSeqRespSchema, type MsgData, PullMessageBySeqsRespSchema } from "../../src/gen/openim/sdkws/sdkws_pb.js";
import { verifyToken } from "../../src/backend/embedded/jwt.js";
import { conversationIDOf } from "../../src/protocol/conversation.js";
import { CodeError } from "../../src/protocol/errors.js";

export interface RecordedCall {
  path: string;
  metadata: Record<string, string>;
  request: any;
}

export async function startOpenIMStandins(secret: string) {
  const calls: RecordedCall[] = [];
  const kicked = new Set<string>();
  /** Tokens seen per "userID:platformID", so invalidateToken can kick the others as OpenIM's auth service does. */
  const seen = new Map<string, Set<string>>();
  const convs = new Map<string, MsgData[]>();
  const online = new Map<string, Set<number>>();
  /** Methods that wait until their caller gives up (the call is cancelled), and the ones that saw it happen. */
  const hang = new Set<string>();
  const cancelled: string[] = [];
  const waitForCancel = async (ctx: HandlerContext, method: string) => {
    await new Promise<void>((r) => (ctx.signal.aborted ? r() : ctx.signal.addEventListener("abort", () => r())));
    cancelled.push(method);
    throw new ConnectError("cancelled", 1 as Code);
  };
  const record = (ctx: HandlerContext, request: unknown) => {
    const md: Record<string, string> = {};
    for (const k of ["operationid", "opuserid", "platform", "connid"]) {
      const v = ctx.requestHeader.get(k);
      if (v !== null) md[k] = v;
    }
    calls.push({ path: `/${ctx.service.typeName}/${ctx.method.name}`, metadata: md, request });
  };
  const fail = (e: CodeError) => new ConnectError(e.msg, e.code as Code);

  const handler = connectNodeAdapter({
    routes(router) {
      router.service(Auth, {
        async parseToken(req, ctx) {
          record(ctx, req);
          if (kicked.has(req.token)) throw fail(new CodeError(1506, "TokenKickedError"));
          try {
            const c = verifyToken(secret, req.token);
            const k = `${c.UserID}:${c.PlatformID}`;
            seen.set(k, (seen.get(k) ?? new Set()).add(req.token));
            return { userID: c.UserID, platformID: c.PlatformID, expireTimeSeconds: BigInt(c.exp) };
          } catch (e) {
            throw fail(e as CodeError);
          }
        },
        async invalidateToken(req, ctx) {
          record(ctx, req);
          for (const t of seen.get(`${req.userID}:${req.platformID}`) ?? []) if (t !== req.preservedToken) kicked.add(t);
          return {};
        },
        async kickTokens(req, ctx) {
          record(ctx, req);
          for (const t of req.tokens) kicked.add(t);
          return {};
        },
      });
      router.service(MsgService, {
        async sendMsg(req, ctx) {
          record(ctx, req);
          const m = req.msgData!;
          if (m.sendID !== ctx.requestHeader.get("opuserid")) throw fail(new CodeError(1002, "NoPermissionError"));
          const id = conversationIDOf(m);
          const list = convs.get(id) ?? [];
          convs.set(id, list);
          m.seq = BigInt(list.length + 1);
          m.serverMsgID = `s${m.seq}`;
          m.sendTime = BigInt(Date.now());
          list.push(m);
          return create(SendMsgRespSchema, { serverMsgID: m.serverMsgID, clientMsgID: m.clientMsgID, sendTime: m.sendTime });
        },
        async getMaxSeq(req, ctx) {
          record(ctx, req);
          const max: Record<string, bigint> = {};
          for (const [id, list] of convs) if (id.includes(req.userID)) max[id] = BigInt(list.length);
          return create(GetMaxSeqRespSchema, { maxSeqs: max });
        },
        async pullMessageBySeqs(req, ctx) {
          record(ctx, req);
          const r = create(PullMessageBySeqsRespSchema);
          for (const s of req.seqRanges)
            r.msgs[s.conversationID] = { $typeName: "openim.sdkws.PullMsgs", Msgs: (convs.get(s.conversationID) ?? []).filter((m) => m.seq >= s.begin && m.seq <= s.end), isEnd: true, endSeq: s.end };
          return r;
        },
        async getSeqMessage(req, ctx) {
          record(ctx, req);
          return {};
        },
        async getConversationsHasReadAndMaxSeq(req, ctx) {
          record(ctx, req);
          return {};
        },
        async getLastMessage(req, ctx) {
          record(ctx, req);
          if (hang.has("getLastMessage")) return waitForCancel(ctx, "getLastMessage");
          return {};
        },
      });
      router.service(PushMsgService, {
        async delUserPushToken(req, ctx) {
          record(ctx, req);
          return {};
        },
      });
      router.service(UserService, {
        async setUserOnlineStatus(req, ctx) {
          record(ctx, req);
          for (const s of req.status) {
            const set = online.get(s.userID) ?? new Set<number>();
            for (const p of s.offline) set.delete(p);
            for (const p of s.online) set.add(p);
            online.set(s.userID, set);
          }
          return {};
        },
        async getUserStatus(req, ctx) {
          record(ctx, req);
          return { statusList: req.userIDs.map((u) => ({ userID: u, status: online.get(u)?.size ? 1 : 0, platformIDs: [...(online.get(u) ?? [])] })) };
        },
      });
    },
  });
  const server = createServer(handler);
  // HTTP/2 sessions open now (a client that closes its connections brings this back down).
  let sessions = 0;
  server.on("session", (s) => {
    sessions++;
    s.on("close", () => sessions--);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as { port: number }).port;
  return {
    address: `127.0.0.1:${port}`,
    calls,
    online,
    hang,
    cancelled,
    sessions: () => sessions,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
