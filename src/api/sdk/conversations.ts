// OpenIM's conversation routes and the read marks (open-im-server internal/api/conversation.go, msg.go): a user's
// conversations are those the message store made them a member of, with its seqs and read marks and the user's
// own settings (pinned, recvMsgOpt, ex, …); marking one read tells the user's other devices and, in a 1:1, the peer.
import { create } from "@bufbuild/protobuf";
import { GetConversationsHasReadAndMaxSeqReqSchema } from "../../gen/openim/msg/msg_pb.js";
import type { UserConversation } from "../../backend/directory.js";
import { ErrCode, codeError } from "../../protocol/errors.js";
import { decodeBody } from "../envelope.js";
import { NotificationType, VERSION_FIELDS, fullIDsVersion, incrementalAnswer, type Notifier, type SdkCaller, type SdkDeps, type SdkRoute, callMeta, capIDs, needSelf, page, unwrapped } from "./common.js";

const TYPE_BY_PREFIX: Record<string, number> = { si: 1, g: 2, sg: 3, sn: 4 };
/** What set_conversations may set, with its JSON type (OpenIM's ConversationReq; the Go core wraps each in {value}). */
const SETTABLE: Record<string, "boolean" | "number" | "string"> = {
  recvMsgOpt: "number", isPinned: "boolean", attachedInfo: "string", isPrivateChat: "boolean", groupAtType: "number", ex: "string",
  burnDuration: "number", msgDestructTime: "number", isMsgDestruct: "boolean",
};

/** Seqs one read receipt names at most. */
const MAX_RECEIPT_SEQS = 1000;

/** The other user of the owner's 1:1 conversation ID (user IDs may hold "_": the owner's ID tells where it splits). */
export function peerOf(owner: string, conversationID: string): string {
  const pair = conversationID.slice(conversationID.indexOf("_") + 1);
  if (pair.startsWith(owner + "_")) return pair.slice(owner.length + 1);
  if (pair.endsWith("_" + owner)) return pair.slice(0, pair.length - owner.length - 1);
  return "";
}

/** OpenIM's conversation.Conversation for the owner. */
export function conversationOf(owner: string, c: Pick<UserConversation, "conversationID" | "maxSeq" | "minSeq" | "settings">) {
  const prefix = c.conversationID.slice(0, c.conversationID.indexOf("_"));
  const type = TYPE_BY_PREFIX[prefix] ?? 0;
  const s = c.settings;
  return {
    ownerUserID: owner, conversationID: c.conversationID, recvMsgOpt: Number(s.recvMsgOpt ?? 0), conversationType: type,
    userID: type === 1 || type === 4 ? peerOf(owner, c.conversationID) : "", groupID: type === 2 || type === 3 ? c.conversationID.slice(prefix.length + 1) : "",
    isPinned: s.isPinned === true, attachedInfo: String(s.attachedInfo ?? ""), isPrivateChat: s.isPrivateChat === true, groupAtType: Number(s.groupAtType ?? 0),
    ex: String(s.ex ?? ""), burnDuration: Number(s.burnDuration ?? 0), minSeq: c.minSeq, maxSeq: c.maxSeq, msgDestructTime: Number(s.msgDestructTime ?? 0),
    latestMsgDestructTime: 0, isMsgDestruct: s.isMsgDestruct === true,
  };
}

function settingsOf(raw: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, kind] of Object.entries(SETTABLE)) {
    const v = unwrapped(raw[k], kind, `conversation.${k}`);
    if (v !== undefined) out[k] = v;
  }
  return out;
}

