import type { Directory } from "../directory.js";

// What the event loop and the store worker say to each other: one typed request per store operation, answered
// by id. Both sides batch what one turn produces into one postMessage ({requests} / {replies}). Only plain data
// crosses (strings, numbers, Uint8Array): messages travel as their stored protobuf bytes. Sends do not cross:
// the event loop commits them itself (writer.ts).

/** Operation → [arguments, result]. */
export interface StoreOps {
  maxSeqs: [{ userID: string }, { max: [string, number][]; min: [string, number][] }];
  bounds: [{ conversationID: string }, { minSeq: number; maxSeq: number }];
  readRaw: [{ conversationID: string; seqs: number[] }, (Uint8Array | null)[]];
  last: [{ conversationID: string }, Uint8Array | null];
  seqInfo: [{ userID: string; conversationID: string }, { maxSeq: number; hasReadSeq: number; maxSeqTime: number }];
  userConversationIDs: [{ userID: string }, string[]];
  isMember: [{ userID: string; conversationID: string }, boolean];
  memberConversations: [{ userID: string; conversationIDs: string[] }, string[]];
  setHasReadSeq: [{ userID: string; conversationID: string; seq: number }, null];
  groupMembers: [{ groupID: string }, string[]];
  setGroup: [{ groupID: string; userIDs: string[] }, null];
  listGroups: [{}, { groupID: string; userIDs: string[] }[]];
  prune: [{ maxAgeMs: number; maxPerConversation: number }, number];
  checkInToken: [{ token: string; userID: string; platformID: number }, number | null];
  invalidateOthers: [{ preservedToken: string; userID: string; platformID: number }, null];
  kickTokens: [{ tokens: string[] }, null];
  kickAllTokens: [{ userID: string; platformID: number }, null];
  sweepTokens: [{}, number];
  /** What the store thread keeps in memory (bounded caches): read by the hostile-client tests to prove the bounds hold. */
  cacheStats: [{}, { conversations: number; memberships: number }];
  /** One call of the directory (users, groups, conversation settings) by method name: its arguments and result are plain data. */
  directory: [{ method: DirectoryMethod; args: unknown[] }, unknown];
}

export type DirectoryMethod = keyof Directory;

export type StoreOp = keyof StoreOps;
export type Args<K extends StoreOp> = StoreOps[K][0];
export type Result<K extends StoreOp> = StoreOps[K][1];

export interface StoreRequest<K extends StoreOp = StoreOp> {
  id: number;
  op: K;
  args: Args<K>;
  /** Whose turn it is on: the store thread serves its lanes (one per user) in turn, so no user holds it. */
  lane: string;
}

/** An error carries OpenIM's business code (500 when the store itself failed). */
export type StoreReply = { id: number; ok: true; value: unknown } | { id: number; ok: false; code: number; msg: string; detail?: string };

/** Event loop → worker. */
export type ToWorker = { open: { dataDir: string } } | { requests: StoreRequest[]; cancel?: number[] } | { close: true };
/** Worker → event loop. */
export type FromWorker = { opened: true } | { fatal: string } | { replies: StoreReply[] } | { closed: true };
