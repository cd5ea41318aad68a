// The request router: one handler per reqIdentifier (§3.1). Every known request gets exactly one reply
// carrying its own msgIncr; each backend call has a deadline. Requests of one connection run concurrently.
import { type DescMessage, type MessageShape, create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  GetConversationsHasReadAndMaxSeqReqSchema, GetConversationsHasReadAndMaxSeqRespSchema, GetLastMessageReqSchema,
  GetLastMessageRespSchema, GetSeqMessageReqSchema, GetSeqMessageRespSchema, SendMsgReqSchema, SendMsgRespSchema,
} from "../gen/openim/msg/msg_pb.js";
import { DelUserPushTokenReqSchema } from "../gen/openim/push/push_pb.js";
import {
  GetMaxSeqReqSchema, GetMaxSeqRespSchema, MsgDataSchema, PullMessageBySeqsReqSchema, PullMessageBySeqsRespSchema,
  SetAppBackgroundStatusReqSchema, SubUserOnlineStatusSchema, SubUserOnlineStatusTipsSchema,
} from "../gen/openim/sdkws/sdkws_pb.js";
import type { Backend, CallMeta } from "../backend/ports.js";
import { Req, platformName } from "../protocol/constants.js";
import { Disconnects } from "../protocol/disconnects.js";
import { CodeError, ErrCode, toCodeError } from "../protocol/errors.js";
import type { Conn } from "../sessions/conn.js";
import type { WireReq } from "./codec/envelope.js";
import type { RequestCancel } from "./cancel.js";

export interface RequestContext {
  conn: Conn;
  req: WireReq;
  /** Cancelled at the request's deadline or when its connection closes (request-runner.ts and server.ts); `signal`
   *  is its AbortSignal, made when first read. */
  meta: CallMeta & { signal: AbortSignal; cancel: RequestCancel };
}

export interface HandlerResult {
  /** undefined is a nil payload (JSON null). */
  data?: Uint8Array;
  /** Replied instead of data, when the handler still has an `after` to run. */
  error?: CodeError;
  /** Runs after the reply is queued (logout closes the connection). */
  after?: () => void;
}

export type Handler = (ctx: RequestContext) => Promise<HandlerResult>;

export interface RouterDeps {
  backend: Backend;
  setBackground(conn: Conn, background: boolean): void;
  close(conn: Conn, code: number, reason: string): void;
  subscribe(conn: Conn, subscribe: string[], unsubscribe: string[]): Promise<{ userID: string; platformIDs: number[] }[]>;
}

/** Parses a PB payload; OpenIM answers an unmarshal failure with 500 (§3.1 notes). */
function decode<D extends DescMessage>(schema: D, data: Uint8Array | undefined): MessageShape<D> {
  try {
    return fromBinary(schema, data ?? new Uint8Array(0));
  } catch (e) {
    throw new CodeError(ErrCode.ServerInternal, "ServerInternalError", `unmarshal: ${(e as Error).message}`);
  }
}

/** The go-playground envelope validator of 1002/1005/1006/2004: failures are 500 (§3.1). */
function requireEnvelope(req: WireReq): void {
  if (req.reqIdentifier === 0 || !req.sendID || !req.operationID || !req.msgIncr)
    throw new CodeError(ErrCode.ServerInternal, "ServerInternalError", "envelope validation failed");
}

export function withDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CodeError(ErrCode.ServerInternal, "ServerInternalError", `${what}: deadline exceeded`)), ms);
  });
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}

/** `p`, or a 500 once the request is cancelled: its deadline passed or its connection closed. The backend call
 *  behind it is cancelled too where it took the request's signal. */
export function untilCancelled<T>(p: Promise<T>, cancel: RequestCancel, what: string): Promise<T> {
  return cancel.race(p, (why) => new CodeError(ErrCode.ServerInternal, "ServerInternalError", `${what}: ${why.message}`));
}

