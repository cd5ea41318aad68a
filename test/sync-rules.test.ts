// OpenIM's read rules for 1002 (PullMessageBySeqs) and 1005 (GetSeqMessage), as its msg service applies them
// (open-im-server internal/rpc/msg/sync_msg.go and pkg/common/storage/controller/msg.go, main and v3.8.3-patch),
// run against both conversation stores: SQLite (embedded) and a real redis-server (cluster). The SDKs rely on
// these when they fill a gap after a reconnect: the newest `num` of a range, isEnd per order.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import Redis from "ioredis";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ConversationStore, createMessageService } from "../src/backend/conversations.js";
import { createRedisConversationStore } from "../src/backend/cluster/store.js";
import { openDatabase } from "../src/backend/embedded/db.js";
import { MessageStore } from "../src/backend/embedded/store.js";
import type { CallMeta, MessagePort } from "../src/backend/ports.js";
import { GetSeqMessageReqSchema, GetSeqMessageRespSchema } from "../src/gen/openim/msg/msg_pb.js";
import { MsgDataSchema, PullMessageBySeqsReqSchema, PullMessageBySeqsRespSchema, PullOrder } from "../src/gen/openim/sdkws/sdkws_pb.js";
import { MsgStatus } from "../src/protocol/constants.js";
import { type TestRedis, startRedis } from "./support/redis.js";

const KEEP = 10; // both stores keep the newest 10 of each conversation: 30 sent → seqs 21..30 remain
const CONV = "si_a_b", NOTIF = "n_a_b";
const meta = (userID: string): CallMeta => ({ operationID: "op", opUserID: userID, platform: "Web", connID: "c" });
const msg = (i: number, notification = false) => create(MsgDataSchema, {
  sendID: "a", recvID: "b", sessionType: 1, contentType: 101, content: new TextEncoder().encode(`m${i}`), clientMsgID: `${notification ? "n" : "m"}${i}`,
  options: notification ? { isNotNotification: false } : {},
});

interface Subject {
  store: ConversationStore;
  /** Retention as the store applies it (SQLite prunes; the Redis store trims while sending). */
  retain(): void;
  /** Loses one stored message behind the store's back, to see what a read of its seq returns. */
  drop(conversationID: string, seq: number): Promise<void>;
  close(): Promise<void>;
}

let redis: TestRedis;
const dirs: string[] = [];
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const subjects: Record<string, () => Promise<Subject>> = {
  sqlite: async () => {
    const dir = mkdtempSync(join(tmpdir(), "imgate-sync-"));
    dirs.push(dir);
    const db = openDatabase(dir);
    const store = new MessageStore(db);
    return {
      store,
      retain: () => void store.prune(0, KEEP),
      drop: async (c, seq) => void db.run("DELETE FROM messages WHERE conversation_id = ? AND seq = ?", [c, seq]),
      close: async () => db.close(),
    };
  },
  redis: async () => {
    const client = new Redis(redis.url, { lazyConnect: false });
    await client.flushall();
    const store = createRedisConversationStore(client, { maxPerConversation: KEEP, idempotencyTtlSeconds: 60 });
    return {
      store,
      retain: () => {},
      drop: async (c, seq) => void (await client.hdel(`imgate:c:{${c}}:m`, String(seq))),
      close: async () => void client.disconnect(),
    };
  },
};

