// The message service behind 1001/1002/1003/1005/1006/1007, over any conversation store (SQLite for the
// embedded shape, Redis for the cluster shape). The rules here are OpenIM's msg service rules (§3.1).
import { create, toBinary } from "@bufbuild/protobuf";
import { WireType } from "@bufbuild/protobuf/wire";
import { randomBytes } from "node:crypto";
import {
  GetConversationsHasReadAndMaxSeqRespSchema, GetLastMessageRespSchema, GetSeqMessageRespSchema, SendMsgRespSchema, SeqsSchema,
} from "../gen/openim/msg/msg_pb.js";
import {
  GetMaxSeqRespSchema, type MsgData, MsgDataSchema, PullMessageBySeqsRespSchema, PullOrder, type PullMsgs, PullMsgsSchema,
} from "../gen/openim/sdkws/sdkws_pb.js";
import { isNotificationConversation } from "../protocol/conversation.js";
import { ContentType, MsgStatus, SessionType } from "../protocol/constants.js";
import { CodeError, ErrCode, codeError } from "../protocol/errors.js";
import type { CallMeta, ConversationStore, MessagePort, SendResult, StoreCtx } from "./ports.js";

export type { ConversationStore, SendResult } from "./ports.js";

export const GroupErr = { NotFound: 1201, NotInGroup: 1203 } as const;

/**
 * Memberships a store remembers having written (to skip rewriting them on every message). A cache, not the truth:
 * past this many entries it starts over, which costs only a few repeated writes, so it cannot grow without bound.
 */
export const MEMBERSHIP_CACHE_MAX = 1_000_000;

/** Adds `key` to a membership cache of at most `max` entries (cleared when full). */
export function rememberMembership(cache: Set<string>, key: string, max = MEMBERSHIP_CACHE_MAX): void {
  if (cache.size >= max) cache.clear();
  cache.add(key);
}

/**
 * A send's result from its stored message: what every store answers, for a new message (its recipients get the
 * push) and for a resend of a stored one (duplicate, nothing to deliver). `seq` defaults to the message's.
 */
export function sendResult(msg: MsgData, conversationID: string, operationID: string, o: { recipients: string[]; duplicate: boolean; seq?: bigint }): SendResult {
  return {
    serverMsgID: msg.serverMsgID, clientMsgID: msg.clientMsgID, sendTime: msg.sendTime, seq: o.seq ?? msg.seq, conversationID, msg,
    recipients: o.recipients, duplicate: o.duplicate, operationID,
  };
}

/** A 53-bit hash of (sendID, clientMsgID): the stores' idempotency index key (exact match is re-checked on lookup). */
export function clientKey(sendID: string, clientMsgID: string): number {
  return Number(Bun.hash(`${sendID}\u0000${clientMsgID}`) >> 11n);
}

/** SendMsg's request checks (§3.1 1003): sender is the caller, content present, sessionType/contentType rule. */
export function validateSend(msg: MsgData, opUserID: string): void {
  if (!msg.sendID) throw codeError(ErrCode.Args, "sendID is empty");
  if (msg.sendID !== opUserID) throw codeError(ErrCode.NoPermission, "sendID is not the connection's user");
  if (msg.content.length === 0) throw codeError(ErrCode.Args, "content is empty");
  if ((msg.sessionType === SessionType.Notification) !== (msg.contentType === ContentType.OANotification))
    throw codeError(ErrCode.Args, "sessionType 4 goes with contentType 1400 only");
  switch (msg.sessionType) {
    case SessionType.Single:
    case SessionType.Notification:
      if (!msg.recvID) throw codeError(ErrCode.Args, "recvID is empty");
      return;
    case SessionType.WriteGroup:
    case SessionType.ReadGroup:
      if (!msg.groupID) throw codeError(ErrCode.Args, "groupID is empty");
      return;
    default:
      throw codeError(ErrCode.Args, `sessionType ${msg.sessionType} is not supported`);
  }
}

export function isGroupMessage(msg: MsgData): boolean {
  return msg.sessionType === SessionType.WriteGroup || msg.sessionType === SessionType.ReadGroup;
}

/** Who gets the push: group members (the sender must be one), or the pair of a single chat. */
export function recipientsOf(msg: MsgData, groupMembers: string[] | undefined): string[] {
  if (isGroupMessage(msg)) {
    const members = groupMembers ?? [];
    if (members.length === 0) throw new CodeError(GroupErr.NotFound, "GroupIDNotFoundError", `group ${msg.groupID} not found`);
    if (!members.includes(msg.sendID)) throw new CodeError(GroupErr.NotInGroup, "NotInGroupYetError", `${msg.sendID} is not in group ${msg.groupID}`);
    return members;
  }
  return msg.sendID === msg.recvID ? [msg.sendID] : [msg.recvID, msg.sendID];
}

