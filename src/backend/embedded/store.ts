// The embedded message store on bun:sqlite: per-conversation seqs without gaps or duplicates, clientMsgID
// idempotency, group commit (the sends of one tick in one transaction), and the reads behind 1001/1002/
// 1005/1006/1007. Seqs are allocated in memory (one instance per file sends) and rolled back if a commit
// fails, so a failed batch leaves no gap. A batch that finds SQLite's write lock taken waits for it on a
// timer, not inside SQLite, so a store on the event loop (writer.ts) never blocks it on a lock.
import type { Database } from "bun:sqlite";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { type MsgData, MsgDataSchema } from "../../gen/openim/sdkws/sdkws_pb.js";
import { conversationIDOf } from "../../protocol/conversation.js";
import { ErrCode, codeError } from "../../protocol/errors.js";
import {
  type ConversationStore, MEMBERSHIP_CACHE_MAX, type SendResult, clientKey, sendResult, groupConversationIDs, isGroupMessage, recipientsOf,
  prepareSend, rememberMembership, stampMessage,
} from "../conversations.js";

/**
 * A conversation's seqs. `maxSeq`/`maxSeqTime` include sends allocated but not committed yet (the next seq comes
 * from them); reads see only `durableMaxSeq`/`durableMaxSeqTime`, what is committed: a client must never learn of a
 * seq whose commit could still fail (it would pull a "deleted" placeholder there, and never the message that later
 * takes that seq).
 */
interface ConvState {
  maxSeq: number;
  minSeq: number;
  maxSeqTime: number;
  durableMaxSeq: number;
  durableMaxSeqTime: number;
}

interface Pending {
  result: SendResult;
  data: Uint8Array;
  members: string[];
  resolve: (r: SendResult) => void;
  reject: (e: unknown) => void;
}


/** How long before a store's start a message committed by its predecessor is delivered again on a resend. */
export const REDELIVER_WINDOW_MS = 5 * 60_000;

/** Conversations whose seq state the store keeps in memory at most. */
export const MAX_CACHED_CONVERSATIONS = 100_000;

/** Sends committed in one transaction at most: a larger backlog commits over several turns, so a store on the
 *  event loop holds it a few ms at a time (25–50 µs a send in a burst; 200 a turn let its loop lag reach 41 ms). */
export const MAX_COMMIT_BATCH = 64;

export interface MessageStoreOptions {
  /** Entries of the written-membership cache before it starts over. */
  membershipCacheMax?: number;
  /** Conversations whose seq state is cached. */
  maxCachedConvs?: number;
  /** Another instance (the event loop's writer) sends into this file: this one reads seq state from disk, uncached. */
  readsFromDisk?: boolean;
  /** Sends waiting for their commit beyond which a new one fails at once (500). */
  maxPending?: number;
  /** How long a batch waits for a write lock held elsewhere (the store thread, a checkpoint) before it fails (500). */
  lockWaitMs?: number;
}

const isLockBusy = (e: unknown) => (e as { code?: string })?.code?.startsWith("SQLITE_BUSY") === true;

export class MessageStore implements ConversationStore {
  private readonly convs = new Map<string, ConvState>();
  /** Entries in the written-membership cache (bounded by membershipCacheMax). */
  get cachedMemberships(): number {
    return this.knownMembership.size;
  }
  private readonly knownMembership = new Set<string>();
  private readonly pendingByClientID = new Map<string, Promise<SendResult>>();
  private batch: Pending[] = [];
  private scheduled = false;
  /** When the waiting batch first found the write lock taken (0: it did not). */
  private lockWaitSince = 0;
  private rejectedFull = 0;
  private readonly membershipCacheMax: number;
  private readonly maxCachedConvs: number;
  private readonly readsFromDisk: boolean;
  private readonly maxPending: number;
  private readonly lockWaitMs: number;
  private readonly commitTx: (chunk: Pending[], tops: Map<string, [seq: number, time: number]>) => void;

