// The cluster shape's conversation store in PostgreSQL (`postgres.url`): history that outlives Redis's memory, shared
// by every node. Sends of one event-loop turn are stored by one statement (group commit, as the SQLite store's ticks).
// Seqs come from the conversation's row, locked by an upsert in conversation-ID order: nodes sending to the same
// conversation take turns, so seqs have no gaps and no duplicates, and no two batches wait on each other in a cycle.
// The message, its seq and its memberships commit together: a send is either wholly stored or not at all (a resend
// after a failure finds nothing half done). Reads see only what is committed.
import type { SQL } from "bun";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { type MsgData, MsgDataSchema } from "../../gen/openim/sdkws/sdkws_pb.js";
import { conversationIDOf } from "../../protocol/conversation.js";
import { ErrCode, codeError } from "../../protocol/errors.js";
import {
  type ConversationStore, MEMBERSHIP_CACHE_MAX, type SendResult, clientKey, sendResult, groupConversationIDs, isGroupMessage, prepareSend,
  recipientsOf, rememberMembership, stampMessage,
} from "../conversations.js";

export interface PostgresStoreOptions {
  /** Sends waiting for their transaction beyond which a new one fails at once (500): the queue is bounded. */
  maxQueue?: number;
  /** Transactions one node runs at once (each holds a pooled connection). */
  maxConcurrentBatches?: number;
  membershipCacheMax?: number;
  /** The clock of send times and retention (tests give their own). */
  now?: () => number;
}

interface Pending {
  msg: MsgData;
  conversationID: string;
  members: string[];
  idKey: string;
  operationID: string;
  resolve: (r: SendResult) => void;
  reject: (e: unknown) => void;
}

/**
 * SQLSTATEs worth another try of the whole batch: deadlock detected, serialization failure, and a unique violation
 * (a resend stored by another node between this batch's lookup and its insert: the next try finds it).
 */
const RETRIABLE = new Set(["40P01", "40001", "23505"]);

const num = (v: unknown) => (v === null || v === undefined ? 0 : Number(v));

/** A message's bytes without its sendTime: the batch statement appends the one it settles on. */
function withoutSendTime(msg: MsgData): Uint8Array {
  const clockReading = msg.sendTime;
  msg.sendTime = 0n;
  try {
    return toBinary(MsgDataSchema, msg);
  } finally {
    msg.sendTime = clockReading;
  }
}

export type PostgresConversationStore = ConversationStore & {
  onSent: (r: SendResult) => void;
  /** Drops messages older than maxAgeMs and beyond the newest maxPerConversation; moves min seqs up. */
  prune(maxAgeMs: number, maxPerConversation: number): Promise<number>;
  /** Sends waiting for a transaction now. */
  queued(): number;
};

/**
 * Long because it is the whole store, as createRedisConversationStore is: the send queue, the batch statement and the
 * reads share the pool, the in-flight resends and the membership cache; each method on its own is short.
 */