/** What both stores do first with a send: their own copy of the message, checked, with a clientMsgID. */
export function prepareSend(input: MsgData, opUserID: string): MsgData {
  const msg = create(MsgDataSchema, input);
  validateSend(msg, opUserID);
  ensureClientMsgID(msg);
  return msg;
}

/** A message without a clientMsgID gets one, so idempotency and the reply always have one. */
export function ensureClientMsgID(msg: MsgData): void {
  if (!msg.clientMsgID) msg.clientMsgID = randomBytes(16).toString("hex");
}

// serverMsgID: 32 lowercase hex characters like OpenIM's (an MD5 there). Clients only compare it, so it is a
// random 64-bit per-process prefix and a counter: unique across nodes and restarts without hashing per message.
const serverMsgIDPrefix = randomBytes(8).toString("hex");
let serverMsgIDCounter = 0;
export function nextServerMsgID(): string {
  return serverMsgIDPrefix + (++serverMsgIDCounter).toString(16).padStart(16, "0");
}

/** Stamps what the server owns: serverMsgID, sendTime, createTime (if the client left it zero). */
export function stampMessage(msg: MsgData, now: number): void {
  msg.sendTime = BigInt(now);
  if (msg.createTime === 0n) msg.createTime = BigInt(now);
  msg.serverMsgID = nextServerMsgID();
}

/** At most this many seqs per range or conversation in one read (OpenIM has no bound for notification ranges). */
export const MAX_READ_SEQS = 10_000;

/**
 * The seqs a 1002 range returns, by OpenIM's GetMsgBySeqsRange (controller/msg.go): [begin, end] clamped to
 * [minSeq, maxSeq]; when longer than `num`, the **newest** `num` (end − num + 1 … end), whatever the order.
 * The SDKs mark the whole range synced and announce what comes back as new, so the oldest `num` would hide the
 * newest messages. Notification conversations take the whole clamped range (no `num`). Undefined: nothing to return.
 */
export function rangeWindow(
  begin: number, end: number, num: number, bounds: { minSeq: number; maxSeq: number }, notification: boolean,
): { lo: number; hi: number } | undefined {
  const lo = Math.max(begin, bounds.minSeq, 1);
  const hi = Math.min(end, bounds.maxSeq);
  if (hi < lo) return undefined;
  const limit = notification ? MAX_READ_SEQS : Math.min(num, MAX_READ_SEQS);
  if (limit <= 0) return undefined;
  return { lo: Math.max(lo, hi - limit + 1), hi };
}

/** OpenIM answers a seq it cannot find inside the bounds with a placeholder: the seq and status "deleted". */
function placeholder(seq: number): Uint8Array {
  return toBinary(MsgDataSchema, create(MsgDataSchema, { seq: BigInt(seq), status: MsgStatus.HasDeleted }));
}

/**
 * A PullMsgs whose messages are their stored bytes, written as field 1 (`Msgs`) through protobuf-es's unknown
 * fields: the reply carries them as stored, with no decode and re-encode per message (73 ms of event loop for
 * 10,000 messages, measured). On the wire it is the same message; in memory `Msgs` is empty, so code that wants the
 * messages decodes the encoded reply (toBinary, then fromBinary), as a client does.
 */
export function pullMsgs(raw: Uint8Array[], fields: { isEnd: boolean; endSeq?: bigint }): PullMsgs {
  const m = create(PullMsgsSchema, fields);
  m.$unknown = raw.map((data) => ({ no: 1, wireType: WireType.LengthDelimited, data: lengthPrefixed(data) }));
  return m;
}

/** `data` after its length as a protobuf varint: a length-delimited field's value. */
function lengthPrefixed(data: Uint8Array): Uint8Array {
  let n = data.length, size = 1;
  while (n >= 0x80) (n >>>= 7), size++;
  const out = new Uint8Array(size + data.length);
  n = data.length;
  let i = 0;
  while (n >= 0x80) (out[i++] = (n & 0x7f) | 0x80), (n >>>= 7);
  out[i++] = n;
  out.set(data, i);
  return out;
}

const seqList = (lo: number, hi: number) => Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);

/** The conversations a group's members belong to (its plain and notification variants). */
export function groupConversationIDs(groupID: string): string[] {
  return ["sg_" + groupID, "g_" + groupID, "n_" + groupID];
}

