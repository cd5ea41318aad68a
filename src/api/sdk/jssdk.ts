// The JS SDK's conversation list routes (/jssdk/*), as OpenIM's api serves them (internal/api/jssdk): a protobuf
// request (Content-Type application/x-protobuf) is answered with the protobuf response in `data` (base64, as Go's
// encoding/json writes bytes); a JSON request with JSON. Each conversation with its newest message, the peer's or
// group's record, its max and read seqs; the unread count over all of them.
import { type MessageInitShape, create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  ConversationMsgSchema, GetActiveConversationsReqSchema, GetActiveConversationsRespSchema, GetConversationsReqSchema, GetConversationsRespSchema,
} from "../../gen/openim/jssdk/jssdk_pb.js";
import type { MsgData } from "../../gen/openim/sdkws/sdkws_pb.js";
import type { UserConversation } from "../../backend/directory.js";
import { ErrCode, codeError } from "../../protocol/errors.js";
import { decodeBody } from "../envelope.js";
import { type SdkCaller, type SdkDeps, MAX_IDS, capIDs, needSelf } from "./common.js";
import { conversationOf } from "./conversations.js";

/** A /jssdk route: the body's bytes and whether they are protobuf → OpenIM's `data`. */
export type JssdkRoute = (body: Uint8Array, protobuf: boolean, c: SdkCaller) => Promise<unknown>;

/** A MsgData as Go's encoding/json writes OpenIM's struct: bytes in base64, int64s as numbers. */
function msgJson(m: MsgData): Record<string, unknown> {
  const { $typeName: _, $unknown: __, content, seq, sendTime, createTime, offlinePushInfo, ...rest } = m as MsgData & { $unknown?: unknown };
  return {
    ...rest, content: Buffer.from(content).toString("base64"), seq: Number(seq), sendTime: Number(sendTime), createTime: Number(createTime),
    offlinePushInfo: offlinePushInfo && { ...offlinePushInfo, $typeName: undefined },
  };
}

function decodeProto<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw codeError(ErrCode.Args, `the body is not the route's protobuf message: ${(e as Error).message}`);
  }
}

/** OpenIM's active-conversation default and ceiling (maxGetActiveConversation). */
const DEFAULT_ACTIVE = 100;
const MAX_ACTIVE = 500;

export function jssdkRoutes(deps: SdkDeps): Record<string, JssdkRoute> {
  const { directory, store } = deps;
  type Entry = Awaited<ReturnType<typeof entry>>;
  const entry = async (owner: string, c: UserConversation) => {
    const conv = conversationOf(owner, c);
    const [lastMsg, user, group] = await Promise.all([
      store.last(c.conversationID),
      conv.userID ? Promise.resolve(directory.users([conv.userID])).then((u) => u[0]) : undefined,
      conv.groupID ? Promise.resolve(directory.groups([conv.groupID])).then((g) => g[0]) : undefined,
    ]);
    return { conversation: conv, lastMsg, user, group, maxSeq: c.maxSeq, readSeq: c.hasReadSeq };
  };
  /** As OpenIM: conversations without a message are left out; the unread count covers every conversation. */
  const answer = async (owner: string, listed: UserConversation[], counted: UserConversation[]) => ({
    unreadCount: counted.reduce((n, c) => n + Math.max(0, c.maxSeq - c.hasReadSeq), 0),
    conversations: (await Promise.all(listed.filter((x) => x.maxSeq > 0).map((x) => entry(owner, x)))).filter((e) => e.lastMsg),
  });
  const asProto = (e: Entry): MessageInitShape<typeof ConversationMsgSchema> => ({
    conversation: { ...e.conversation, minSeq: BigInt(e.conversation.minSeq), maxSeq: BigInt(e.conversation.maxSeq), msgDestructTime: BigInt(e.conversation.msgDestructTime), latestMsgDestructTime: 0n },
    lastMsg: e.lastMsg, user: e.user && { ...e.user, createTime: BigInt(e.user.createTime) },
    group: e.group && { ...e.group, createTime: BigInt(e.group.createTime), notificationUpdateTime: BigInt(e.group.notificationUpdateTime) },
    maxSeq: BigInt(e.maxSeq), readSeq: BigInt(e.readSeq),
  });
  const asJson = (e: Entry) => ({ ...e, lastMsg: e.lastMsg && msgJson(e.lastMsg) });
  /** The answer as the request came: base64 protobuf of `schema`, or JSON (both responses have the same fields). */
  const encode = (schema: typeof GetActiveConversationsRespSchema | typeof GetConversationsRespSchema, r: Awaited<ReturnType<typeof answer>>, protobuf: boolean) =>
    protobuf
      ? Buffer.from(toBinary(schema as typeof GetConversationsRespSchema, create(schema as typeof GetConversationsRespSchema,
        { unreadCount: BigInt(r.unreadCount), conversations: r.conversations.map(asProto) }))).toString("base64")
      : { unreadCount: r.unreadCount, conversations: r.conversations.map(asJson) };

  return {
    async "/jssdk/get_active_conversations"(body, protobuf, c) {
      const req = protobuf ? decodeProto(() => fromBinary(GetActiveConversationsReqSchema, body))
        : decodeBody(new TextDecoder().decode(body), "GetActiveConversationsReq", { ownerUserID: "string", count: "int64" });
      // OpenIM answers for the caller, whatever ownerUserID says.
      const owner = c.userID;
      const n = Number(req.count);
      const count = n <= 0 || n > MAX_ACTIVE ? DEFAULT_ACTIVE : n;
      const all = await directory.conversations(owner);
      // Pinned first, then by the newest message (the directory's order).
      const sorted = [...all.filter((x) => x.settings.isPinned === true), ...all.filter((x) => x.settings.isPinned !== true)];
      return encode(GetActiveConversationsRespSchema, await answer(owner, sorted.filter((x) => x.maxSeq > 0).slice(0, count), all), protobuf);
    },
    async "/jssdk/get_conversations"(body, protobuf, c) {
      const req = protobuf ? decodeProto(() => fromBinary(GetConversationsReqSchema, body))
        : decodeBody(new TextDecoder().decode(body), "GetConversationsReq", { ownerUserID: "string", conversationIDs: "string[]" });
      const owner = c.userID;
      if (req.ownerUserID) needSelf(c, req.ownerUserID);
      const want = new Set(capIDs(req.conversationIDs, "conversationIDs"));
      const found = (await directory.conversations(owner)).filter((x) => want.has(x.conversationID));
      return encode(GetConversationsRespSchema, await answer(owner, found, found), protobuf);
    },
  };
}
