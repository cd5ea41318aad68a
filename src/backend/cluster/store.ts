// The conversation store of the cluster shape, in Redis, so any node serves any user. Each conversation's
// keys share a hash tag ({conv}) and so a Redis Cluster slot, which lets one Lua script allocate the seq,
// store the message and record the clientMsgID atomically: no gaps, no duplicates, whatever node sends.
//
// Keys (per message about 40 bytes of overhead plus the MsgData bytes; see docs/cluster.md):
//   imgate:c:{<conv>}:seq                 max seq (INCR)
//   imgate:c:{<conv>}:m                   HASH seq → MsgData (protobuf, seq included)
//   imgate:c:{<conv>}:meta                HASH min → oldest kept seq, t → time of the newest message
//   imgate:c:{<conv>}:id:<send>:<client>  seq of a clientMsgID, for idempotency (expires after idempotencyTtl)
//   imgate:c:{<conv>}:t                   ZSET seq by send time (ms), for retention by age (messages.retentionDays)
//   imgate:u:{<user>}:convs               SET of the user's conversations
//   imgate:u:{<user>}:read                HASH conversation → has-read seq
//   imgate:g:{<group>}                    SET of members; imgate:groups lists the group IDs
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { Cluster, type Redis } from "ioredis";
import { type MsgData, MsgDataSchema } from "../../gen/openim/sdkws/sdkws_pb.js";
import { conversationIDOf } from "../../protocol/conversation.js";
import { ErrCode, codeError } from "../../protocol/errors.js";
import {
  type ConversationStore, type SendResult, sendResult, groupConversationIDs, isGroupMessage, recipientsOf, prepareSend, rememberMembership,
  stampMessage,
} from "../conversations.js";

const conv = (id: string) => `imgate:c:{${id}}`;
const user = (id: string) => `imgate:u:{${id}}`;
const group = (id: string) => `imgate:g:{${id}}`;

// KEYS: seq, msgs, meta, idKey, times. ARGV: message bytes without seq and sendTime, now (ms), idempotency TTL (s),
// max per conversation, oldest send time kept (ms; 0 = no age limit).
// The sendTime is now or, when that is not later than the conversation's newest message, 1 ms after it: strictly
// increasing within a conversation (OpenIM's SDKs keep the older of two equal-time messages as the latest). Seq
// (field 14) and sendTime (15) are appended to the bytes as varints.
// Returns {1, seq, sendTime} for a new message, {0, seq, bytes} for a resend of a known clientMsgID, {2, seq, bytes}
// for a resend of one whose first attempt did not finish (the idempotency key still says "<seq>:p": stored, but its
// memberships and delivery may not have happened; the resend does them).
const SEND = `
local known = redis.call("GET", KEYS[4])
if known then
  local kseq, pending = string.match(known, "^(%d+)(:?p?)$")
  return {pending == ":p" and 2 or 0, tonumber(kseq), redis.call("HGET", KEYS[2], kseq)}
end
local function varint(v)
  local out = {}
  repeat
    local b = v % 128
    v = math.floor(v / 128)
    if v > 0 then b = b + 128 end
    out[#out + 1] = string.char(b)
  until v == 0
  return table.concat(out)
end
local seq = redis.call("INCR", KEYS[1])
local t = tonumber(ARGV[2])
local last = tonumber(redis.call("HGET", KEYS[3], "t") or "0")
if t <= last then t = last + 1 end
redis.call("HSET", KEYS[2], seq, ARGV[1] .. string.char(0x70) .. varint(seq) .. string.char(0x78) .. varint(t))
redis.call("HSET", KEYS[3], "t", string.format("%.0f", t))
redis.call("HSETNX", KEYS[3], "min", 1)
redis.call("SET", KEYS[4], seq .. ":p", "EX", ARGV[3])
redis.call("ZADD", KEYS[5], t, seq)
local min = tonumber(redis.call("HGET", KEYS[3], "min"))
local newMin = min
local keep = tonumber(ARGV[4])
if keep > 0 and seq - keep + 1 > newMin then newMin = seq - keep + 1 end
local cutoff = tonumber(ARGV[5])
if cutoff > 0 then
  local old = redis.call("ZRANGEBYSCORE", KEYS[5], "-inf", "(" .. cutoff)
  if #old > 0 and tonumber(old[#old]) + 1 > newMin then newMin = tonumber(old[#old]) + 1 end
end
if newMin > min then
  for s = min, newMin - 1 do redis.call("HDEL", KEYS[2], s) end
  redis.call("ZREMRANGEBYSCORE", KEYS[5], "-inf", "(" .. newMin)
  redis.call("HSET", KEYS[3], "min", newMin)
end
return {1, seq, t}
`;