export function createPostgresConversationStore(sql: SQL, opts: PostgresStoreOptions = {}): PostgresConversationStore {
  const maxQueue = opts.maxQueue ?? 10_000;
  const maxBatches = opts.maxConcurrentBatches ?? 4;
  const clock = opts.now ?? Date.now;
  const knownMembership = new Set<string>();
  const inFlight = new Map<string, Promise<SendResult>>();
  let batch: Pending[] = [];
  let running = 0;
  let scheduled = false;

  const schedule = () => {
    if (scheduled || running >= maxBatches || batch.length === 0) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      if (running >= maxBatches || batch.length === 0) return;
      const mine = batch;
      batch = [];
      running++;
      void commit(mine).finally(() => {
        running--;
        schedule();
      });
    });
  };

  async function commit(pending: Pending[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        const outcome = await writeBatch(pending);
        for (const m of outcome.memberships) rememberMembership(knownMembership, m, opts.membershipCacheMax ?? MEMBERSHIP_CACHE_MAX);
        pending.forEach((p, i) => {
          const r = outcome.results[i]!;
          p.resolve(r);
          // Delivered after the reply (storedDeliveries): the sender's echo must come after its 1003 reply.
          if (!r.duplicate) store.onSent(r);
        });
        return;
      } catch (e) {
        if (attempt < 3 && RETRIABLE.has(String((e as { errno?: string }).errno))) continue;
        const err = codeError(ErrCode.ServerInternal, `store: ${(e as Error).message}`);
        for (const p of pending) p.reject(err);
        return;
      }
    }
  }

  /**
   * Two round trips, no lock held between them: (1) the clientMsgIDs already stored (resends) are answered as
   * duplicates; (2) one statement, atomic on its own, does the rest: it allocates each conversation's seqs for the
   * batch (the upsert locks its rows, in conversation-ID order), inserts the messages with their seq appended to
   * the stored bytes, and inserts new memberships. Nodes writing to the same conversation hold its row only for
   * that statement's execution, never across a round trip to a busy event loop. A resend racing its first attempt
   * on another node hits the unique clientMsgID index: the statement fails whole and the batch is tried again,
   * when step 1 finds the stored one.
   */
  async function writeBatch(pending: Pending[]): Promise<{ results: SendResult[]; memberships: string[] }> {
    const keys = [...new Set(pending.map((p) => clientKey(p.msg.sendID, p.msg.clientMsgID)))];
    const stored = new Map<string, { conversationID: string; data: Uint8Array }>();
    for (const r of await sql`SELECT conversation_id, send_id, client_msg_id, data FROM messages WHERE client_key = ANY(${sql.array(keys, "int8")}::bigint[])`)
      stored.set(`${r.send_id}\u0000${r.client_msg_id}`, { conversationID: r.conversation_id, data: r.data });

    const fresh = pending.filter((p) => !stored.has(p.idKey));
    // Each fresh message's place among its conversation's messages in this batch (1, 2, …): its seq is the
    // conversation's max seq before the batch plus that.
    const place = new Map<string, number>();
    const k = fresh.map((p) => {
      const n = (place.get(p.conversationID) ?? 0) + 1;
      place.set(p.conversationID, n);
      return n;
    });
    const members = new Set<string>();
    for (const p of fresh) {
      for (const u of p.members) {
        const key = `${u}\u0000${p.conversationID}`;
        if (!knownMembership.has(key)) members.add(key);
      }
      // Always the sender's: the statement moves their read mark to what they send.
      members.add(`${p.msg.sendID}\u0000${p.conversationID}`);
    }
    // Memberships in one order everywhere (user, then conversation): two statements never wait on each other's rows.
    const pairs = [...members].sort().map((m) => m.split("\u0000") as [string, string]);
    const placedAt = new Map<string, { seq: number; time: number }>();
    if (fresh.length > 0) {
      const inserted = await sql`
        WITH v AS (
          SELECT * FROM unnest(${sql.array(fresh.map((p) => p.conversationID), "text")}::text[], ${sql.array(k, "int8")}::bigint[],
            ${sql.array(fresh.map((p) => p.msg.sendID), "text")}::text[], ${sql.array(fresh.map((p) => p.msg.clientMsgID), "text")}::text[],
            ${sql.array(fresh.map((p) => clientKey(p.msg.sendID, p.msg.clientMsgID)), "int8")}::bigint[],
            ${sql.array(fresh.map((p) => Number(p.msg.sendTime)), "int8")}::bigint[],
            ${sql.array(fresh.map((p) => withoutSendTime(p.msg)), "bytea")}::bytea[]) AS v(c, k, s, m, key, t, d)
        ), counts AS (
          -- m: the latest clock reading less its place; the batch's times are (place + the greater of m and the
          -- conversation's last time), so each is at least its own clock reading, strictly after the one before.
          SELECT c, count(*) AS n, max(t - k) AS m FROM v GROUP BY c
        ), alloc AS (
          INSERT INTO conversations (conversation_id, max_seq, min_seq, max_seq_time) SELECT c, n, 1, m + n FROM counts ORDER BY c
          ON CONFLICT (conversation_id) DO UPDATE SET max_seq = conversations.max_seq + EXCLUDED.max_seq,
            max_seq_time = GREATEST(conversations.max_seq_time + EXCLUDED.max_seq, EXCLUDED.max_seq_time)
          RETURNING conversation_id, max_seq, max_seq_time
        ), placed AS (
          SELECT v.*, a.max_seq - counts.n + v.k AS seq, a.max_seq_time - counts.n + v.k AS time
          FROM v JOIN counts ON counts.c = v.c JOIN alloc a ON a.conversation_id = v.c
        ), ins AS (
          -- The stored bytes are the MsgData with its seq and sendTime: fields 14 and 15 as varints (0x70 and 0x78, then
          -- 7 bits a byte) after the rest.
          INSERT INTO messages (conversation_id, seq, send_id, client_msg_id, client_key, send_time, data)
          SELECT c, seq, s, m, key, time, d || '\\x70'::bytea || (SELECT string_agg(set_byte('\\x00'::bytea, 0,
              (((seq >> (7 * i)) & 127) | CASE WHEN (seq >> (7 * (i + 1))) > 0 THEN 128 ELSE 0 END)::int), ''::bytea ORDER BY i)
            FROM generate_series(0, 9) AS i WHERE i = 0 OR (seq >> (7 * i)) > 0)
            || '\\x78'::bytea || (SELECT string_agg(set_byte('\\x00'::bytea, 0,
              (((time >> (7 * i)) & 127) | CASE WHEN (time >> (7 * (i + 1))) > 0 THEN 128 ELSE 0 END)::int), ''::bytea ORDER BY i)
            FROM generate_series(0, 9) AS i WHERE i = 0 OR (time >> (7 * i)) > 0)
          FROM placed
          RETURNING send_id, client_msg_id, seq, send_time
        ), mem AS (
          -- New memberships, and the sender's read mark moved up to what they send (OpenIM's msgtransfer sets it);
          -- other members' rows are not written (the WHERE), each pair is in the list once.
          INSERT INTO user_conversations (user_id, conversation_id, has_read_seq)
          SELECT m.u, m.c, COALESCE((SELECT max(p.seq) FROM placed p WHERE p.s = m.u AND p.c = m.c), 0)
          FROM unnest(${sql.array(pairs.map((x) => x[0]), "text")}::text[], ${sql.array(pairs.map((x) => x[1]), "text")}::text[]) AS m(u, c)
          ORDER BY m.u, m.c
          ON CONFLICT (user_id, conversation_id) DO UPDATE SET has_read_seq = EXCLUDED.has_read_seq
            WHERE EXCLUDED.has_read_seq > user_conversations.has_read_seq
        )
        SELECT send_id, client_msg_id, seq, send_time FROM ins`;
      for (const r of inserted) placedAt.set(`${r.send_id}\u0000${r.client_msg_id}`, { seq: num(r.seq), time: num(r.send_time) });
    }

    const results = pending.map((p): SendResult => {
      const known = stored.get(p.idKey);
      if (known) return sendResult(fromBinary(MsgDataSchema, known.data), known.conversationID, p.operationID, { recipients: [], duplicate: true });
      const at = placedAt.get(p.idKey)!;
      p.msg.seq = BigInt(at.seq);
      p.msg.sendTime = BigInt(at.time);
      return sendResult(p.msg, p.conversationID, p.operationID, { recipients: p.members, duplicate: false });
    });
    return { results, memberships: [...members] };
  }

  const groupMembers = async (groupID: string): Promise<string[]> =>
    (await sql`SELECT user_id FROM group_members WHERE group_id = ${groupID} ORDER BY user_id`).map((r: { user_id: string }) => r.user_id);

  const bounds = async (conversationID: string) => {
    const [r] = await sql`SELECT max_seq, min_seq FROM conversations WHERE conversation_id = ${conversationID}`;
    const maxSeq = num(r?.max_seq);
    return { maxSeq, minSeq: maxSeq > 0 ? num(r.min_seq) : 0 };
  };

  const readRaw = async (conversationID: string, seqs: number[]): Promise<(Uint8Array | undefined)[]> => {
    if (seqs.length === 0) return [];
    const bySeq = new Map<number, Uint8Array>();
    for (const r of await sql`SELECT seq, data FROM messages WHERE conversation_id = ${conversationID} AND seq = ANY(${sql.array(seqs, "int8")}::bigint[])`)
      bySeq.set(num(r.seq), r.data);
    return seqs.map((s) => bySeq.get(s));
  };

  const store: PostgresConversationStore = {
    onSent: () => {},

    async send(input: MsgData, opUserID: string, operationID = ""): Promise<SendResult> {
      const msg = prepareSend(input, opUserID);
      const idKey = `${msg.sendID}\u0000${msg.clientMsgID}`;
      const already = inFlight.get(idKey);
      if (already) return already.then((r) => ({ ...r, recipients: [], duplicate: true }));
      if (batch.length >= maxQueue) throw codeError(ErrCode.ServerInternal, `store: ${maxQueue} sends already wait for PostgreSQL`);
      const members = recipientsOf(msg, isGroupMessage(msg) ? await groupMembers(msg.groupID) : undefined);
      stampMessage(msg, clock());
      // The statement appends the seq it allocates to the stored bytes: a seq the client put in goes.
      msg.seq = 0n;
      const p = new Promise<SendResult>((resolve, reject) => {
        batch.push({ msg, conversationID: conversationIDOf(msg), members, idKey, operationID, resolve, reject });
      });
      inFlight.set(idKey, p);
      const forget = () => inFlight.delete(idKey);
      p.then(forget, forget);
      schedule();
      return p;
    },

    async maxSeqs(userID: string) {
      const max = new Map<string, bigint>(), min = new Map<string, bigint>();
      for (const r of await sql`SELECT c.conversation_id, c.max_seq, c.min_seq FROM user_conversations uc
                               JOIN conversations c ON c.conversation_id = uc.conversation_id WHERE uc.user_id = ${userID}`) {
        if (num(r.max_seq) === 0) continue;
        max.set(r.conversation_id, BigInt(r.max_seq));
        min.set(r.conversation_id, BigInt(r.min_seq));
      }
      return { max, min };
    },

    bounds,
    readRaw,

    async last(conversationID: string) {
      const [r] = await sql`SELECT m.data FROM conversations c JOIN messages m ON m.conversation_id = c.conversation_id AND m.seq = c.max_seq
                            WHERE c.conversation_id = ${conversationID}`;
      return r ? fromBinary(MsgDataSchema, r.data) : undefined;
    },

    async seqInfo(userID: string, conversationID: string) {
      const [c] = await sql`SELECT max_seq, max_seq_time FROM conversations WHERE conversation_id = ${conversationID}`;
      const [u] = await sql`SELECT has_read_seq FROM user_conversations WHERE user_id = ${userID} AND conversation_id = ${conversationID}`;
      return { maxSeq: num(c?.max_seq), hasReadSeq: num(u?.has_read_seq), maxSeqTime: num(c?.max_seq_time) };
    },

    async userConversationIDs(userID: string) {
      return (await sql`SELECT conversation_id FROM user_conversations WHERE user_id = ${userID}`).map((r: { conversation_id: string }) => r.conversation_id);
    },

    async isMember(userID: string, conversationID: string) {
      if (knownMembership.has(`${userID}\u0000${conversationID}`)) return true;
      return (await sql`SELECT 1 FROM user_conversations WHERE user_id = ${userID} AND conversation_id = ${conversationID}`).length > 0;
    },

    async memberConversations(userID: string, conversationIDs: string[]) {
      if (conversationIDs.length === 0) return [];
      const found = new Set((await sql`SELECT conversation_id FROM user_conversations
                                      WHERE user_id = ${userID} AND conversation_id = ANY(${sql.array(conversationIDs, "text")}::text[])`)
        .map((r: { conversation_id: string }) => r.conversation_id));
      return conversationIDs.filter((id) => found.has(id));
    },

    async setHasReadSeq(userID: string, conversationID: string, seq: number) {
      await sql`INSERT INTO user_conversations (user_id, conversation_id, has_read_seq) VALUES (${userID}, ${conversationID}, ${seq})
                ON CONFLICT (user_id, conversation_id) DO UPDATE SET has_read_seq = EXCLUDED.has_read_seq`;
    },

    groupMembers,

    async setGroup(groupID: string, userIDs: string[]) {
      if (!groupID) throw codeError(ErrCode.Args, "groupID is empty");
      const members = [...new Set(userIDs)].sort();
      const convs = groupConversationIDs(groupID);
      // One transaction: a send reading the members meanwhile sees the old group or the new one, never none.
      await sql.begin(async (tx) => {
        await tx`DELETE FROM group_members WHERE group_id = ${groupID}`;
        if (members.length === 0) return;
        await tx`INSERT INTO group_members (group_id, user_id) SELECT ${groupID}, u FROM unnest(${tx.array(members, "text")}::text[]) AS u`;
        const pairs = members.flatMap((u) => convs.map((c) => [u, c] as const));
        // In the order the send statement inserts memberships (user, then conversation): no cycle of waits.
        await tx`INSERT INTO user_conversations (user_id, conversation_id)
                 SELECT * FROM unnest(${tx.array(pairs.map((x) => x[0]), "text")}::text[], ${tx.array(pairs.map((x) => x[1]), "text")}::text[]) AS m(u, c)
                 ORDER BY u, c ON CONFLICT DO NOTHING`;
      });
    },

    async listGroups() {
      const byGroup = new Map<string, string[]>();
      for (const r of await sql`SELECT group_id, user_id FROM group_members ORDER BY group_id, user_id`) {
        const list = byGroup.get(r.group_id);
        if (list) list.push(r.user_id);
        else byGroup.set(r.group_id, [r.user_id]);
      }
      return [...byGroup].map(([groupID, userIDs]) => ({ groupID, userIDs }));
    },

    async prune(maxAgeMs: number, maxPerConversation: number) {
      if (maxAgeMs <= 0 && maxPerConversation <= 0) return 0;
      const cutoff = maxAgeMs > 0 ? clock() - maxAgeMs : 0;
      // Per conversation, the first seq kept: past the newest maxPerConversation and the first one young enough,
      // never past the newest message (clients read max seq and the last message from it).
      const [r] = await sql`
        WITH keep AS (
          SELECT c.conversation_id, c.min_seq, LEAST(c.max_seq, GREATEST(c.min_seq,
            CASE WHEN ${maxPerConversation}::bigint > 0 THEN c.max_seq - ${maxPerConversation}::bigint + 1 ELSE 0 END,
            CASE WHEN ${cutoff}::bigint > 0 THEN COALESCE((SELECT min(m.seq) FROM messages m
              WHERE m.conversation_id = c.conversation_id AND m.send_time >= ${cutoff}::bigint), c.max_seq + 1) ELSE 0 END)) AS keep_from
          FROM conversations c
        ), moved AS (
          UPDATE conversations c SET min_seq = k.keep_from FROM keep k
          WHERE c.conversation_id = k.conversation_id AND k.keep_from > k.min_seq
          RETURNING c.conversation_id, k.keep_from
        ), gone AS (
          DELETE FROM messages m USING moved WHERE m.conversation_id = moved.conversation_id AND m.seq < moved.keep_from RETURNING 1
        )
        SELECT count(*) AS n FROM gone`;
      return num(r?.n);
    },

    queued: () => batch.length,
  };
  return store;
}
