// The embedded IM core over real sockets: offline sync by seq, groups, history, idempotency, concurrency,
// and durability across kill -9.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  GetConversationsHasReadAndMaxSeqReqSchema, GetConversationsHasReadAndMaxSeqRespSchema, GetLastMessageReqSchema, GetLastMessageRespSchema,
  GetSeqMessageReqSchema, GetSeqMessageRespSchema, SendMsgRespSchema,
} from "../src/gen/openim/msg/msg_pb.js";
import {
  GetMaxSeqReqSchema, GetMaxSeqRespSchema, PullMessageBySeqsReqSchema, PullMessageBySeqsRespSchema, PullOrder,
} from "../src/gen/openim/sdkws/sdkws_pb.js";
import { type TestNode, startTestNode } from "./support/node.js";
import { type TestClient, connect, settled, until } from "./support/client.js";
import { groupMsg, pushedMsg, text, textMsg } from "./support/pb.js";
import { runCli, serveProcess } from "./support/proc.js";

let n: TestNode;
beforeAll(async () => {
  n = await startTestNode();
});
afterAll(() => n.stop());

const login = (u: string, p = 5) => connect({ port: n.wsPort, userID: u, platformID: p, token: n.token(u, p), sdkType: "js", isMsgResp: true });
const si = (a: string, b: string) => `si_${[a, b].sort().join("_")}`;

async function maxSeqs(c: TestClient): Promise<Record<string, bigint>> {
  const r = await c.request(1001, toBinary(GetMaxSeqReqSchema, create(GetMaxSeqReqSchema, { userID: c.opts.userID })));
  return fromBinary(GetMaxSeqRespSchema, r.data ?? new Uint8Array()).maxSeqs;
}

async function pull(c: TestClient, conversationID: string, begin: number, end: number, num = 100, order = PullOrder.PullOrderAsc) {
  const r = await c.request(1002, toBinary(PullMessageBySeqsReqSchema, create(PullMessageBySeqsReqSchema, {
    userID: c.opts.userID, seqRanges: [{ conversationID, begin: BigInt(begin), end: BigInt(end), num: BigInt(num) }], order,
  })));
  expect(r.errCode).toBe(0);
  return fromBinary(PullMessageBySeqsRespSchema, r.data!).msgs[conversationID]!;
}

describe("one-to-one", () => {
  test("B offline, A sends three; B reconnects, sees max seq 3 and pulls them in order", async () => {
    const a = await login("ofa");
    for (const t of ["one", "two", "three"]) expect((await a.request(1003, textMsg("ofa", "ofb", t))).errCode).toBe(0);
    const b = await login("ofb");
    const conv = si("ofa", "ofb");
    expect(await maxSeqs(b)).toEqual({ [conv]: 3n });
    const got = await pull(b, conv, 1, 3);
    expect(got.Msgs.map((m) => [Number(m.seq), text(m)])).toEqual([[1, "one"], [2, "two"], [3, "three"]]);
    expect(got.isEnd).toBe(true);
    // OpenIM returns the newest `num` of a range, ascending in either order; Desc ends when begin reaches minSeq.
    const desc = await pull(b, conv, 1, 3, 2, PullOrder.PullOrderDesc);
    expect(desc.Msgs.map((m) => Number(m.seq))).toEqual([2, 3]);
    expect(desc.isEnd).toBe(true);
    a.close();
    b.close();
  });

  test("a third user cannot pull someone else's conversation", async () => {
    const c = await login("snoop");
    const r = await c.request(1002, toBinary(PullMessageBySeqsReqSchema, create(PullMessageBySeqsReqSchema, {
      userID: "snoop", seqRanges: [{ conversationID: si("ofa", "ofb"), begin: 1n, end: 3n, num: 10n }],
    })));
    // As in OpenIM, a conversation the user is not in is left out of the answer (the batch still succeeds).
    expect(r.errCode).toBe(0);
    const got = fromBinary(PullMessageBySeqsRespSchema, r.data!);
    expect(Object.keys(got.msgs).length + Object.keys(got.notificationMsgs).length).toBe(0);
    const other = await c.request(1002, toBinary(PullMessageBySeqsReqSchema, create(PullMessageBySeqsReqSchema, {
      userID: "ofb", seqRanges: [],
    })));
    expect(other.errCode).toBe(1002);
    c.close();
  });

  test("a resend with the same clientMsgID returns the original result and stores nothing new", async () => {
    const a = await login("ida");
    const b = await login("idb");
    const frame = textMsg("ida", "idb", "once", { clientMsgID: "fixed-client-id" });
    const r1 = fromBinary(SendMsgRespSchema, (await a.request(1003, frame)).data!);
    const r2 = fromBinary(SendMsgRespSchema, (await a.request(1003, frame)).data!);
    expect(r2).toEqual(r1);
    await b.nextPush(2001);
    expect(await maxSeqs(b)).toEqual({ [si("ida", "idb")]: 1n });
    await settled(b);
    expect(b.frames.filter((f) => f.reqIdentifier === 2001).length).toBe(1);
    a.close();
    b.close();
  });
});