/** Asked before a message is stored (the before-send webhooks); a rejection refuses the message with its code. */
export type BeforeSend = (msg: MsgData, meta: CallMeta) => Promise<void>;

/** Per-request caps on reads (ws.maxPullMessages, ws.maxConversationsPerRequest), read at each request. */
export interface ReadLimits {
  maxPullMessages: number;
  maxConversations: number;
}

export const DEFAULT_READ_LIMITS: ReadLimits = { maxPullMessages: MAX_READ_SEQS, maxConversations: 1000 };

/** Seqs one store read asks for at most: a large pull is several reads, each one turn on a shared store thread. */
export const READ_CHUNK = 1000;

export function createMessageService(
  store: ConversationStore, adminUserIDs: string[], beforeSend?: BeforeSend, limits: () => ReadLimits = () => DEFAULT_READ_LIMITS,
): MessagePort {
  const admins = new Set(adminUserIDs);
  /** OpenIM's CheckAccess: a user reads its own data; admins read anyone's. */
  const checkAccess = (userID: string, meta: CallMeta) => {
    if (!userID) throw codeError(ErrCode.Args, "userID is empty");
    if (userID !== meta.opUserID && !admins.has(meta.opUserID)) throw codeError(ErrCode.NoPermission, "no permission for this user");
  };
  /** The store call's turn is the caller's, and it is dropped if the request is cancelled before it runs. */
  const ctxOf = (meta: CallMeta): StoreCtx => ({ lane: meta.opUserID, signal: meta.signal });
  /** Between the steps of a request: stop once it was cancelled (deadline passed, connection closed). */
  const alive = (meta: CallMeta) => {
    if (meta.signal?.aborted) throw codeError(ErrCode.ServerInternal, `cancelled: ${(meta.signal.reason as Error)?.message ?? "aborted"}`);
  };
  const capConversations = (n: number, what: string) => {
    const max = limits().maxConversations;
    if (n > max) throw codeError(ErrCode.Args, `${what}: at most ${max} conversations per request, got ${n}`);
  };
  const capMessages = (n: number) => {
    const max = limits().maxPullMessages;
    if (n > max) throw codeError(ErrCode.Args, `at most ${max} messages per pull, asked for ${n}`);
  };
  /** The stored bytes of `seqs` (placeholders where a seq is missing), read READ_CHUNK seqs per store call. */
  const readSeqs = async (conversationID: string, seqs: number[], meta: CallMeta): Promise<Uint8Array[]> => {
    const out: Uint8Array[] = [];
    for (let i = 0; i < seqs.length; i += READ_CHUNK) {
      alive(meta);
      const chunk = seqs.slice(i, i + READ_CHUNK);
      const raw = await store.readRaw(conversationID, chunk, ctxOf(meta));
      chunk.forEach((seq, j) => out.push(raw[j] ?? placeholder(seq)));
    }
    return out;
  };
  const put = (msgs: Record<string, PullMsgs>, notif: Record<string, PullMsgs>, conversationID: string, value: PullMsgs) => {
    (isNotificationConversation(conversationID) ? notif : msgs)[conversationID] = value;
  };

  return {
    async getMaxSeq(req, meta) {
      const userID = req.userID || meta.opUserID;
      checkAccess(userID, meta);
      const { max, min } = await store.maxSeqs(userID, ctxOf(meta));
      return create(GetMaxSeqRespSchema, { maxSeqs: Object.fromEntries(max), minSeqs: Object.fromEntries(min) });
    },
    async pullMessageBySeqs(req, meta) {
      checkAccess(req.userID, meta);
      capConversations(req.seqRanges.length, "seqRanges");
      const resp = create(PullMessageBySeqsRespSchema);
      const desc = req.order === PullOrder.PullOrderDesc;
      // Like OpenIM, a conversation the user cannot read is left out of the answer, not an error for the batch.
      const member = new Set(await store.memberConversations(req.userID, [...new Set(req.seqRanges.map((r) => r.conversationID))], ctxOf(meta)));
      const planned: { conversationID: string; lo: number; hi: number; isEnd: boolean }[] = [];
      let total = 0;
      for (const r of req.seqRanges) {
        if (!member.has(r.conversationID)) continue;
        alive(meta);
        const begin = Number(r.begin), end = Number(r.end);
        const bounds = await store.bounds(r.conversationID, ctxOf(meta));
        const w = rangeWindow(begin, end, Number(r.num), bounds, isNotificationConversation(r.conversationID));
        if (!w) continue;
        total += w.hi - w.lo + 1;
        // isEnd as OpenIM's sync_msg.go: Asc ends when the range reaches maxSeq, Desc when it reaches minSeq.
        planned.push({ conversationID: r.conversationID, ...w, isEnd: desc ? begin <= bounds.minSeq : bounds.maxSeq <= end });
      }
      // Counted on what would be read (after clamping to the bounds), before reading any of it.
      capMessages(total);
      for (const p of planned)
        put(resp.msgs, resp.notificationMsgs, p.conversationID, pullMsgs(await readSeqs(p.conversationID, seqList(p.lo, p.hi), meta), { isEnd: p.isEnd }));
      return resp;
    },
    async sendMsg(req, meta) {
      if (!req.msgData) throw codeError(ErrCode.Args, "msgData is empty");
      if (beforeSend) await beforeSend(req.msgData, meta);
      // A send is never dropped once asked for (it may commit): its turn is the sender's, and it takes no signal
      // (reading one would make the request's AbortSignal for nothing).
      const r = await store.send(req.msgData, meta.opUserID, meta.operationID, { lane: meta.opUserID });
      return create(SendMsgRespSchema, { serverMsgID: r.serverMsgID, clientMsgID: r.clientMsgID, sendTime: r.sendTime });
    },
    async getSeqMessage(req, meta) {
      checkAccess(req.userID, meta);
      capConversations(req.conversations.length, "conversations");
      capMessages(req.conversations.reduce((n, c) => n + c.seqs.length, 0));
      const ids = [...new Set(req.conversations.map((c) => c.conversationID))];
      const member = new Set(await store.memberConversations(req.userID, ids, ctxOf(meta)));
      const denied = ids.find((id) => !member.has(id));
      if (denied !== undefined) throw codeError(ErrCode.NoPermission, `not a member of ${denied}`);
      const resp = create(GetSeqMessageRespSchema);
      const desc = req.order === PullOrder.PullOrderDesc;
      for (const c of req.conversations) {
        alive(meta);
        // OpenIM's GetMessagesBySeqWithBounds: seqs inside the bounds are read in the order asked; one past the
        // bounds in the pull direction marks the end (isEnd, endSeq = the bound).
        const { minSeq, maxSeq } = await store.bounds(c.conversationID, ctxOf(meta));
        const wanted: number[] = [];
        let isEnd = false, endSeq = 0;
        for (const seq of c.seqs.map(Number)) {
          if (seq <= 0) continue;
          if (seq >= minSeq && seq <= maxSeq) wanted.push(seq);
          else if (desc && seq < minSeq) (isEnd = true), (endSeq = minSeq);
          else if (!desc && seq > maxSeq) (isEnd = true), (endSeq = maxSeq);
        }
        put(resp.msgs, resp.notificationMsgs, c.conversationID, pullMsgs(await readSeqs(c.conversationID, wanted, meta), { isEnd, endSeq: BigInt(endSeq) }));
      }
      return resp;
    },
    async getConversationsHasReadAndMaxSeq(req, meta) {
      checkAccess(req.userID, meta);
      capConversations(req.conversationIDs.length, "conversationIDs");
      // Named conversations are answered only where the user is a member: OpenIM answers for any ID, which tells
      // a stranger who talks to whom, how much and when (docs/compatibility.md).
      const ids = req.conversationIDs.length > 0
        ? await store.memberConversations(req.userID, [...new Set(req.conversationIDs)], ctxOf(meta))
        // Without IDs, OpenIM answers for the user's conversation records: not the n_ conversations notifications
        // live in (the JS SDK lists whatever this names as a conversation).
        : (await store.userConversationIDs(req.userID, ctxOf(meta))).filter((id) => !isNotificationConversation(id));
      const resp = create(GetConversationsHasReadAndMaxSeqRespSchema);
      for (const id of ids) {
        alive(meta);
        const s = await store.seqInfo(req.userID, id, ctxOf(meta));
        resp.seqs[id] = create(SeqsSchema, { maxSeq: BigInt(s.maxSeq), hasReadSeq: BigInt(s.hasReadSeq), maxSeqTime: BigInt(s.maxSeqTime) });
      }
      return resp;
    },
    async getLastMessage(req, meta) {
      checkAccess(req.userID, meta);
      capConversations(req.conversationIDs.length, "conversationIDs");
      const resp = create(GetLastMessageRespSchema);
      for (const id of await store.memberConversations(req.userID, [...new Set(req.conversationIDs)], ctxOf(meta))) {
        alive(meta);
        const m = await store.last(id, ctxOf(meta));
        if (m) resp.msgs[id] = m;
      }
      return resp;
    },
  };
}