// The age trim alone, for conversations nobody writes to (the sweeper). KEYS: msgs, meta, times, seq. ARGV: cutoff.
// Returns how many messages it removed.
const TRIM = `
local old = redis.call("ZRANGEBYSCORE", KEYS[3], "-inf", "(" .. ARGV[1])
if #old == 0 then return 0 end
local min = tonumber(redis.call("HGET", KEYS[2], "min") or "1")
local newMin = tonumber(old[#old]) + 1
for s = min, newMin - 1 do redis.call("HDEL", KEYS[1], s) end
redis.call("ZREMRANGEBYSCORE", KEYS[3], "-inf", "(" .. ARGV[1])
redis.call("HSET", KEYS[2], "min", newMin)
return newMin - min
`;

// A read mark that only moves up. KEYS: the user's read hash. ARGV: conversation, seq.
const READ_UP = `
if tonumber(redis.call("HGET", KEYS[1], ARGV[1]) or "0") < tonumber(ARGV[2]) then redis.call("HSET", KEYS[1], ARGV[1], ARGV[2]) end
return 0
`;

export interface RedisStoreOptions {
  maxPerConversation: number;
  idempotencyTtlSeconds: number;
  /** Entries of the written-membership cache before it starts over (default MEMBERSHIP_CACHE_MAX). */
  membershipCacheMax?: number;
  /** Messages older than this are removed (on each send to their conversation, and by pruneByAge); 0 = no age limit. */
  maxAgeMs?: number;
  /** Replicas that must have a message before it is acknowledged (Redis WAIT); 0 = the master's word. */
  waitReplicas?: number;
  waitTimeoutMs?: number;
  /** The clock of send times and retention (tests give their own and need no sleeps). */
  now?: () => number;
}

