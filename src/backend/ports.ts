// The ports the gateway core calls. The embedded shape implements them in-process; the openim shape with
// gRPC clients of OpenIM's services. Same request/response messages as OpenIM's services (our proto/).
import type { parseTokenResp } from "../gen/openim/auth/auth_pb.js";
import type {
  GetConversationsHasReadAndMaxSeqReq, GetConversationsHasReadAndMaxSeqResp, GetLastMessageReq, GetLastMessageResp,
  GetSeqMessageReq, GetSeqMessageResp, SendMsgReq, SendMsgResp,
} from "../gen/openim/msg/msg_pb.js";
import type { Awaitable, Directory } from "./directory.js";
import type { DelUserPushTokenReq } from "../gen/openim/push/push_pb.js";
import type {
  GetMaxSeqReq, GetMaxSeqResp, MsgData, PullMessageBySeqsReq, PullMessageBySeqsResp,
} from "../gen/openim/sdkws/sdkws_pb.js";

/** What OpenIM sends as gRPC metadata with each call (§2.6). */
export interface CallMeta {
  operationID: string;
  opUserID: string;
  /** Platform name, e.g. "Android". */
  platform: string;
  connID: string;
  signal?: AbortSignal;
}

export interface AuthPort {
  /** `verifiedAt`: where the backend can take the token back as verified when its connection closes (`released`). */
  parseToken(token: string, meta: CallMeta): Promise<Pick<parseTokenResp, "userID" | "platformID" | "expireTimeSeconds"> & { verifiedAt?: number }>;
  /** A connection admitted with this token closed: a backend that can may remember the token for its return. */
  released?(token: string, verifiedAt: number): void;
  invalidateToken(req: { preservedToken: string; userID: string; platformID: number }, meta: CallMeta): Promise<void>;
  kickTokens(tokens: string[], meta: CallMeta): Promise<void>;
}

/** Where imgate issues tokens itself (embedded, cluster): the app-server API's get_user_token and force_logout. */
export interface TokenIssuer {
  /** A signed token for the user on the platform, recorded as normal so a force_logout kicks it before its first use. */
  issue(userID: string, platformID: number, ttlSeconds: number): Promise<string>;
  /** Marks every token recorded for the user on the platform kicked (reconnecting with one fails with 1506). */
  kickAll(userID: string, platformID: number): Promise<void>;
}

export interface MessagePort {
  getMaxSeq(req: GetMaxSeqReq, meta: CallMeta): Promise<GetMaxSeqResp>;
  pullMessageBySeqs(req: PullMessageBySeqsReq, meta: CallMeta): Promise<PullMessageBySeqsResp>;
  sendMsg(req: SendMsgReq, meta: CallMeta): Promise<SendMsgResp>;
  getSeqMessage(req: GetSeqMessageReq, meta: CallMeta): Promise<GetSeqMessageResp>;
  getConversationsHasReadAndMaxSeq(req: GetConversationsHasReadAndMaxSeqReq, meta: CallMeta): Promise<GetConversationsHasReadAndMaxSeqResp>;
  getLastMessage(req: GetLastMessageReq, meta: CallMeta): Promise<GetLastMessageResp>;
}

export interface PushTokenPort {
  delUserPushToken(req: DelUserPushTokenReq, meta: CallMeta): Promise<void>;
}

/** A stored message to deliver to online users (the embedded and cluster shapes are their own push service). */
export type Deliver = (msg: MsgData, userIDs: string[], operationID: string) => void;

export interface Backend {
  auth: AuthPort;
  /** The conversation store (groups, has-read seqs) where this backend owns one (embedded, cluster). */
  store?: ConversationStore;
  /** Users, groups and conversation settings for OpenIM's SDK API, where imgate keeps them (embedded). */
  directory?: Directory;
  messages: MessagePort;
  pushTokens: PushTokenPort;
  /** Where this backend issues tokens (embedded, cluster); the openim shape leaves that to OpenIM's auth service. */
  tokens?: TokenIssuer;
  /** Where imgate stores messages itself: called with each newly stored message, after its reply went out. */
  onStored?(deliver: Deliver): void;
  /** Store calls waiting and the bound past which new ones fail (the stores with a queue: SQLite, PostgreSQL). */
  storeQueue?(): { depth: number; limit: number };
  /** True while the backend can serve requests (readiness). */
  ready(): boolean;
  /** Why it cannot, for /readyz. */
  notReady?(): string | undefined;
  close(): Promise<void>;
}

