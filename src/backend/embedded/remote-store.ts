// The embedded conversation store as the event loop sees it: sends commit on the event loop (writer.ts); every
// other operation is a call to the store worker (store-worker.ts), so none of them blocks the loop. Messages
// cross as their stored bytes and are decoded here.
import { fromBinary } from "@bufbuild/protobuf";
import { type MsgData, MsgDataSchema } from "../../gen/openim/sdkws/sdkws_pb.js";
import type { ConversationStore, SendResult } from "../conversations.js";
import type { StoreCtx } from "../ports.js";
import type { TokenStates } from "./auth.js";
import type { StoreClient } from "./store-client.js";
import type { MessageStore } from "./store.js";
import type { DirectoryMethod } from "./store-protocol.js";
import type { Directory } from "../directory.js";
import { apiCaller } from "../lane.js";

const decode = (d: Uint8Array) => fromBinary(MsgDataSchema, d);

export class RemoteStore implements ConversationStore {
  /** Called with each committed send in its reply's continuation (storedDeliveries delivers it after the reply). */
  onStored: (result: SendResult) => void = () => {};

  /** `writer`: the event loop's own store, which commits the sends (and only they go there). */
  constructor(
    private readonly client: StoreClient,
    private readonly writer: MessageStore,
  ) {}

  /** Never dropped once asked for (it may commit): a send takes no AbortSignal. */
  async send(msg: MsgData, opUserID: string, operationID: string): Promise<SendResult> {
    const result = await this.writer.send(msg, opUserID, operationID);
    this.onStored(result);
    return result;
  }

  async maxSeqs(userID: string, ctx?: StoreCtx) {
    const r = await this.client.call("maxSeqs", { userID }, ctx);
    const big = (l: [string, number][]) => new Map(l.map(([k, v]) => [k, BigInt(v)] as const));
    return { max: big(r.max), min: big(r.min) };
  }

  bounds(conversationID: string, ctx?: StoreCtx) {
    return this.client.call("bounds", { conversationID }, ctx);
  }

  async readRaw(conversationID: string, seqs: number[], ctx?: StoreCtx) {
    return (await this.client.call("readRaw", { conversationID, seqs }, ctx)).map((d) => d ?? undefined);
  }

  async last(conversationID: string, ctx?: StoreCtx) {
    const d = await this.client.call("last", { conversationID }, ctx);
    return d ? decode(d) : undefined;
  }

  seqInfo(userID: string, conversationID: string, ctx?: StoreCtx) {
    return this.client.call("seqInfo", { userID, conversationID }, ctx);
  }

  userConversationIDs(userID: string, ctx?: StoreCtx) {
    return this.client.call("userConversationIDs", { userID }, ctx);
  }

  isMember(userID: string, conversationID: string) {
    return this.client.call("isMember", { userID, conversationID });
  }

  memberConversations(userID: string, conversationIDs: string[], ctx?: StoreCtx) {
    return this.client.call("memberConversations", { userID, conversationIDs }, ctx);
  }

  async setHasReadSeq(userID: string, conversationID: string, seq: number) {
    await this.client.call("setHasReadSeq", { userID, conversationID, seq });
  }

  groupMembers(groupID: string) {
    return this.client.call("groupMembers", { groupID });
  }

  async setGroup(groupID: string, userIDs: string[]) {
    await this.client.call("setGroup", { groupID, userIDs });
  }

  listGroups() {
    return this.client.call("listGroups", {});
  }

  prune(maxAgeMs: number, maxPerConversation: number) {
    return this.client.call("prune", { maxAgeMs, maxPerConversation });
  }
}

/** `recorded`: a token's state as the event loop can read it itself (writer.ts); a token it knows (a reconnect, a
 *  kicked one) needs no round trip to the store thread, only one used for the first time (which records it). */
export function remoteTokenStates(client: StoreClient, recorded?: (token: string) => number | undefined): TokenStates {
  return {
    checkIn: async (token, userID, platformID) =>
      recorded?.(token) ?? (await client.call("checkInToken", { token, userID, platformID })) ?? undefined,
    invalidateOthers: async (preservedToken, userID, platformID) => void (await client.call("invalidateOthers", { preservedToken, userID, platformID })),
    kick: async (tokens) => void (await client.call("kickTokens", { tokens })),
    kickAll: async (userID, platformID) => void (await client.call("kickAllTokens", { userID, platformID })),
  };
}

const DIRECTORY_METHODS = [
  "syncVersion", "syncChanges", "users", "setUser", "groups", "joinedGroupIDs", "members", "createGroup", "setGroup", "addMembers", "removeMembers", "dismissGroup",
  "conversations", "setConversation",
] as const satisfies readonly DirectoryMethod[];

/** The directory on the store thread: each method one call, in the API caller's lane (one user cannot hold the thread). */
export function remoteDirectory(client: StoreClient): Directory {
  return Object.fromEntries(DIRECTORY_METHODS.map((method) => [method,
    (...args: unknown[]) => client.call("directory", { method, args }, { lane: apiCaller.getStore() ?? "" })])) as unknown as Directory;
}