  private readonly q;

  /** When this store started: messages committed before it by an earlier one may be undelivered (undeliveredBefore). */
  private readonly startedAt = Date.now();
  /** Resends already delivered by undeliveredBefore (bounded). */
  private readonly redelivered = new Set<string>();
  /** Conversations with sends not committed yet: never evicted from `convs`. */
  private readonly unflushed = new Set<string>();

  constructor(private readonly db: Database, opts: MessageStoreOptions = {}) {
    this.membershipCacheMax = opts.membershipCacheMax ?? MEMBERSHIP_CACHE_MAX;
    this.maxCachedConvs = opts.maxCachedConvs ?? MAX_CACHED_CONVERSATIONS;
    this.readsFromDisk = opts.readsFromDisk ?? false;
    this.maxPending = opts.maxPending ?? Infinity;
    this.lockWaitMs = opts.lockWaitMs ?? 5000;
    this.q = {
      conv: db.query<{ max_seq: number; min_seq: number; max_seq_time: number }, [string]>(
        "SELECT max_seq, min_seq, max_seq_time FROM conversations WHERE conversation_id = ?"),
      // min_seq only moves up here: a prune on another connection may have moved it past this instance's cache.
      upsertConv: db.query(
        `INSERT INTO conversations (conversation_id, max_seq, min_seq, max_seq_time) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(conversation_id) DO UPDATE SET max_seq = ?2, min_seq = MAX(min_seq, ?3), max_seq_time = ?4`),
      insertMsg: db.query(
        "INSERT INTO messages (conversation_id, seq, send_id, client_msg_id, client_key, send_time, data) VALUES (?, ?, ?, ?, ?, ?, ?)"),
      byClientID: db.query<{ conversation_id: string; seq: number; data: Uint8Array }, [number, string, string]>(
        "SELECT conversation_id, seq, data FROM messages WHERE client_key = ? AND send_id = ? AND client_msg_id = ?"),
      member: db.query("INSERT OR IGNORE INTO user_conversations (user_id, conversation_id) VALUES (?, ?)"),
      isMember: db.query<{ one: number }, [string, string]>(
        "SELECT 1 AS one FROM user_conversations WHERE user_id = ? AND conversation_id = ?"),
      userConvs: db.query<{ conversation_id: string; has_read_seq: number; max_seq: number; min_seq: number; max_seq_time: number }, [string]>(
        `SELECT uc.conversation_id, uc.has_read_seq, c.max_seq, c.min_seq, c.max_seq_time
         FROM user_conversations uc JOIN conversations c ON c.conversation_id = uc.conversation_id WHERE uc.user_id = ?`),
      hasRead: db.query<{ has_read_seq: number }, [string, string]>(
        "SELECT has_read_seq FROM user_conversations WHERE user_id = ? AND conversation_id = ?"),
      // The sender has read what they send (OpenIM's msgtransfer sets it): their unread count leaves it out.
      senderRead: db.query(
        `INSERT INTO user_conversations (user_id, conversation_id, has_read_seq) VALUES (?1, ?2, ?3)
         ON CONFLICT(user_id, conversation_id) DO UPDATE SET has_read_seq = ?3 WHERE has_read_seq < ?3`),
      setHasRead: db.query(
        `INSERT INTO user_conversations (user_id, conversation_id, has_read_seq) VALUES (?1, ?2, ?3)
         ON CONFLICT(user_id, conversation_id) DO UPDATE SET has_read_seq = ?3`),
      one: db.query<{ data: Uint8Array }, [string, number]>("SELECT data FROM messages WHERE conversation_id = ? AND seq = ?"),
      rangeSeq: db.query<{ seq: number; data: Uint8Array }, [string, number, number]>(
        "SELECT seq, data FROM messages WHERE conversation_id = ? AND seq >= ? AND seq <= ?"),
      groupMembers: db.query<{ user_id: string }, [string]>("SELECT user_id FROM group_members WHERE group_id = ? ORDER BY user_id"),
      groups: db.query<{ group_id: string }, []>("SELECT DISTINCT group_id FROM group_members ORDER BY group_id"),
      delGroup: db.query("DELETE FROM group_members WHERE group_id = ?"),
      addGroupMember: db.query("INSERT OR IGNORE INTO group_members (group_id, user_id) VALUES (?, ?)"),
      pruneBefore: db.query("DELETE FROM messages WHERE conversation_id = ? AND seq < ?"),
      allConvs: db.query<{ conversation_id: string; max_seq: number; min_seq: number }, []>(
        "SELECT conversation_id, max_seq, min_seq FROM conversations"),
      oldestKept: db.query<{ seq: number }, [string, number]>(
        "SELECT MIN(seq) AS seq FROM messages WHERE conversation_id = ? AND send_time >= ?"),
      setMin: db.query("UPDATE conversations SET min_seq = ? WHERE conversation_id = ?"),
    };
    // IMMEDIATE: the write lock is taken at BEGIN, so a lock held elsewhere fails the batch before any row is written.
    this.commitTx = db.transaction((chunk: Pending[], tops: Map<string, [seq: number, time: number]>) => {
      const senderRead = new Map<string, [string, string, number]>();
      for (const p of chunk) {
        const r = p.result;
        const seq = Number(r.seq);
        this.q.insertMsg.run(r.conversationID, seq, r.msg.sendID, r.clientMsgID, clientKey(r.msg.sendID, r.clientMsgID), Number(r.sendTime), p.data);
        for (const u of p.members) this.addMember(u, r.conversationID);
        tops.set(r.conversationID, [seq, Number(r.sendTime)]);
        senderRead.set(`${r.msg.sendID}\u0000${r.conversationID}`, [r.msg.sendID, r.conversationID, seq]);
      }
      for (const [u, c, seq] of senderRead.values()) this.q.senderRead.run(u, c, seq);
      // What this transaction makes durable: a later send of the batch may hold a higher seq, not committed yet.
      for (const [id, [seq, time]] of tops) this.q.upsertConv.run(id, seq, this.convs.get(id)!.minSeq, time);
    }).immediate;
  }

