// The app-server flow an OpenIM integrator writes, in plain HTTP/JSON (fetch, OpenIM's paths, headers and envelope):
// get an admin token, mint a user token, the user connects with it, the system sends to it (stored, seq, pushed as a
// client's 1003 would be), force_logout kicks it for good. And bad input: a clear error with OpenIM's code, nothing stored.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { GetMaxSeqReqSchema, GetMaxSeqRespSchema } from "../src/gen/openim/sdkws/sdkws_pb.js";
import { type TestNode, SECRET, startTestNode } from "./support/node.js";
import { connect } from "./support/client.js";
import { pushedMsg, text } from "./support/pb.js";
import { freePort } from "./support/proc.js";

let n: TestNode;
let base: string;
beforeAll(async () => {
  n = await startTestNode({ "imAdminUser.userIDs": ["imAdmin"] });
  base = `http://127.0.0.1:${n.adminPort}`;
});
afterAll(async () => {
  await n.stop();
});

let op = 0;
async function call(path: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(base + path, {
    method: "POST",
    headers: { "Content-Type": "application/json", operationID: `op-api-${++op}`, ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: res.status, ...((await res.json()) as { errCode: number; errMsg: string; errDlt: string; data?: any }) };
}

async function adminToken(): Promise<string> {
  const r = await call("/auth/get_admin_token", { secret: SECRET, userID: "imAdmin" });
  expect(r).toMatchObject({ status: 200, errCode: 0 });
  return r.data.token;
}

async function maxSeqOf(userID: string, conversationID: string): Promise<bigint> {
  const c = await connect({ port: n.wsPort, userID, platformID: 3, token: n.token(userID, 3), sdkType: "js" });
  const r = await c.request(1001, toBinary(GetMaxSeqReqSchema, create(GetMaxSeqReqSchema, { userID })));
  c.close();
  return fromBinary(GetMaxSeqRespSchema, r.data!).maxSeqs[conversationID] ?? 0n;
}

const textMsg = (extra: Record<string, unknown> = {}) => ({
  sendID: "system", recvID: "alice", senderPlatformID: 10, content: { content: "hello from the app server" }, contentType: 101, sessionType: 1, ...extra,
});

describe("the app-server flow", () => {
  test("admin token, user token, connect, send_msg (stored, seq, pushed), force_logout", async () => {
    const admin = await adminToken();
    // (Values are read before toMatchObject: bun's asymmetric matchers overwrite what they matched.)
    const ut = await call("/auth/get_user_token", { userID: "alice", platformID: 5 }, { token: admin });
    const userToken: string = ut.data.token;
    expect(typeof userToken).toBe("string");
    expect(ut).toMatchObject({ errCode: 0, errMsg: "", errDlt: "", data: { expireTimeSeconds: 90 * 86400 } });

    const alice = await connect({ port: n.wsPort, userID: "alice", platformID: 5, token: userToken, sdkType: "js" });
    const sent = await call("/msg/send_msg", textMsg(), { token: admin });
    const { serverMsgID, clientMsgID, sendTime } = sent.data;
    expect(sent.errCode).toBe(0);
    expect(serverMsgID).toMatch(/^[0-9a-f]{32}$/);
    expect(clientMsgID).toMatch(/^[0-9a-f]{32}$/);
    expect(Math.abs(sendTime - Date.now())).toBeLessThan(60_000);
    const push = pushedMsg((await alice.nextPush(2001)).data);
    expect(push.conversationID).toBe("si_alice_system");
    expect(push.msg.seq).toBe(1n);
    expect([push.msg.serverMsgID, push.msg.clientMsgID]).toEqual([serverMsgID, clientMsgID]);
    expect(push.msg.msgFrom).toBe(200);
    expect(text(push.msg)).toBe("hello from the app server");
    expect(await maxSeqOf("alice", "si_alice_system")).toBe(1n);

    const online = await call("/user/get_users_online_status", { userIDs: ["alice", "nobody"] }, { token: admin });
    expect(online.data.map((u: any) => [u.userID, u.status, u.detailPlatformStatus?.map((d: any) => [d.platformID, d.token])])).toEqual([
      ["alice", 1, [[5, userToken]]],
      ["nobody", undefined, undefined],
    ]);
    const status = await call("/user/get_users_status", { userIDs: ["alice", "nobody"] }, { token: userToken });
    expect(status.data).toEqual({ statusList: [{ userID: "alice", status: 1, platformIDs: [5] }, { userID: "nobody" }] });

    const out = await call("/auth/force_logout", { userID: "alice", platformID: 5 }, { token: admin });
    expect(out).toEqual({ status: 200, errCode: 0, errMsg: "", errDlt: "" });
    expect((await alice.nextPush(2002)).reqIdentifier).toBe(2002);
    await alice.closed;
    // The kicked token cannot come back (OpenIM's 1506 at the handshake).
    const again = await connect({ port: n.wsPort, userID: "alice", platformID: 5, token: userToken, sdkType: "js", isMsgResp: true }).then(
      async (c) => (await c.closed).reason, (e: Error) => e.message);
    expect(again).toContain("1506");
    // A token minted after the logout works.
    const fresh = await call("/auth/get_user_token", { userID: "alice", platformID: 5 }, { token: admin });
    const back = await connect({ port: n.wsPort, userID: "alice", platformID: 5, token: fresh.data.token, sdkType: "js" });
    back.close();
  });

  test("send_msg is idempotent by clientMsgID; batch_send_msg gives each recipient its own message", async () => {
    const admin = await adminToken();
    const bob = await connect({ port: n.wsPort, userID: "bob", platformID: 2, token: n.token("bob", 2), sdkType: "js" });
    const once = textMsg({ recvID: "bob", clientMsgID: "app-msg-1" });
    const a = await call("/msg/send_msg", once, { token: admin });
    const b = await call("/msg/send_msg", once, { token: admin });
    expect(b.data).toEqual(a.data);
    await bob.nextPush(2001);
    await Bun.sleep(100);
    expect(bob.frames.filter((f) => f.reqIdentifier === 2001).length).toBe(1);
    expect(await maxSeqOf("bob", "si_bob_system")).toBe(1n);

    const batch = await call("/msg/batch_send_msg", { ...textMsg(), recvIDs: ["bob", "carol"], clientMsgID: "app-batch-1" }, { token: admin });
    expect(batch.errCode).toBe(0);
    expect(batch.data.failedUserIDs).toBeNull();
    expect(batch.data.results.map((r: any) => r.recvID)).toEqual(["bob", "carol"]);
    expect(new Set(batch.data.results.map((r: any) => r.clientMsgID)).size).toBe(2);
    expect(pushedMsg((await bob.nextPush(2001)).data).msg.seq).toBe(2n);
    expect(await maxSeqOf("carol", "si_carol_system")).toBe(1n);
    // Retried, the batch stores nothing new.
    await call("/msg/batch_send_msg", { ...textMsg(), recvIDs: ["bob", "carol"], clientMsgID: "app-batch-1" }, { token: admin });
    expect(await maxSeqOf("carol", "si_carol_system")).toBe(1n);
    bob.close();
  });

  test("a group message and an online-only message", async () => {
    const admin = await adminToken();
    await n.store.setGroup("team", ["system", "dave"]);
    const dave = await connect({ port: n.wsPort, userID: "dave", platformID: 5, token: n.token("dave", 5), sdkType: "js" });
    const g = await call("/msg/send_msg", textMsg({ recvID: "", groupID: "team", sessionType: 3 }), { token: admin });
    expect(g.errCode).toBe(0);
    expect(pushedMsg((await dave.nextPush(2001)).data).conversationID).toBe("sg_team");
    const live = await call("/msg/send_msg", textMsg({ recvID: "dave", isOnlineOnly: true, content: { content: "typing..." } }), { token: admin });
    expect(live.errCode).toBe(0);
    const p = pushedMsg((await dave.nextPush(2001)).data);
    expect([text(p.msg), p.msg.seq]).toEqual(["typing...", 0n]);
    expect(await maxSeqOf("dave", "si_dave_system")).toBe(0n);
    dave.close();
  });
});

describe("OpenIM's rules and bad input: a clear error, nothing stored", () => {
  test("tokens: secret, admin list, platform, headers", async () => {
    expect(await call("/auth/get_admin_token", { secret: "wrong", userID: "imAdmin" })).toMatchObject({ errCode: 1002, errMsg: "NoPermissionError", errDlt: "secret invalid" });
    expect(await call("/auth/get_admin_token", { secret: SECRET, userID: "mallory" })).toMatchObject({ errCode: 1001 });
    const admin = await adminToken();
    expect(await call("/auth/get_user_token", { userID: "imAdmin", platformID: 5 }, { token: admin })).toMatchObject({ errCode: 1002, errDlt: "don't get Admin token" });
    expect(await call("/auth/get_user_token", { userID: "erin", platformID: 10 }, { token: admin })).toMatchObject({ errCode: 1002 });
    expect(await call("/auth/get_user_token", { userID: "erin", platformID: 12 }, { token: admin })).toMatchObject({ errCode: 1001 });
    expect(await call("/auth/get_user_token", { userID: "erin", platformID: 5 })).toMatchObject({ errCode: 1001, errDlt: "header must have token" });
    expect(await call("/auth/get_user_token", { userID: "erin", platformID: 5 }, { token: "garbage" })).toMatchObject({ errCode: 1503 });
    const noOp = await fetch(base + "/auth/get_admin_token", { method: "POST", body: JSON.stringify({ secret: SECRET, userID: "imAdmin" }) });
    expect(await noOp.json()).toMatchObject({ errCode: 1001, errDlt: "header must have operationID" });
    const parsed = await call("/auth/parse_token", { token: admin });
    expect(parsed.data).toMatchObject({ userID: "imAdmin", platformID: 10 });
  });

  test("malformed JSON, wrong types, missing fields, a non-admin caller, a 10 MB body", async () => {
    const admin = await adminToken();
    const user = (await call("/auth/get_user_token", { userID: "frank", platformID: 5 }, { token: admin })).data.token;
    const cases: [string, unknown, Record<string, string>, Partial<{ status: number; errCode: number; errDlt: string }>][] = [
      ["malformed JSON", '{"sendID": "system",', { token: admin }, { errCode: 1001, errDlt: expect.stringContaining("not valid JSON") as any }],
      ["a field of the wrong type", textMsg({ recvID: "frank", sendID: 7 }), { token: admin }, { errCode: 1001, errDlt: "json: cannot unmarshal number into Go struct field SendMsgReq.sendID of type string" }],
      ["contentType as a string", textMsg({ recvID: "frank", contentType: "101" }), { token: admin }, { errCode: 1001 }],
      ["no content", { ...textMsg({ recvID: "frank" }), content: undefined }, { token: admin }, { errCode: 1001, errDlt: "content is required" }],
      ["a text without its text", textMsg({ recvID: "frank", content: { foo: 1 } }), { token: admin }, { errCode: 1001 }],
      ["no recvID in a single chat", textMsg({ recvID: "" }), { token: admin }, { errCode: 1001 }],
      ["an unsupported content type", textMsg({ recvID: "frank", contentType: 999 }), { token: admin }, { errCode: 1001 }],
      ["a user's token on an admin call", textMsg({ recvID: "frank" }), { token: user }, { errCode: 1002 }],
    ];
    for (const [what, body, headers, want] of cases) {
      const r = await call("/msg/send_msg", body, headers);
      expect({ what, ...r }).toMatchObject({ what, status: 200, ...want });
    }
    const huge = JSON.stringify(textMsg({ recvID: "frank", content: { content: "x".repeat(10 << 20) } }));
    const r = await call("/msg/send_msg", huge, { token: admin });
    expect(r).toMatchObject({ status: 413, errCode: 1001, errDlt: expect.stringContaining("api.maxBodyBytes") });
    expect(await call("/msg/nope", {}, { token: admin })).toMatchObject({ status: 404 });
    expect(await call("/msg/batch_send_msg", { ...textMsg(), isSendAll: true }, { token: admin })).toMatchObject({ errCode: 1001 });
    // None of it was stored.
    expect(await maxSeqOf("frank", "si_frank_system")).toBe(0n);
    // And the node still serves.
    expect((await call("/msg/send_msg", textMsg({ recvID: "frank" }), { token: admin })).errCode).toBe(0);
    // Counted as OpenIM's api service counts: by errCode and by HTTP status.
    const metrics = await (await fetch(`${base}/metrics`)).text();
    const value = (line: string) => Number(metrics.split("\n").find((l) => l.startsWith(line))?.split(" ").pop() ?? 0);
    expect(value('api_count{path="/msg/send_msg",method="POST",code="1002"}')).toBeGreaterThanOrEqual(1);
    expect(value('http_count{path="/msg/send_msg",method="POST",status="413"}')).toBe(1);
    expect(value('http_count{path="<404>",method="POST",status="404"}')).toBeGreaterThanOrEqual(1);
  });
});

test("api.listen gives the API a listener of its own (OpenIM's api port), off the admin port", async () => {
  const port = await freePort();
  const own = await startTestNode({ "api.listen": `127.0.0.1:${port}` });
  try {
    expect(own.node.ports.api).toBe(port);
    const r = await fetch(`http://127.0.0.1:${port}/auth/get_admin_token`, {
      method: "POST", headers: { operationID: "op-own" }, body: JSON.stringify({ secret: SECRET, userID: "imAdmin" }),
    });
    expect(((await r.json()) as any).errCode).toBe(0);
    expect((await fetch(`http://127.0.0.1:${own.adminPort}/auth/get_admin_token`, { method: "POST", body: "{}" })).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(404);
  } finally {
    await own.stop();
  }
  const off = await startTestNode({ "api.enable": false });
  try {
    const r = await fetch(`http://127.0.0.1:${off.adminPort}/auth/get_admin_token`, { method: "POST", body: "{}" });
    expect(r.status).toBe(404);
    expect(((await r.json()) as any).errDlt).toContain("api.enable");
  } finally {
    await off.stop();
  }
});