describe("history", () => {
  test("1005 by seqs, 1006 has-read and max seq, 1007 last message", async () => {
    const a = await login("ha");
    for (let i = 1; i <= 5; i++) await a.request(1003, textMsg("ha", "hb", `m${i}`));
    const conv = si("ha", "hb");
    const r = await a.request(1005, toBinary(GetSeqMessageReqSchema, create(GetSeqMessageReqSchema, {
      userID: "ha", conversations: [{ conversationID: conv, seqs: [4n, 2n, 99n] }],
    })));
    expect(r.errCode).toBe(0);
    // In the order asked (OpenIM's GetMessagesBySeqWithBounds); 99 is past maxSeq in Asc order: the end.
    const got = fromBinary(GetSeqMessageRespSchema, r.data!).msgs[conv]!;
    expect(got.Msgs.map(text)).toEqual(["m4", "m2"]);
    expect([got.isEnd, got.endSeq]).toEqual([true, 5n]);

    await n.store.setHasReadSeq("ha", conv, 3);
    const hr = await a.request(1006, toBinary(GetConversationsHasReadAndMaxSeqReqSchema, create(GetConversationsHasReadAndMaxSeqReqSchema, { userID: "ha" })));
    const seqs = fromBinary(GetConversationsHasReadAndMaxSeqRespSchema, hr.data!).seqs[conv]!;
    expect([seqs.maxSeq, seqs.hasReadSeq]).toEqual([5n, 3n]);
    expect(seqs.maxSeqTime).toBeGreaterThan(0n);

    const last = await a.request(1007, toBinary(GetLastMessageReqSchema, create(GetLastMessageReqSchema, { userID: "ha", conversationIDs: [conv, "si_x_y"] })));
    const msgs = fromBinary(GetLastMessageRespSchema, last.data!).msgs;
    expect(Object.keys(msgs)).toEqual([conv]);
    expect(text(msgs[conv]!)).toBe("m5");
    a.close();
  });
});