export function createRedisConversationStore(redis: Redis | Cluster, opts: RedisStoreOptions): ConversationStore & {
  onSent: (r: SendResult) => void;
  pruneByAge(): Promise<number>;
  /** Closes what the store opened itself (the waited writes' connection). */
  close(): void;
} {
  redis.defineCommand("imgateSend", { numberOfKeys: 5, lua: SEND });
  redis.defineCommand("imgateTrim", { numberOfKeys: 3, lua: TRIM });
  redis.defineCommand("imgateReadUp", { numberOfKeys: 1, lua: READ_UP });
  const maxAgeMs = opts.maxAgeMs ?? 0;
  const clock = opts.now ?? Date.now;
  const waited = opts.waitReplicas ? createWaitedWriter(redis, opts.waitReplicas, opts.waitTimeoutMs ?? 1000) : undefined;
  const knownMembership = new Set<string>();
  const addMembers = async (users: string[], conversationID: string) => {
    const todo = users.filter((u) => !knownMembership.has(`${u}\u0000${conversationID}`));
    await Promise.all(todo.map((u) => redis.sadd(`${user(u)}:convs`, conversationID)));
    for (const u of todo) rememberMembership(knownMembership, `${u}\u0000${conversationID}`, opts.membershipCacheMax);
  };
  const decode = (b: Buffer | null): MsgData | undefined => (b ? fromBinary(MsgDataSchema, b) : undefined);
  const num = (v: string | null | undefined) => (v ? Number(v) : 0);

  const store = {
    onSent: (_r: SendResult) => {},

    async send(input: MsgData, opUserID: string, operationID: string): Promise<SendResult> {
      const msg = prepareSend(input, opUserID);
      const members = recipientsOf(msg, isGroupMessage(msg) ? await store.groupMembers(msg.groupID) : undefined);
      const conversationID = conversationIDOf(msg);
      const now = clock();
      stampMessage(msg, now);
      // The script appends the seq it allocates and the sendTime it settles on.
      msg.seq = 0n;
      msg.sendTime = 0n;
      const k = conv(conversationID);
      const args = [
        `${k}:seq`, `${k}:m`, `${k}:meta`, `${k}:id:${msg.sendID}:${msg.clientMsgID}`, `${k}:t`,
        Buffer.from(toBinary(MsgDataSchema, msg)), now, opts.idempotencyTtlSeconds, opts.maxPerConversation, maxAgeMs > 0 ? now - maxAgeMs : 0,
      ];
      const idKey = args[3] as string;
      const r = (await (waited ? waited.write(k, args) : (redis as any).imgateSendBuffer(...args))) as [number, number, (Buffer | number)?];
      if (r[0] === 0) {
        const m = decode((r[2] as Buffer | undefined) ?? null) ?? msg;
        return sendResult(m, conversationID, operationID, { recipients: [], duplicate: true, seq: BigInt(r[1]) });
      }
      // New, or stored by an attempt that failed after the script (memberships, WAIT): finished here, then delivered.
      const stored = r[0] === 2 ? (decode(r[2] as Buffer) ?? msg) : msg;
      stored.seq = BigInt(r[1]);
      if (r[0] === 1) stored.sendTime = BigInt(r[2] as number);
      await addMembers(members, conversationID);
      // The sender has read what they send (OpenIM's msgtransfer sets it), so it is not unread on their devices.
      await Promise.all([redis.set(idKey, String(r[1]), "KEEPTTL", "XX"), (redis as any).imgateReadUp(`${user(msg.sendID)}:read`, conversationID, r[1])]);
      const result = sendResult(stored, conversationID, operationID, { recipients: members, duplicate: false });
      // Delivered after the reply (storedDeliveries): the sender's echo must come after its 1003 reply.
      store.onSent(result);
      return result;
    },

    async maxSeqs(userID: string) {
      const ids = await redis.smembers(`${user(userID)}:convs`);
      const max = new Map<string, bigint>(), min = new Map<string, bigint>();
      const rows = await Promise.all(ids.map((id) => Promise.all([redis.get(`${conv(id)}:seq`), redis.hget(`${conv(id)}:meta`, "min")])));
      ids.forEach((id, i) => {
        const [mx, mn] = rows[i]!;
        if (!mx) return;
        max.set(id, BigInt(mx));
        min.set(id, BigInt(mn ?? "1"));
      });
      return { max, min };
    },

    async bounds(conversationID: string) {
      const k = conv(conversationID);
      const [mx, mn] = await Promise.all([redis.get(`${k}:seq`), redis.hget(`${k}:meta`, "min")]);
      const maxSeq = num(mx);
      return { maxSeq, minSeq: maxSeq > 0 ? num(mn) || 1 : 0 };
    },

    async readRaw(conversationID: string, seqs: number[]) {
      if (seqs.length === 0) return [];
      const raw = await redis.hmgetBuffer(`${conv(conversationID)}:m`, ...seqs.map(String));
      return raw.map((b) => b ?? undefined);
    },

    async last(conversationID: string) {
      const mx = await redis.get(`${conv(conversationID)}:seq`);
      return mx ? decode(await redis.hgetBuffer(`${conv(conversationID)}:m`, mx)) : undefined;
    },

    async seqInfo(userID: string, conversationID: string) {
      const [mx, t, read] = await Promise.all([
        redis.get(`${conv(conversationID)}:seq`), redis.hget(`${conv(conversationID)}:meta`, "t"), redis.hget(`${user(userID)}:read`, conversationID),
      ]);
      return { maxSeq: num(mx), hasReadSeq: num(read), maxSeqTime: num(t) };
    },

    async userConversationIDs(userID: string) {
      return redis.smembers(`${user(userID)}:convs`);
    },

    async isMember(userID: string, conversationID: string) {
      return knownMembership.has(`${userID}\u0000${conversationID}`) || (await redis.sismember(`${user(userID)}:convs`, conversationID)) === 1;
    },

    async memberConversations(userID: string, conversationIDs: string[]) {
      if (conversationIDs.length === 0) return [];
      const flags = await redis.smismember(`${user(userID)}:convs`, ...conversationIDs);
      return conversationIDs.filter((_, i) => flags[i] === 1);
    },

    async setHasReadSeq(userID: string, conversationID: string, seq: number) {
      await Promise.all([redis.hset(`${user(userID)}:read`, conversationID, seq), redis.sadd(`${user(userID)}:convs`, conversationID)]);
    },

    async groupMembers(groupID: string) {
      return (await redis.smembers(group(groupID))).sort();
    },

    async setGroup(groupID: string, userIDs: string[]) {
      if (!groupID) throw codeError(ErrCode.Args, "groupID is empty");
      const members = [...new Set(userIDs)];
      // One transaction on the group's key: a send reading the members between a DEL and its SADD would find no
      // group (1201). One key, so it holds on a Redis Cluster too.
      const m = redis.multi().del(group(groupID));
      if (members.length > 0) m.sadd(group(groupID), ...members);
      const replies = await m.exec();
      const failed = replies?.find(([err]) => err);
      if (!replies || failed) throw failed?.[0] ?? new Error(`setGroup ${groupID}: transaction aborted`);
      await redis.sadd("imgate:groups", groupID);
      for (const c of groupConversationIDs(groupID)) await addMembers(members, c);
    },

    async listGroups() {
      const ids = (await redis.smembers("imgate:groups")).sort();
      return Promise.all(ids.map(async (groupID) => ({ groupID, userIDs: await store.groupMembers(groupID) })));
    },

    close() {
      waited?.close();
    },

    /** Removes messages older than maxAgeMs from every conversation, written to or not (SCAN on every master). */
    async pruneByAge(): Promise<number> {
      if (maxAgeMs <= 0) return 0;
      const cutoff = clock() - maxAgeMs;
      const masters = redis instanceof Cluster ? redis.nodes("master") : [redis];
      let removed = 0;
      for (const node of masters) {
        let cursor = "0";
        do {
          const [next, keys] = await node.scan(cursor, "MATCH", "imgate:c:*:t", "COUNT", 500);
          cursor = next;
          for (const key of keys) {
            const k = key.slice(0, -2);
            removed += Number(await (redis as any).imgateTrim(`${k}:m`, `${k}:meta`, key, cutoff));
          }
        } while (cursor !== "0");
      }
      return removed;
    },
  };
  return store;
}

