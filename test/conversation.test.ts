// Protocol conversations over real sockets against the embedded backend, in both dialects:
// login → 1001 → 1003 → push 2001 → logout.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { GetMaxSeqReqSchema, GetMaxSeqRespSchema, PullMessageBySeqsReqSchema, PullMessageBySeqsRespSchema } from "../src/gen/openim/sdkws/sdkws_pb.js";
import { SendMsgRespSchema } from "../src/gen/openim/msg/msg_pb.js";
import { DelUserPushTokenReqSchema } from "../src/gen/openim/push/push_pb.js";
import { type TestNode, startTestNode } from "./support/node.js";
import { connect, until } from "./support/client.js";
import { pushedMsg, text, textMsg } from "./support/pb.js";

let n: TestNode;
beforeAll(async () => {
  n = await startTestNode();
});
afterAll(() => n.stop());

const dialects = [
  { name: "JSON (sdkType=js)", sdkType: "js" as const, gzip: false, isMsgResp: true, platform: 5 },
  { name: "gob + gzip (Go SDK)", sdkType: "go" as const, gzip: true, isMsgResp: false, platform: 2 },
  { name: "gob (wasm SDK, isMsgResp)", sdkType: "go" as const, gzip: false, isMsgResp: true, platform: 5 },
];

for (const d of dialects) {
  describe(d.name, () => {
    test("login, max seq, send, push, logout", async () => {
      const a = `a-${d.sdkType}${d.gzip}${d.isMsgResp}`, b = `b-${d.sdkType}${d.gzip}${d.isMsgResp}`;
      const opts = { port: n.wsPort, sdkType: d.sdkType, gzip: d.gzip, isMsgResp: d.isMsgResp };
      const ca = await connect({ ...opts, userID: a, platformID: d.platform, token: n.token(a, d.platform) });
      const cb = await connect({ ...opts, userID: b, platformID: d.platform, token: n.token(b, d.platform) });

      const seq0 = await ca.request(1001, toBinary(GetMaxSeqReqSchema, create(GetMaxSeqReqSchema, { userID: a })));
      expect(seq0.errCode).toBe(0);
      // An empty reply message is zero bytes: "" in JSON, an omitted field in gob.
      expect(fromBinary(GetMaxSeqRespSchema, seq0.data ?? new Uint8Array(0)).maxSeqs).toEqual({});

      const sent = await ca.request(1003, textMsg(a, b, "hello"), { operationID: "send-op-1" });
      expect(sent.errCode).toBe(0);
      expect(sent.operationID).toBe("send-op-1");
      const sr = fromBinary(SendMsgRespSchema, sent.data!);
      expect(sr.serverMsgID).toMatch(/^[0-9a-f]{32}$/);

      const push = await cb.nextPush(2001);
      expect(push.operationID).toBe("send-op-1");
      expect(push.msgIncr).toBe("");
      const { conversationID, msg } = pushedMsg(push.data);
      expect(conversationID).toBe(`si_${[a, b].sort().join("_")}`);
      expect(msg.seq).toBe(1n);
      expect(msg.serverMsgID).toBe(sr.serverMsgID);
      expect(msg.sendTime).toBe(sr.sendTime);
      expect(text(msg)).toBe("hello");

      // The sender's own echo comes after its 1003 reply, with the same operationID.
      const echo = await ca.nextPush(2001);
      expect(echo.operationID).toBe("send-op-1");
      const replyIndex = ca.frames.findIndex((f) => f.reqIdentifier === 1003);
      const echoIndex = ca.frames.findIndex((f) => f.reqIdentifier === 2001);
      expect(echoIndex).toBeGreaterThan(replyIndex);

      const seq1 = fromBinary(GetMaxSeqRespSchema, (await cb.request(1001, toBinary(GetMaxSeqReqSchema, create(GetMaxSeqReqSchema, { userID: b })))).data!);
      expect(seq1.maxSeqs[conversationID]).toBe(1n);

      const pulled = await cb.request(1002, toBinary(PullMessageBySeqsReqSchema, create(PullMessageBySeqsReqSchema, {
        userID: b, seqRanges: [{ conversationID, begin: 1n, end: 1n, num: 10n }],
      })));
      expect(pulled.errCode).toBe(0);
      expect(text(fromBinary(PullMessageBySeqsRespSchema, pulled.data!).msgs[conversationID]!.Msgs[0]!)).toBe("hello");

      const out = await cb.request(2003, toBinary(DelUserPushTokenReqSchema, create(DelUserPushTokenReqSchema, { userID: b, platformID: d.platform })));
      expect(out.errCode).toBe(0);
      expect(out.data).toEqual(d.sdkType === "js" ? new Uint8Array(0) : undefined); // JSON keeps "" vs null; gob cannot
      await cb.closed;
      await until(() => n.node.registry.userConns(b) === undefined, 2000, "logout to unregister");
      ca.close();
      await ca.closed;
    });
  });
}