export type { Awaitable };

export interface SendResult {
  serverMsgID: string;
  clientMsgID: string;
  sendTime: bigint;
  seq: bigint;
  conversationID: string;
  /** The stored message (seq, serverMsgID and sendTime set), for delivery. */
  msg: MsgData;
  /** Users whose devices get the push: recipients and the sender's own devices. */
  recipients: string[];
  /** True when this was a resend of an already stored clientMsgID (nothing new to deliver). */
  duplicate: boolean;
  /** The sender's operationID: pushes of this message carry it (the JS SDK matches its echo by it). */
  operationID: string;
}

/**
 * Who a store call is made for, where the store shares one thread (embedded): calls take turns by `lane` (the
 * user), and a call whose `signal` aborted before it ran is dropped, not run.
 */
export interface StoreCtx {
  lane?: string;
  signal?: AbortSignal;
}

export interface ConversationStore {
  send(msg: MsgData, opUserID: string, operationID: string, ctx?: StoreCtx): Promise<SendResult>;
  maxSeqs(userID: string, ctx?: StoreCtx): Awaitable<{ max: Map<string, bigint>; min: Map<string, bigint> }>;
  /** The conversation's lowest kept and highest seq (0, 0 when it has none). */
  bounds(conversationID: string, ctx?: StoreCtx): Awaitable<{ minSeq: number; maxSeq: number }>;
  /** The stored bytes of each of `seqs`, aligned with it (undefined where there is none): what replies carry as is. */
  readRaw(conversationID: string, seqs: number[], ctx?: StoreCtx): Awaitable<(Uint8Array | undefined)[]>;
  last(conversationID: string, ctx?: StoreCtx): Awaitable<MsgData | undefined>;
  seqInfo(userID: string, conversationID: string, ctx?: StoreCtx): Awaitable<{ maxSeq: number; hasReadSeq: number; maxSeqTime: number }>;
  userConversationIDs(userID: string, ctx?: StoreCtx): Awaitable<string[]>;
  isMember(userID: string, conversationID: string): Awaitable<boolean>;
  /** The ones of `conversationIDs` the user belongs to, in the order given (reads answer only for these). */
  memberConversations(userID: string, conversationIDs: string[], ctx?: StoreCtx): Awaitable<string[]>;
  setHasReadSeq(userID: string, conversationID: string, seq: number): Awaitable<void>;
  groupMembers(groupID: string): Awaitable<string[]>;
  setGroup(groupID: string, userIDs: string[]): Awaitable<void>;
  listGroups(): Awaitable<{ groupID: string; userIDs: string[] }[]>;
}

// ---- online status (presence/ keeps it; the openim shape's user service is one of its stores) ------------------
export interface StatusEntry {
  userID: string;
  online: number[];
  offline: number[];
}

export interface StatusStore {
  /** Applies a batch; resolves once stored. Rejects on failure (the batcher retries). */
  setStatus(entries: StatusEntry[]): Promise<void>;
  /** Platforms online now, per user (absent users map to []). */
  getOnline(userIDs: string[]): Promise<Map<string, number[]>>;
  /** A user's online platform set changed (from any node, where the store is shared). */
  onChange(listener: (userID: string, platformIDs: number[]) => void): void;
  /** Settles once change notifications from other nodes are being received (their subscriptions are in place). */
  listening?(): Promise<void>;
  close(): Promise<void>;
}

/** Redis pub/sub, classic or sharded (implemented in cluster/pubsub.ts). */
export interface PubSub {
  readonly sharded: boolean;
  publish(channel: string, message: Buffer | string): Promise<number>;
  /** Subscribes `channel`; every message on it (the implementation's own probes excluded) goes to `onMessage`. */
  subscribe(channel: string, onMessage: (raw: Buffer) => void): Promise<void>;
  unsubscribe(channel: string): Promise<void>;
  /** Subscriptions found lost and made again. */
  resubscribes(): number;
  close(): Promise<void>;
}