  /**
   * A conversation's seq state, cached. The cache is bounded (maxCachedConvs): past it the oldest entries go,
   * except those with sends waiting for their commit (their seqs exist only here until then). A read of a
   * conversation that has no row caches nothing, so made-up IDs cost no memory.
   */
  private conv(id: string, forSend = false): ConvState {
    let s = this.readsFromDisk && !forSend ? undefined : this.convs.get(id);
    if (s) return s;
    const row = this.q.conv.get(id);
    s = row
      ? { maxSeq: row.max_seq, minSeq: row.min_seq, maxSeqTime: row.max_seq_time, durableMaxSeq: row.max_seq, durableMaxSeqTime: row.max_seq_time }
      : { maxSeq: 0, minSeq: 0, maxSeqTime: 0, durableMaxSeq: 0, durableMaxSeqTime: 0 };
    if ((!row || this.readsFromDisk) && !forSend) return s;
    if (this.convs.size >= this.maxCachedConvs) {
      for (const key of this.convs.keys()) {
        if (this.convs.size < this.maxCachedConvs) break;
        if (!this.unflushed.has(key)) this.convs.delete(key);
      }
    }
    this.convs.set(id, s);
    return s;
  }

  /** Conversations cached (bounded by maxCachedConvs). */
  get cachedConversations(): number {
    return this.convs.size;
  }

  // ---- groups --------------------------------------------------------------------------------------

  groupMembers(groupID: string): string[] {
    return this.q.groupMembers.all(groupID).map((r) => r.user_id);
  }

  listGroups(): { groupID: string; userIDs: string[] }[] {
    return this.q.groups.all().map((g) => ({ groupID: g.group_id, userIDs: this.groupMembers(g.group_id) }));
  }