export function conversationRoutes(deps: SdkDeps, notify: Notifier): Record<string, SdkRoute> {
  const { directory, store, messages } = deps;
  const listOf = async (userID: string) => (await directory.conversations(userID)).map((c) => conversationOf(userID, c));

  const hasReadAndMaxSeq: SdkRoute = async (body, c) => {
    const req = decodeBody(body, "GetConversationsHasReadAndMaxSeqReq", { userID: "string", conversationIDs: "string[]", returnPinned: "bool" });
    needSelf(c, req.userID);
    // Without IDs: the user's conversations (OpenIM's conversation records), not the n_ ones notifications live in.
    const listed = req.conversationIDs.length === 0 || req.returnPinned ? await listOf(req.userID) : [];
    const ids = req.conversationIDs.length ? capIDs(req.conversationIDs, "conversationIDs") : listed.map((x) => x.conversationID);
    if (ids.length === 0) return { seqs: {}, pinnedConversationIDs: [] };
    const r = await messages.getConversationsHasReadAndMaxSeq(
      create(GetConversationsHasReadAndMaxSeqReqSchema, { userID: req.userID, conversationIDs: ids }), callMeta(c, c.admin ? req.userID : c.userID));
    const seqs = Object.fromEntries(Object.entries(r.seqs).map(([id, s]) => [id, { maxSeq: Number(s.maxSeq), hasReadSeq: Number(s.hasReadSeq), maxSeqTime: Number(s.maxSeqTime) }]));
    const pinned = req.returnPinned ? listed.filter((x) => x.isPinned).map((x) => x.conversationID) : [];
    return { seqs, pinnedConversationIDs: pinned };
  };

  /** Moves the user's read mark up (never down, never past the newest message) and tells whoever OpenIM tells. */
  async function markRead(c: SdkCaller, userID: string, conversationID: string, hasReadSeq: number, seqs: number[]) {
    needSelf(c, userID);
    if (!conversationID) throw codeError(ErrCode.Args, "conversationID is empty");
    if (!(await store.isMember(userID, conversationID))) throw codeError(ErrCode.RecordNotFound, `${userID} has no conversation ${conversationID}`);
    const now = await store.seqInfo(userID, conversationID);
    const target = Math.min(Math.max(hasReadSeq, ...seqs, 0), now.maxSeq);
    const marked = new Set(seqs.filter((s) => s > 0 && s <= now.maxSeq));
    const single = conversationID.startsWith("si_");
    // OpenIM lists every seq the mark passes; the newest MAX_RECEIPT_SEQS of them are enough for the peer's
    // read receipts (a first read of a long conversation would otherwise make a notification of any size).
    if (single) for (let s = Math.max(now.hasReadSeq + 1, target - MAX_RECEIPT_SEQS + 1); s <= target; s++) marked.add(s);
    if (target > now.hasReadSeq) await store.setHasReadSeq(userID, conversationID, target);
    const listed = [...marked].sort((a, b) => a - b).slice(-MAX_RECEIPT_SEQS);
    const tips = { markAsReadUserID: userID, conversationID, seqs: listed, hasReadSeq: Math.max(target, now.hasReadSeq) };
    const peer = single ? peerOf(userID, conversationID) : "";
    // 1:1: stored for the peer (its read receipts) and synced to the user's devices; otherwise only the user's devices.
    if (peer && peer !== userID) await notify.stored(NotificationType.HasReadReceipt, userID, peer, tips, c);
    else await notify.online(NotificationType.HasReadReceipt, 1, userID, userID, tips, [userID], c.operationID);
  }

  return {
    async "/conversation/get_incremental_conversations"(body, c) {
      const req = decodeBody(body, "GetIncrementalConversationReq", { userID: "string", ...VERSION_FIELDS });
      needSelf(c, req.userID);
      // The log holds settings changes; a conversation a message made reaches the SDKs with the message.
      return incrementalAnswer(directory, "conversations", req.userID, req,
        async (ids) => (await listOf(req.userID)).filter((x) => ids.includes(x.conversationID)), () => listOf(req.userID));
    },
    async "/conversation/get_full_conversation_ids"(body, c) {
      const req = decodeBody(body, "GetFullOwnerConversationIDsReq", { userID: "string" });
      needSelf(c, req.userID);
      return { ...(await fullIDsVersion(directory, "conversations", req.userID)), conversationIDs: (await listOf(req.userID)).map((x) => x.conversationID) };
    },
    async "/conversation/get_all_conversations"(body, c) {
      const req = decodeBody(body, "GetAllConversationsReq", { ownerUserID: "string" });
      needSelf(c, req.ownerUserID);
      return { conversations: await listOf(req.ownerUserID) };
    },
    async "/conversation/get_owner_conversation"(body, c) {
      const req = decodeBody(body, "GetOwnerConversationReq", { userID: "string", pagination: "object" });
      needSelf(c, req.userID);
      const all = await listOf(req.userID);
      return { total: all.length, conversations: page(all, req.pagination) };
    },
    async "/conversation/get_conversations"(body, c) {
      const req = decodeBody(body, "GetConversationsReq", { ownerUserID: "string", conversationIDs: "string[]" });
      needSelf(c, req.ownerUserID);
      const want = new Set(capIDs(req.conversationIDs, "conversationIDs"));
      return { conversations: (await listOf(req.ownerUserID)).filter((x) => want.has(x.conversationID)) };
    },
    async "/conversation/get_not_notify_conversation_ids"(body, c) {
      const req = decodeBody(body, "GetNotNotifyConversationIDsReq", { userID: "string" });
      needSelf(c, req.userID);
      return { conversationIDs: (await listOf(req.userID)).filter((x) => x.recvMsgOpt !== 0).map((x) => x.conversationID) };
    },
    async "/conversation/get_pinned_conversation_ids"(body, c) {
      const req = decodeBody(body, "GetPinnedConversationIDsReq", { userID: "string" });
      needSelf(c, req.userID);
      return { conversationIDs: (await listOf(req.userID)).filter((x) => x.isPinned).map((x) => x.conversationID) };
    },
    // Conversation groups (folders) are not kept: none.
    async "/conversation/get_conversation_groups"() {
      return { conversationGroups: [] };
    },
    async "/conversation/set_conversations"(body, c) {
      const req = decodeBody(body, "SetConversationsReq", { userIDs: "string[]", conversation: "object" });
      const conv = (req.conversation ?? {}) as Record<string, unknown>;
      const conversationID = typeof conv.conversationID === "string" ? conv.conversationID : "";
      if (!conversationID) throw codeError(ErrCode.Args, "conversation.conversationID is empty");
      const users = capIDs(req.userIDs.length ? req.userIDs : [c.userID], "userIDs");
      for (const u of users) needSelf(c, u);
      const settings = settingsOf(conv);
      for (const u of users) {
        if (!(await store.isMember(u, conversationID))) throw codeError(ErrCode.RecordNotFound, `${u} has no conversation ${conversationID}`);
        await directory.setConversation(u, conversationID, settings);
        // The user's other devices read the change (OpenIM's ConversationChangeNotification).
        await notify.online(NotificationType.ConversationChanged, 1, c.userID, u, { userID: u, conversationIDList: [conversationID] }, [u], c.operationID);
      }
      return {};
    },
    "/conversation/get_conversations_has_read_and_max_seq": hasReadAndMaxSeq,
    "/msg/get_conversations_has_read_and_max_seq": hasReadAndMaxSeq,
    async "/msg/mark_conversation_as_read"(body, c) {
      const req = decodeBody(body, "MarkConversationAsReadReq", { conversationID: "string", userID: "string", hasReadSeq: "int64", seqs: "any" });
      await markRead(c, req.userID, req.conversationID, req.hasReadSeq, seqList(req.seqs));
      return {};
    },
    async "/msg/mark_msgs_as_read"(body, c) {
      const req = decodeBody(body, "MarkMsgsAsReadReq", { conversationID: "string", userID: "string", seqs: "any" });
      const seqs = seqList(req.seqs);
      if (seqs.length === 0) throw codeError(ErrCode.Args, "seqs is empty");
      await markRead(c, req.userID, req.conversationID, 0, seqs);
      return {};
    },
    async "/msg/set_conversation_has_read_seq"(body, c) {
      const req = decodeBody(body, "SetConversationHasReadSeqReq", { conversationID: "string", userID: "string", hasReadSeq: "int64" });
      await markRead(c, req.userID, req.conversationID, req.hasReadSeq, []);
      return {};
    },
  };
}

/** A list of seqs as OpenIM's JSON carries them (numbers; null for none). */
function seqList(v: unknown): number[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || !v.every((s) => Number.isSafeInteger(s))) throw codeError(ErrCode.Args, "seqs must be a list of integers");
  if (v.length > 10_000) throw codeError(ErrCode.Args, "at most 10000 seqs per call");
  return v as number[];
}