describe("groups", () => {
  test("a group of three: one push each, the sender's echo after its reply; non-members refused", async () => {
    await n.store.setGroup("g3", ["ga", "gb", "gc"]);
    const [a, b, c, out] = await Promise.all(["ga", "gb", "gc", "gout"].map((u) => login(u)));
    const sent = await a!.request(1003, groupMsg("ga", "g3", "hi all"), { operationID: "g-op" });
    expect(sent.errCode).toBe(0);
    for (const k of [a!, b!, c!]) {
      const p = await k.nextPush(2001);
      const { conversationID, msg } = pushedMsg(p.data);
      expect(conversationID).toBe("sg_g3");
      expect(msg.seq).toBe(1n);
      expect(p.operationID).toBe("g-op");
    }
    for (const k of [a!, b!, c!]) await settled(k);
    for (const k of [a!, b!, c!]) expect(k.frames.filter((f) => f.reqIdentifier === 2001).length).toBe(1);
    expect((await out!.request(1003, groupMsg("gout", "g3", "let me in"))).errCode).toBe(1203);
    expect((await out!.request(1003, groupMsg("gout", "nosuch", "x"))).errCode).toBe(1201);
    expect(out!.frames.filter((f) => f.reqIdentifier === 2001).length).toBe(0);
    // Members see the group conversation in their max seqs; they can pull it.
    expect((await maxSeqs(b!))["sg_g3"]).toBe(1n);
    expect((await pull(c!, "sg_g3", 1, 1)).Msgs.map(text)).toEqual(["hi all"]);
    for (const k of [a!, b!, c!, out!]) k.close();
  });

  test("many senders into one conversation get seqs 1..N exactly", async () => {
    const members = Array.from({ length: 12 }, (_, i) => `cc${i}`);
    await n.store.setGroup("busy", members);
    const clients = await Promise.all(members.map((u) => login(u)));
    const per = 40;
    await Promise.all(clients.map((c, i) =>
      Promise.all(Array.from({ length: per }, (_, k) => c.request(1003, groupMsg(members[i]!, "busy", `${i}:${k}`)).then((r) => expect(r.errCode).toBe(0)))),
    ));
    const total = members.length * per;
    const got = await pull(clients[0]!, "sg_busy", 1, total, total);
    expect(got.Msgs.map((m) => Number(m.seq))).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    expect(new Set(got.Msgs.map(text)).size).toBe(total);
    // Every member received every message exactly once, in seq order.
    await until(() => clients.every((c) => c.frames.filter((f) => f.reqIdentifier === 2001).length === total), 10_000, "all pushes");
    for (const c of clients) {
      const seqs = c.frames.filter((f) => f.reqIdentifier === 2001).map((f) => Number(pushedMsg(f.data).msg.seq));
      expect(seqs).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    }
    for (const c of clients) c.close();
  });
});

describe("durability", () => {
  test("an acknowledged message survives kill -9", async () => {
    const dir = mkdtempSync(join(tmpdir(), "imgate-durable-"));
    try {
      const s1 = await serveProcess(dir);
      const tok = (u: string) => runCli(["token", "-u", u, "-p", "5", "--data-dir", dir]).stdout.trim();
      const a = await connect({ port: s1.ws, userID: "da", platformID: 5, token: tok("da"), sdkType: "js" });
      const acks = [];
      for (let i = 1; i <= 20; i++) acks.push(a.request(1003, textMsg("da", "db", `d${i}`)));
      for (const r of await Promise.all(acks)) expect(r.errCode).toBe(0);
      s1.proc.kill("SIGKILL");
      await s1.proc.exited;
      const s2 = await serveProcess(dir);
      const b = await connect({ port: s2.ws, userID: "db", platformID: 5, token: tok("db"), sdkType: "js" });
      const conv = si("da", "db");
      expect(await maxSeqs(b)).toEqual({ [conv]: 20n });
      const r = await b.request(1002, toBinary(PullMessageBySeqsReqSchema, create(PullMessageBySeqsReqSchema, {
        userID: "db", seqRanges: [{ conversationID: conv, begin: 1n, end: 20n, num: 20n }],
      })));
      expect(fromBinary(PullMessageBySeqsRespSchema, r.data!).msgs[conv]!.Msgs.map(text)).toEqual(Array.from({ length: 20 }, (_, i) => `d${i + 1}`));
      // Seqs continue without a gap after the restart.
      const more = await connect({ port: s2.ws, userID: "da", platformID: 5, token: tok("da"), sdkType: "js" });
      await more.request(1003, textMsg("da", "db", "after"));
      expect((await maxSeqs(b))[conv]).toBe(21n);
      s2.proc.kill("SIGTERM");
      expect(await s2.proc.exited).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
