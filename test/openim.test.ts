// The openim shape against stand-ins of OpenIM's services (built from our proto/; OpenIM's Go services cannot
// run here): login, send, pull, logout and status sync go through OpenIM's paths with OpenIM's metadata.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { DelUserPushTokenReqSchema } from "../src/gen/openim/push/push_pb.js";
import { GetMaxSeqReqSchema, GetMaxSeqRespSchema, PullMessageBySeqsReqSchema, PullMessageBySeqsRespSchema } from "../src/gen/openim/sdkws/sdkws_pb.js";
import { signToken } from "../src/backend/embedded/jwt.js";
import { type TestNode, startTestNode } from "./support/node.js";
import { connect, until } from "./support/client.js";
import { text, textMsg } from "./support/pb.js";
import { startOpenIMStandins } from "./support/openim-standins.js";

const SECRET = "openIM123";
let openim: Awaited<ReturnType<typeof startOpenIMStandins>>;
let n: TestNode;
beforeAll(async () => {
  openim = await startOpenIMStandins(SECRET);
  const a = openim.address;
  n = await startTestNode({ shape: "openim", "openim.auth": a, "openim.msg": a, "openim.push": a, "openim.user": a, "presence.mergeIntervalMs": 100 });
});
afterAll(async () => {
  await n.stop();
  await openim.close();
});

const calls = (path: string) => openim.calls.filter((c) => c.path === path);

test("login, send, pull, logout and status sync go through OpenIM's services", async () => {
  const a = await connect({ port: n.wsPort, userID: "oa", platformID: 2, token: signToken(SECRET, "oa", 2, 3600), sdkType: "js", operationID: "login-op" });
  const parse = calls("/openim.auth.Auth/parseToken").at(-1)!;
  expect(parse.metadata).toMatchObject({ operationid: "login-op", opuserid: "oa" });
  expect(parse.metadata.connid).toMatch(/^[0-9a-f]{32}$/);

  const sent = await a.request(1003, textMsg("oa", "ob", "via openim"), { operationID: "send-op" });
  expect(sent.errCode).toBe(0);
  const send = calls("/openim.msg.msg/SendMsg").at(-1)!;
  expect(send.metadata).toMatchObject({ operationid: "send-op", opuserid: "oa", platform: "Android" });
  expect(send.request.msgData.sendID).toBe("oa");

  const seqs = fromBinary(GetMaxSeqRespSchema, (await a.request(1001, toBinary(GetMaxSeqReqSchema, create(GetMaxSeqReqSchema, { userID: "oa" })))).data!);
  expect(seqs.maxSeqs["si_oa_ob"]).toBe(1n);
  const pulled = await a.request(1002, toBinary(PullMessageBySeqsReqSchema, create(PullMessageBySeqsReqSchema, {
    userID: "oa", seqRanges: [{ conversationID: "si_oa_ob", begin: 1n, end: 1n, num: 1n }],
  })));
  expect(text(fromBinary(PullMessageBySeqsRespSchema, pulled.data!).msgs["si_oa_ob"]!.Msgs[0]!)).toBe("via openim");
  expect(calls("/openim.msg.msg/PullMessageBySeqs").length).toBe(1);

  // Status sync: the batcher writes through setUserOnlineStatus with "p_<pid>_<n>" operationIDs.
  await until(() => openim.online.get("oa")?.has(2) === true, 3000, "online status synced");
  const sync = calls("/openim.user.user/setUserOnlineStatus").at(-1)!;
  expect(sync.metadata.operationid).toMatch(/^p_\d+_\d+$/);

  const out = await a.request(2003, toBinary(DelUserPushTokenReqSchema, create(DelUserPushTokenReqSchema, { userID: "oa", platformID: 2 })));
  expect(out.errCode).toBe(0);
  expect(calls("/openim.push.PushMsgService/DelUserPushToken").at(-1)!.request).toMatchObject({ userID: "oa", platformID: 2 });
  await a.closed;
  await until(() => openim.online.get("oa")?.size === 0, 3000, "offline status synced");
});