for (const [name, make] of Object.entries(subjects)) {
  describe(`1002 and 1005 rules over the ${name} store`, () => {
    let s: Subject;
    let svc: MessagePort;
    beforeAll(async () => {
      s = await make();
      for (let i = 1; i <= 30; i++) await s.store.send(msg(i), "a", "op");
      for (let i = 1; i <= 30; i++) await s.store.send(msg(i, true), "a", "op");
      s.retain();
      svc = asClientSees(createMessageService(s.store, ["imAdmin"]));
    });
    afterAll(() => s.close());

    const pull = async (ranges: [conv: string, begin: number, end: number, num: number][], order = PullOrder.PullOrderAsc, user = "b") => {
      const r = await svc.pullMessageBySeqs(create(PullMessageBySeqsReqSchema, {
        userID: user, order,
        seqRanges: ranges.map(([conversationID, b, e, n]) => ({ conversationID, begin: BigInt(b), end: BigInt(e), num: BigInt(n) })),
      }), meta(user));
      const one = (c: string) => {
        const p = r.msgs[c] ?? r.notificationMsgs[c];
        return p && { seqs: p.Msgs.map((m) => Number(m.seq)), isEnd: p.isEnd };
      };
      return { one, keys: [...Object.keys(r.msgs), ...Object.keys(r.notificationMsgs)] };
    };

    test("the store's bounds after retention", async () => {
      expect(await s.store.bounds(CONV)).toEqual({ minSeq: 21, maxSeq: 30 });
    });

    test("a range longer than num returns its newest num, ascending, in either order", async () => {
      expect((await pull([[CONV, 4, 29, 5]])).one(CONV)).toEqual({ seqs: [25, 26, 27, 28, 29], isEnd: false });
      expect((await pull([[CONV, 4, 29, 5]], PullOrder.PullOrderDesc)).one(CONV)).toEqual({ seqs: [25, 26, 27, 28, 29], isEnd: true });
      expect((await pull([[CONV, 22, 30, 3]], PullOrder.PullOrderDesc)).one(CONV)).toEqual({ seqs: [28, 29, 30], isEnd: false });
    });

    test("begin and end are clamped to the kept seqs; isEnd is maxSeq ≤ end (Asc), begin ≤ minSeq (Desc)", async () => {
      expect((await pull([[CONV, 1, 40, 100]])).one(CONV)).toEqual({ seqs: Array.from({ length: 10 }, (_, i) => 21 + i), isEnd: true });
      expect((await pull([[CONV, 1, 30, 100]])).one(CONV)?.isEnd).toBe(true);
      expect((await pull([[CONV, 1, 29, 100]])).one(CONV)?.isEnd).toBe(false);
    });

    test("a range with nothing to return is left out, and so is a conversation the user is not in", async () => {
      const r = await pull([[CONV, 1, 20, 10], [CONV + "x", 1, 5, 5]]);
      expect(r.keys).toEqual([]);
      expect((await pull([[CONV, 31, 40, 10]])).keys).toEqual([]);
      expect((await pull([[CONV, 21, 30, 0]])).keys).toEqual([]);
      // One unreadable conversation does not fail the batch: the readable one is answered.
      const mixed = await pull([[CONV + "x", 1, 5, 5], [CONV, 21, 30, 2]]);
      expect(mixed.keys).toEqual([CONV]);
      expect(mixed.one(CONV)?.seqs).toEqual([29, 30]);
      const stranger = await pull([[CONV, 21, 30, 2]], PullOrder.PullOrderAsc, "imAdmin");
      expect(stranger.keys).toEqual([]);
    });

    test("notification conversations take the whole clamped range: no num", async () => {
      const r = await pull([[NOTIF, 1, 30, 2]]);
      expect(r.one(NOTIF)?.seqs).toEqual(Array.from({ length: 10 }, (_, i) => 21 + i));
      expect(r.keys).toEqual([NOTIF]);
    });

    test("1005: seqs inside the bounds in the order asked; one past the bound in the pull direction ends it", async () => {
      const get = async (seqs: number[], order: PullOrder) => {
        const r = await svc.getSeqMessage(create(GetSeqMessageReqSchema, {
          userID: "b", order, conversations: [{ conversationID: CONV, seqs: seqs.map(BigInt) }],
        }), meta("b"));
        const p = r.msgs[CONV]!;
        return { seqs: p.Msgs.map((m) => Number(m.seq)), isEnd: p.isEnd, endSeq: Number(p.endSeq) };
      };
      expect(await get([29, 22, 35], PullOrder.PullOrderAsc)).toEqual({ seqs: [29, 22], isEnd: true, endSeq: 30 });
      expect(await get([25, 3, 0], PullOrder.PullOrderDesc)).toEqual({ seqs: [25], isEnd: true, endSeq: 21 });
      expect(await get([23, 24], PullOrder.PullOrderAsc)).toEqual({ seqs: [23, 24], isEnd: false, endSeq: 0 });
    });

    test("a seq inside the bounds whose message is gone comes back as a deleted placeholder (1002 and 1005)", async () => {
      await s.drop(CONV, 27);
      const r = await svc.pullMessageBySeqs(create(PullMessageBySeqsReqSchema, {
        userID: "b", seqRanges: [{ conversationID: CONV, begin: 26n, end: 28n, num: 10n }],
      }), meta("b"));
      expect(r.msgs[CONV]!.Msgs.map((m) => [Number(m.seq), m.status])).toEqual([[26, 0], [27, MsgStatus.HasDeleted], [28, 0]]);
      const g = await svc.getSeqMessage(create(GetSeqMessageReqSchema, {
        userID: "b", conversations: [{ conversationID: CONV, seqs: [27n] }],
      }), meta("b"));
      expect(g.msgs[CONV]!.Msgs.map((m) => [Number(m.seq), m.status, m.content.length])).toEqual([[27, MsgStatus.HasDeleted, 0]]);
    });
  });
}

/** The service's replies as a client decodes them: messages travel as stored bytes (pullMsgs), decoded here. */
function asClientSees(svc: MessagePort): MessagePort {
  return {
    ...svc,
    pullMessageBySeqs: async (req, meta) => fromBinary(PullMessageBySeqsRespSchema, toBinary(PullMessageBySeqsRespSchema, await svc.pullMessageBySeqs(req, meta))),
    getSeqMessage: async (req, meta) => fromBinary(GetSeqMessageRespSchema, toBinary(GetSeqMessageRespSchema, await svc.getSeqMessage(req, meta))),
  };
}