describe("heartbeats", () => {
  test("text ping is answered with pong keeping body; pong is ignored", async () => {
    const c = await connect({ port: n.wsPort, userID: "hb1", platformID: 5, token: n.token("hb1", 5), sdkType: "js", isMsgResp: true });
    c.sendRaw('{"type":"ping","body":"\\"123\\""}');
    c.sendRaw('{"type":"pong"}');
    c.sendRaw('{ "type" : "ping" }');
    c.sendRaw('{"type":"ping","body": {"a": [1, 2], "b":"<x>"} }');
    await until(() => c.texts.length >= 4);
    expect(c.texts.slice(1)).toEqual([
      '{"type":"pong","body":"\\"123\\""}',
      '{"type":"pong","body":null}',
      '{"type":"pong","body":{"a":[1,2],"b":"\\u003cx\\u003e"}}',
    ]);
    c.close();
  });

  test("a request sent as a text frame closes the connection", async () => {
    const c = await connect({ port: n.wsPort, userID: "hb2", platformID: 5, token: n.token("hb2", 5), sdkType: "js" });
    c.sendRaw('{"reqIdentifier":1001,"sendID":"hb2","msgIncr":"1","operationID":"o"}');
    const closed = await c.closed;
    expect(closed.code).toBe(1002);
  });
});

describe("request handling", () => {
  test("unknown reqIdentifier closes the connection; sendID mismatch closes it", async () => {
    const c1 = await connect({ port: n.wsPort, userID: "r1", platformID: 5, token: n.token("r1", 5), sdkType: "js" });
    c1.request(4242).catch(() => {});
    expect((await c1.closed).code).toBe(1008);
    const c2 = await connect({ port: n.wsPort, userID: "r2", platformID: 5, token: n.token("r2", 5), sdkType: "js" });
    c2.request(1001, undefined, { sendID: "someone-else" }).catch(() => {});
    expect((await c2.closed).reason).toContain("sendID");
    expect(n.node.counters.protocolCloses.get("unknownRequest")).toBeGreaterThanOrEqual(1);
  });

  test("envelope validation of 1002 answers 500 without closing", async () => {
    const c = await connect({ port: n.wsPort, userID: "r3", platformID: 5, token: n.token("r3", 5), sdkType: "js" });
    const r = await c.request(1002, undefined, { operationID: "" });
    expect(r.errCode).toBe(500);
    expect(r.errMsg).toBe("ServerInternalError");
    expect(r.data).toBeUndefined();
    const ok = await c.request(1001);
    expect(ok.errCode).toBe(0);
    c.close();
  });

  test("a bad protobuf payload answers 500", async () => {
    const c = await connect({ port: n.wsPort, userID: "r4", platformID: 5, token: n.token("r4", 5), sdkType: "js" });
    const r = await c.request(1003, new Uint8Array([0xff, 0xff, 0xff]));
    expect(r.errCode).toBe(500);
    c.close();
  });

  test("send validation errors come back as OpenIM codes", async () => {
    const c = await connect({ port: n.wsPort, userID: "r5", platformID: 5, token: n.token("r5", 5), sdkType: "js" });
    expect((await c.request(1003, textMsg("r5", "x", "hi", { content: new Uint8Array(0) }))).errCode).toBe(1001);
    expect((await c.request(1003, textMsg("other", "x", "hi"))).errCode).toBe(1002);
    expect((await c.request(1003, textMsg("r5", "x", "hi", { sessionType: 4 }))).errCode).toBe(1001);
    // 1004 works (the reference always fails it).
    expect((await c.request(1004, textMsg("r5", "x", "signal"))).errCode).toBe(0);
    c.close();
  });
});