test("OpenIM's errors pass through: a kicked token is 1506 at the handshake; a foreign sendID is 1002", async () => {
  const tok = signToken(SECRET, "ok1", 5, 3600);
  const c = await connect({ port: n.wsPort, userID: "ok1", platformID: 5, token: tok, sdkType: "js" });
  expect((await c.request(1003, textMsg("ok1", "x", "hi"))).errCode).toBe(0);
  const foreign = await c.request(1003, textMsg("someone-else", "x", "spoof"));
  expect([foreign.errCode, foreign.errMsg]).toEqual([1002, "NoPermissionError"]);
  c.close();
  // policy 1 here: a second login on the same platform kicks the first and calls invalidateToken.
  const first = await connect({ port: n.wsPort, userID: "ok2", platformID: 5, token: signToken(SECRET, "ok2", 5, 100), sdkType: "js" });
  const second = await connect({ port: n.wsPort, userID: "ok2", platformID: 5, token: signToken(SECRET, "ok2", 5, 200), sdkType: "js", operationID: "second" });
  await first.nextPush(2002);
  await until(() => calls("/openim.auth.Auth/invalidateToken").length > 0, 3000, "invalidateToken");
  const inv = calls("/openim.auth.Auth/invalidateToken").at(-1)!;
  expect(inv.request).toMatchObject({ userID: "ok2", platformID: 5, preservedToken: second.opts.token });
  expect(inv.metadata).toMatchObject({ operationid: "second", opuserid: "ok2", platform: "Web" });
  second.close();
  // A token the auth service says is expired.
  const expired = await fetch(`http://127.0.0.1:${n.wsPort}/?${new URLSearchParams({ sendID: "ok3", token: signToken(SECRET, "ok3", 5, -5), platformID: "5", operationID: "o", isBackground: "false" })}`);
  expect(JSON.parse(await expired.text())).toMatchObject({ errCode: 1501, errMsg: "TokenExpiredError" });
});

test("an unreachable OpenIM service is 500 'grpc service … down'", async () => {
  const dead = await startTestNode({ shape: "openim", "openim.auth": "127.0.0.1:1", "openim.msg": "127.0.0.1:1", "openim.push": "127.0.0.1:1", "openim.user": "127.0.0.1:1" });
  const r = await fetch(`http://127.0.0.1:${dead.wsPort}/?${new URLSearchParams({ sendID: "u", token: "t", platformID: "5", operationID: "o", isBackground: "false" })}`);
  const body = JSON.parse(await r.text());
  expect(body.errCode).toBe(500);
  expect(body.errMsg).toStartWith("grpc service auth down");
  await dead.stop();
});

test("2005 lookups use OpenIM's online cache: one getUserStatus per user, then the cache", async () => {
  const c = await connect({ port: n.wsPort, userID: "cw", platformID: 5, token: signToken(SECRET, "cw", 5, 3600), sdkType: "js" });
  const { SubUserOnlineStatusSchema } = await import("../src/gen/openim/sdkws/sdkws_pb.js");
  const sub = (ids: string[]) => c.request(2005, toBinary(SubUserOnlineStatusSchema, create(SubUserOnlineStatusSchema, { subscribeUserID: ids })));
  const before = calls("/openim.user.user/getUserStatus").length;
  expect((await sub(["cached-a", "cached-b"])).errCode).toBe(0);
  expect((await sub(["cached-a"])).errCode).toBe(0);
  expect((await sub(["cached-b", "cached-a"])).errCode).toBe(0);
  const lookups = calls("/openim.user.user/getUserStatus").slice(before);
  expect(lookups.length).toBe(1);
  expect(lookups[0]!.request.userIDs).toEqual(["cached-a", "cached-b"]);
  c.close();
});