export function createRouter(deps: RouterDeps): Map<number, Handler> {
  const { backend } = deps;
  const call = <T>(p: Promise<T>, meta: { cancel: RequestCancel }, what: string) => untilCancelled(p, meta.cancel, what);
  const handlers = new Map<number, Handler>();

  /** A request that is one backend call: decode the payload, call with the request's deadline, encode the answer. */
  const unary = <I extends DescMessage, O extends DescMessage>(
    input: I, output: O, what: string, method: (req: MessageShape<I>, meta: RequestContext["meta"]) => Promise<MessageShape<O>>,
    opts: { envelope?: boolean } = {},
  ): Handler => async ({ req, meta }) => {
    if (opts.envelope) requireEnvelope(req);
    const r = await call(method(decode(input, req.data), meta), meta, what);
    return { data: toBinary(output, r) };
  };
  const m = backend.messages;

  handlers.set(Req.GetNewestSeq, unary(GetMaxSeqReqSchema, GetMaxSeqRespSchema, "GetMaxSeq", (r, meta) => m.getMaxSeq(r, meta)));
  handlers.set(Req.PullMsgBySeqList, unary(PullMessageBySeqsReqSchema, PullMessageBySeqsRespSchema, "PullMessageBySeqs",
    (r, meta) => m.pullMessageBySeqs(r, meta), { envelope: true }));
  const send: Handler = unary(MsgDataSchema, SendMsgRespSchema, "SendMsg", (msgData, meta) => m.sendMsg(create(SendMsgReqSchema, { msgData }), meta));
  handlers.set(Req.SendMsg, send);
  // The reference passes a nil request for 1004 and always fails (§9.1.6); here it sends like 1003.
  handlers.set(Req.SendSignalMsg, send);
  handlers.set(Req.PullMsg, unary(GetSeqMessageReqSchema, GetSeqMessageRespSchema, "GetSeqMessage", (r, meta) => m.getSeqMessage(r, meta), { envelope: true }));
  handlers.set(Req.GetConvMaxReadSeq, unary(GetConversationsHasReadAndMaxSeqReqSchema, GetConversationsHasReadAndMaxSeqRespSchema,
    "GetConversationsHasReadAndMaxSeq", (r, meta) => m.getConversationsHasReadAndMaxSeq(r, meta), { envelope: true }));
  handlers.set(Req.PullConvLastMessage, unary(GetLastMessageReqSchema, GetLastMessageRespSchema, "GetLastMessage", (r, meta) => m.getLastMessage(r, meta)));

  handlers.set(Req.LogoutMsg, async ({ conn, req, meta }) => {
    const after = () => deps.close(conn, Disconnects.logout.code, Disconnects.logout.reason);
    try {
      await call(backend.pushTokens.delUserPushToken(decode(DelUserPushTokenReqSchema, req.data), meta), meta, "DelUserPushToken");
      return { data: new Uint8Array(0), after };
    } catch (e) {
      // The connection closes after the reply whether the RPC succeeded or not (§3.1 2003).
      return { error: toCodeError(e), after };
    }
  });

  handlers.set(Req.SetBackgroundStatus, async ({ conn, req }) => {
    requireEnvelope(req);
    const r = decode(SetAppBackgroundStatusReqSchema, req.data);
    deps.setBackground(conn, r.isBackground);
    return {};
  });

  handlers.set(Req.SubUserOnlineStatus, async ({ conn, req, meta }) => {
    const r = decode(SubUserOnlineStatusSchema, req.data);
    const elems = await call(deps.subscribe(conn, r.subscribeUserID, r.unsubscribeUserID), meta, "SubUserOnlineStatus");
    const tips = create(SubUserOnlineStatusTipsSchema, {
      subscribers: elems.map((e) => ({ userID: e.userID, onlinePlatformIDs: e.platformIDs })),
    });
    return { data: toBinary(SubUserOnlineStatusTipsSchema, tips) };
  });

  return handlers;
}

export function metaFor(conn: Conn, req: WireReq): CallMeta {
  return { operationID: req.operationID, opUserID: req.sendID, platform: platformName(conn.platformID), connID: conn.connID };
}