/**
 * Sends acknowledged only once `replicas` replicas have them. WAIT blocks the connection it runs on, so the waited
 * writes get a connection of their own (reads, handshakes and presence never queue behind it), and the writes of one
 * event-loop turn share one WAIT per conversation (its slot's master on a Cluster; one master otherwise): a WAIT
 * counts every write before it on the connection. Fewer replicas than asked within the timeout: the sends of that
 * batch fail with 500 (the clients resend; the clientMsgID keeps each message once).
 */
function createWaitedWriter(redis: Redis | Cluster, replicas: number, timeoutMs: number) {
  const conn = (redis as Redis).duplicate() as Redis | Cluster;
  conn.defineCommand("imgateSend", { numberOfKeys: 5, lua: SEND });
  const cluster = redis instanceof Cluster;
  let pending: { group: string; args: unknown[]; resolve: (v: unknown) => void; reject: (e: unknown) => void }[] = [];
  const flush = () => {
    const batch = pending;
    pending = [];
    const groups = new Map<string, typeof batch>();
    for (const w of batch) {
      const g = cluster ? w.group : "";
      const list = groups.get(g);
      if (list) list.push(w);
      else groups.set(g, [w]);
    }
    for (const writes of groups.values()) {
      const p = conn.pipeline() as any;
      for (const w of writes) p.imgateSendBuffer(...w.args);
      p.call("WAIT", replicas, timeoutMs);
      p.exec().then((res: [Error | null, unknown][]) => {
        const [waitErr, acked] = res[res.length - 1]!;
        const short = waitErr ?? (Number(acked) < replicas
          ? codeError(ErrCode.ServerInternal, `stored on the Redis master but on ${Number(acked)} of ${replicas} replicas within ${timeoutMs} ms; resend`)
          : undefined);
        writes.forEach((w, i) => {
          const [err, v] = res[i]!;
          if (err || short) w.reject(err ?? short);
          else w.resolve(v);
        });
      }, (err: unknown) => writes.forEach((w) => w.reject(err)));
    }
  };
  return {
    close: () => conn.disconnect(),
    write(group: string, args: unknown[]): Promise<unknown> {
      return new Promise((resolve, reject) => {
        if (pending.length === 0) setImmediate(flush);
        pending.push({ group, args, resolve, reject });
      });
    },
  };
}