test("the gateway's own calls never share an operationID: status writes and webhooks draw from one sequence", async () => {
  const hookOps: string[] = [];
  const hooks = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (req) => (hookOps.push(req.headers.get("operationID") ?? ""), Response.json({ errCode: 0 })) });
  const a = openim.address;
  const m = await startTestNode({
    shape: "openim", "openim.auth": a, "openim.msg": a, "openim.push": a, "openim.user": a, "presence.mergeIntervalMs": 50,
    "webhooks.url": `http://127.0.0.1:${hooks.port}/cb`, "webhooks.afterUserOnline.enable": true, "webhooks.afterUserOffline.enable": true,
  });
  try {
    const before = calls("/openim.user.user/setUserOnlineStatus").length;
    for (const u of ["op1", "op2", "op3"]) {
      const c = await connect({ port: m.wsPort, userID: u, platformID: 5, token: signToken(SECRET, u, 5, 3600), sdkType: "js" });
      c.close();
    }
    await until(() => hookOps.length >= 6 && calls("/openim.user.user/setUserOnlineStatus").length > before, 5000, "hooks and status writes");
    const statusOps = calls("/openim.user.user/setUserOnlineStatus").slice(before).map((c) => c.metadata.operationid!);
    const all = [...statusOps, ...hookOps];
    expect(all.every((op) => /^p_\d+_\d+$/.test(op))).toBe(true);
    expect(new Set(all).size).toBe(all.length);
  } finally {
    await m.stop();
    hooks.stop(true);
  }
});

test("a request's backend call is cancelled at the request's deadline, and when its connection closes", async () => {
  const { GetLastMessageReqSchema } = await import("../src/gen/openim/msg/msg_pb.js");
  const a = openim.address;
  const m = await startTestNode({ shape: "openim", "openim.auth": a, "openim.msg": a, "openim.push": a, "openim.user": a, "ws.requestTimeoutMs": 1500 });
  openim.hang.add("getLastMessage");
  try {
    const last = () => toBinary(GetLastMessageReqSchema, create(GetLastMessageReqSchema, { userID: "cx", conversationIDs: ["si_cx_cy"] }));
    const c = await connect({ port: m.wsPort, userID: "cx", platformID: 5, token: signToken(SECRET, "cx", 5, 3600), sdkType: "js" });
    // The deadline: answered 500, and OpenIM's service sees its call cancelled (not left running).
    const t0 = performance.now();
    expect((await c.request(1007, last())).errCode).toBe(500);
    expect(performance.now() - t0).toBeLessThan(3000);
    await until(() => openim.cancelled.length === 1, 2000, "the call cancelled at the deadline");
    // The connection going: its call in flight is cancelled at once, long before any deadline.
    const d = await connect({ port: m.wsPort, userID: "cz", platformID: 5, token: signToken(SECRET, "cz", 5, 3600), sdkType: "js" });
    void d.request(1007, last()).catch(() => {});
    await until(() => calls("/openim.msg.msg/GetLastMessage").length === 2, 2000, "the second call to arrive");
    d.close();
    await until(() => openim.cancelled.length === 2, 500, "the call cancelled by the close (the deadline is 1.5 s away)");
    c.close();
  } finally {
    openim.hang.delete("getLastMessage");
    await m.stop();
  }
});

test("OpenIM's API, the SDKs' routes included, is OpenIM's api service's here: 404 with the reason, nothing answered from imgate's data", async () => {
  for (const path of ["/auth/get_user_token", "/user/get_users_info", "/group/create_group", "/conversation/get_all_conversations", "/jssdk/get_conversations", "/friend/get_friend_list"]) {
    const r = await fetch(`http://127.0.0.1:${n.adminPort}${path}`, { method: "POST", headers: { operationID: "x", token: signToken(SECRET, "oa", 5, 3600) }, body: "{}" });
    expect(r.status).toBe(404);
    expect(((await r.json()) as { errDlt: string }).errDlt).toContain("OpenIM's own api service");
  }
});