  setGroup(groupID: string, userIDs: string[]): void {
    if (!groupID) throw codeError(ErrCode.Args, "groupID is empty");
    this.db.transaction(() => {
      this.q.delGroup.run(groupID);
      for (const u of new Set(userIDs)) {
        this.q.addGroupMember.run(groupID, u);
        for (const conv of groupConversationIDs(groupID)) this.addMember(u, conv);
      }
    })();
  }

  private addMember(userID: string, conversationID: string): void {
    const key = `${userID}\u0000${conversationID}`;
    if (this.knownMembership.has(key)) return;
    this.q.member.run(userID, conversationID);
    rememberMembership(this.knownMembership, key, this.membershipCacheMax);
  }

  isMember(userID: string, conversationID: string): boolean {
    return this.knownMembership.has(`${userID}\u0000${conversationID}`) || this.q.isMember.get(userID, conversationID) !== null;
  }

  memberConversations(userID: string, conversationIDs: string[]): string[] {
    return conversationIDs.filter((id) => this.isMember(userID, id));
  }

  // ---- send ----------------------------------------------------------------------------------------

  /** Validates, assigns seq/serverMsgID/sendTime and resolves once the message is committed; rejects (never throws) on a bad message. */
  send(input: MsgData, opUserID: string, operationID = ""): Promise<SendResult> {
    try {
      return this.sendOrThrow(input, opUserID, operationID);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  private sendOrThrow(input: MsgData, opUserID: string, operationID: string): Promise<SendResult> {
    const msg = prepareSend(input, opUserID);
    const idKey = `${msg.sendID}\u0000${msg.clientMsgID}`;
    const inFlight = this.pendingByClientID.get(idKey);
    if (inFlight) return inFlight.then((r) => ({ ...r, duplicate: true }));
    const stored = this.q.byClientID.get(clientKey(msg.sendID, msg.clientMsgID), msg.sendID, msg.clientMsgID);
    if (stored) {
      const m = fromBinary(MsgDataSchema, stored.data);
      const recipients = this.undeliveredBefore(idKey, m);
      return Promise.resolve(sendResult(m, stored.conversation_id, operationID, { recipients: recipients ?? [], duplicate: recipients === undefined }));
    }
    if (this.batch.length >= this.maxPending) {
      this.rejectedFull++;
      throw codeError(ErrCode.ServerInternal, `store busy: ${this.batch.length} sends wait for their commit`);
    }
    const members = recipientsOf(msg, isGroupMessage(msg) ? this.groupMembers(msg.groupID) : undefined);
    const conversationID = conversationIDOf(msg);
    const conv = this.conv(conversationID, true);
    this.unflushed.add(conversationID);
    // Strictly later than the conversation's last send: OpenIM's SDKs pick a conversation's latest message by
    // sendTime, and of two sent in the same millisecond kept the older one as "latest" for good.
    const now = Math.max(Date.now(), conv.maxSeqTime + 1);
    conv.maxSeq += 1;
    if (conv.minSeq === 0) conv.minSeq = 1;
    conv.maxSeqTime = now;
    msg.seq = BigInt(conv.maxSeq);
    stampMessage(msg, now);
    const result = sendResult(msg, conversationID, operationID, { recipients: members, duplicate: false });
    const p = new Promise<SendResult>((resolve, reject) => {
      this.batch.push({ result, data: toBinary(MsgDataSchema, msg), members, resolve, reject });
    });
    this.pendingByClientID.set(idKey, p);
    p.then(() => this.pendingByClientID.delete(idKey), () => this.pendingByClientID.delete(idKey));
    this.commitSoon();
    return p;
  }

  /** Sends waiting for their commit, and those refused because too many waited. */
  pending(): { waiting: number; rejectedFull: number; lockWaitMs: number } {
    return { waiting: this.batch.length, rejectedFull: this.rejectedFull, lockWaitMs: this.lockWaitSince ? Date.now() - this.lockWaitSince : 0 };
  }

  /**
   * A resend of a message an earlier store (thread or process) committed shortly before this one started: that one
   * may have died between its commit and its answer, so the message may never have been delivered. The resend
   * delivers it (its recipients), once; any later resend is a plain duplicate. Undefined: a plain duplicate.
   */
  private undeliveredBefore(idKey: string, m: MsgData): string[] | undefined {
    const sent = Number(m.sendTime);
    if (sent >= this.startedAt || sent < this.startedAt - REDELIVER_WINDOW_MS || this.redelivered.has(idKey)) return undefined;
    try {
      const recipients = recipientsOf(m, isGroupMessage(m) ? this.groupMembers(m.groupID) : undefined);
      rememberMembership(this.redelivered, idKey, 10_000);
      return recipients;
    } catch {
      // The group is gone or the sender left it since: nothing to deliver to.
      return undefined;
    }
  }

  /** The next turn commits what waits (after this tick's other sends joined it), or after `ms` (a lock held elsewhere). */
  private commitSoon(ms = 0): void {
    if (this.scheduled) return;
    this.scheduled = true;
    const turn = () => {
      this.scheduled = false;
      if (this.commitChunk() === "locked") this.commitSoon(1);
      else if (this.batch.length > 0) this.commitSoon();
    };
    if (ms > 0) setTimeout(turn, ms);
    else setImmediate(turn);
  }

  /** Commits every waiting send now (closing, tests), sleeping while the write lock is held elsewhere (up to lockWaitMs). */
  flush(): void {
    while (this.batch.length > 0) if (this.commitChunk() === "locked") Bun.sleepSync(1);
  }

  /**
   * Commits the oldest MAX_COMMIT_BATCH waiting sends in one transaction and answers them. "locked": the write lock is
   * held elsewhere and nothing was written; the batch waits (lockWaitMs at most, then it fails with 500).
   */
  private commitChunk(): "done" | "locked" {
    if (this.batch.length === 0) return "done";
    const chunk = this.batch.length <= MAX_COMMIT_BATCH ? this.batch : this.batch.slice(0, MAX_COMMIT_BATCH);
    const tops = new Map<string, [seq: number, time: number]>();
    try {
      this.commitTx(chunk, tops);
    } catch (e) {
      // The transaction rolled back: membership rows it wrote are not there.
      this.knownMembership.clear();
      if (isLockBusy(e)) {
        this.lockWaitSince ||= Date.now();
        if (Date.now() - this.lockWaitSince < this.lockWaitMs) return "locked";
      }
      this.lockWaitSince = 0;
      this.failWaiting(e);
      return "done";
    }
    this.lockWaitSince = 0;
    this.batch = chunk === this.batch ? [] : this.batch.slice(chunk.length);
    // Kept whole while a backlog commits over several turns (a few entries protected a little longer).
    if (this.batch.length === 0) this.unflushed.clear();
    for (const [id, [seq, time]] of tops) {
      const s = this.convs.get(id)!;
      s.durableMaxSeq = seq;
      s.durableMaxSeqTime = time;
    }
    // Deliveries are the event loop's (RemoteStore.onStored, after the replies).
    for (const p of chunk) p.resolve(p.result);
    return "done";
  }

  /** A commit failed: every waiting send fails (500) and the in-memory seqs go back to what is on disk, so no gap. */
  private failWaiting(e: unknown): void {
    const batch = this.batch;
    this.batch = [];
    this.unflushed.clear();
    for (const p of batch) this.convs.delete(p.result.conversationID);
    const err = isLockBusy(e)
      ? codeError(ErrCode.ServerInternal, `store busy: the database was locked for ${this.lockWaitMs} ms`)
      : codeError(ErrCode.ServerInternal, `store: ${(e as Error).message}`);
    for (const p of batch) p.reject(err);
  }

  // ---- reads ---------------------------------------------------------------------------------------

  maxSeqs(userID: string): { max: Map<string, bigint>; min: Map<string, bigint> } {
    const max = new Map<string, bigint>(), min = new Map<string, bigint>();
    // The rows are what is committed (a send's row is written in its batch's transaction).
    for (const r of this.q.userConvs.all(userID)) {
      max.set(r.conversation_id, BigInt(r.max_seq));
      min.set(r.conversation_id, BigInt(r.min_seq));
    }
    return { max, min };
  }

  bounds(conversationID: string): { minSeq: number; maxSeq: number } {
    const { minSeq, durableMaxSeq } = this.conv(conversationID);
    return { minSeq: durableMaxSeq === 0 ? 0 : minSeq, maxSeq: durableMaxSeq };
  }

  last(conversationID: string): MsgData | undefined {
    const d = this.lastRaw(conversationID);
    return d ? fromBinary(MsgDataSchema, d) : undefined;
  }

  // Reads as stored bytes: what the store worker hands to the event loop, and what replies carry as is.
  readRaw(conversationID: string, seqs: number[]): (Uint8Array | undefined)[] {
    if (seqs.length === 0) return [];
    const lo = seqs[0]!, hi = seqs[seqs.length - 1]!;
    // A run of consecutive seqs (a 1002 range) is one range query; anything else is read seq by seq.
    if (hi - lo + 1 === seqs.length && seqs.every((s, i) => s === lo + i)) {
      const out: (Uint8Array | undefined)[] = new Array(seqs.length).fill(undefined);
      for (const r of this.q.rangeSeq.all(conversationID, lo, hi)) out[r.seq - lo] = r.data;
      return out;
    }
    return seqs.map((seq) => this.q.one.get(conversationID, seq)?.data);
  }

  lastRaw(conversationID: string): Uint8Array | undefined {
    const s = this.conv(conversationID);
    if (s.durableMaxSeq === 0) return undefined;
    return this.q.one.get(conversationID, s.durableMaxSeq)?.data;
  }

  seqInfo(userID: string, conversationID: string): { maxSeq: number; hasReadSeq: number; maxSeqTime: number } {
    const s = this.conv(conversationID);
    const hasRead = this.q.hasRead.get(userID, conversationID)?.has_read_seq ?? 0;
    return { maxSeq: s.durableMaxSeq, hasReadSeq: hasRead, maxSeqTime: s.durableMaxSeqTime };
  }

  userConversationIDs(userID: string): string[] {
    return this.q.userConvs.all(userID).map((r) => r.conversation_id);
  }

  setHasReadSeq(userID: string, conversationID: string, seq: number): void {
    this.q.setHasRead.run(userID, conversationID, seq);
    rememberMembership(this.knownMembership, `${userID}\u0000${conversationID}`, this.membershipCacheMax);
  }

  // ---- retention -----------------------------------------------------------------------------------

  /** Drops messages older than maxAgeMs and beyond the newest maxPerConversation; moves min seqs up. */
  prune(maxAgeMs: number, maxPerConversation: number, now = Date.now()): number {
    let removed = 0;
    this.db.transaction(() => {
      for (const c of this.q.allConvs.all()) {
        let keepFrom = c.min_seq;
        if (maxPerConversation > 0) keepFrom = Math.max(keepFrom, c.max_seq - maxPerConversation + 1);
        if (maxAgeMs > 0) {
          const oldest = this.q.oldestKept.get(c.conversation_id, now - maxAgeMs)?.seq;
          keepFrom = Math.max(keepFrom, oldest ?? c.max_seq + 1);
        }
        // Never drop the newest message: clients read max seq and last message from it.
        keepFrom = Math.min(keepFrom, c.max_seq);
        if (keepFrom > c.min_seq) {
          removed += this.q.pruneBefore.run(c.conversation_id, keepFrom).changes;
          this.q.setMin.run(keepFrom, c.conversation_id);
          const live = this.convs.get(c.conversation_id);
          if (live) live.minSeq = keepFrom;
        }
      }
    })();
    return removed;
  }
}
