// The hub port for app servers: every Admin and msgGateway method called as a plain HTTP/1.1 POST with JSON (fetch,
// no Connect client) and over gRPC (h2c, a Connect gRPC client), on the same port, with the same answers; binary
// protobuf over HTTP/1.1 too; the bearer token refused alike on both.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type DescMessage, type DescService, fromBinary, fromJson, toBinary, toJson } from "@bufbuild/protobuf";
import { ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Admin, StatsRequestSchema, StatsResponseSchema } from "../src/gen/imgate/admin/v1/admin_pb.js";
import { msgGateway } from "../src/gen/openim/msggateway/msggateway_pb.js";
import { classify } from "../src/hub/listener.js";
import { VERSION } from "../src/version.js";
import { type TestNode, startTestNode } from "./support/node.js";
import { connect } from "./support/client.js";
import { pushedMsg, text } from "./support/pb.js";

const TOKEN = "hub-http-secret";
let n: TestNode;
beforeAll(async () => {
  n = await startTestNode({ "rpc.token": TOKEN, "rpc.allowOpenIMWithoutToken": false });
});
afterAll(async () => {
  await n.stop();
});

type Answer = { ok: unknown } | { code: string; errcode: string | null; message: string };
const auth = { authorization: `Bearer ${TOKEN}` };
const opHeaders = { ...auth, operationid: "op-http", opuserid: "imAdmin" };

function methodOf(service: DescService, name: string) {
  const m = service.methods.find((x) => x.name === name);
  if (!m) throw new Error(`no method ${name}`);
  return m;
}

/** A plain HTTP/1.1 POST, as curl or an app server in any language sends it. */
async function overHttp(service: DescService, name: string, body: unknown, headers: Record<string, string>): Promise<Answer> {
  const res = await fetch(`http://127.0.0.1:${n.rpcPort}/${service.typeName}/${name}`, {
    method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body),
  });
  const json = (await res.json()) as any;
  if (res.ok) return { ok: json };
  return { code: json.code, errcode: res.headers.get("openim-errcode"), message: json.message };
}

const CODE_NAMES: Record<number, string> = { 3: "invalid_argument", 7: "permission_denied", 16: "unauthenticated" };

async function overGrpc(service: DescService, name: string, body: unknown, headers: Record<string, string>): Promise<Answer> {
  const m = methodOf(service, name);
  const client = createClient(service, createGrpcTransport({ baseUrl: `http://127.0.0.1:${n.rpcPort}` })) as any;
  try {
    const resp = await client[m.localName](fromJson(m.input, body as any), { headers });
    return { ok: toJson(m.output as DescMessage, resp) };
  } catch (e) {
    const err = ConnectError.from(e);
    // OpenIM's gRPC convention: the status code is the business code (1001...) for business errors.
    const errcode = err.code > 16 ? String(err.code) : null;
    return { code: CODE_NAMES[err.code] ?? String(err.code), errcode, message: err.rawMessage };
  }
}

const login = (u: string, p: number) => connect({ port: n.wsPort, userID: u, platformID: p, token: n.token(u, p), sdkType: "js" });
const msgData = { sendID: "sys", recvID: "hx", sessionType: 1, contentType: 101, content: Buffer.from(JSON.stringify({ content: "over http" })).toString("base64"), seq: "3" };

test("the first bytes tell HTTP/2 (the preface) from HTTP/1.1", () => {
  const preface = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
  expect(classify(preface)).toBe("h2");
  expect(classify(preface.subarray(0, 5))).toBeUndefined();
  expect(classify(Buffer.from("POST /imgate.admin.v1.Admin/Stats HTTP/1.1\r\n"))).toBe("h1");
  expect(classify(Buffer.from("PRX"))).toBe("h1");
});

describe("Admin over HTTP/1.1 JSON and over gRPC", () => {
  test("Stats", async () => {
    const [h, g] = [await overHttp(Admin, "Stats", {}, auth), await overGrpc(Admin, "Stats", {}, auth)];
    const { uptimeSeconds: _a, ...hs } = (h as any).ok, { uptimeSeconds: _b, ...gs } = (g as any).ok;
    expect(hs).toEqual(gs);
    expect([hs.version, hs.shape, hs.nodeID]).toEqual([VERSION, "embedded", n.node.nodeID]);
  });

  test("SetGroup, GetGroup, ListGroups, SetHasReadSeq", async () => {
    expect(await overHttp(Admin, "SetGroup", { groupID: "gh", userIDs: ["a", "b"] }, auth)).toEqual({ ok: {} });
    expect(await overGrpc(Admin, "SetGroup", { groupID: "gg", userIDs: ["c"] }, auth)).toEqual({ ok: {} });
    for (const call of [overHttp, overGrpc]) {
      expect(await call(Admin, "GetGroup", { groupID: "gh" }, auth)).toEqual({ ok: { groupID: "gh", userIDs: ["a", "b"] } });
      const list = (await call(Admin, "ListGroups", {}, auth)) as any;
      expect(list.ok.groups.map((g: any) => g.groupID).sort()).toEqual(["gg", "gh"]);
      expect(await call(Admin, "SetHasReadSeq", { userID: "a", conversationID: "sg_gh", hasReadSeq: "4" }, auth)).toEqual({ ok: {} });
      const bad = await call(Admin, "SetHasReadSeq", { userID: "a" }, auth);
      expect(bad).toMatchObject({ errcode: "1001" });
    }
    expect((await n.store.seqInfo("a", "sg_gh")).hasReadSeq).toBe(4);
  });

  test("Online and Kick", async () => {
    for (const call of [overHttp, overGrpc]) {
      const c = await login("ho", 5);
      const online = (await call(Admin, "Online", { userIDs: ["ho"] }, auth)) as any;
      expect(online.ok.connections).toEqual([expect.objectContaining({ userID: "ho", platformID: 5, platform: "Web" })]);
      expect(await call(Admin, "Kick", { userID: "ho", platformID: 5 }, auth)).toEqual({ ok: { kicked: 1 } });
      expect((await c.nextPush(2002)).reqIdentifier).toBe(2002);
      // gRPC keeps OpenIM's split (msg in the status, detail in ErrorInfo); the JSON body says both.
      expect(await call(Admin, "Kick", {}, auth)).toMatchObject({ errcode: "1001", message: call === overHttp ? "ArgsError: userID is empty" : "ArgsError" });
    }
  });

  test("a request the server cannot parse is a clear 400, not a dropped connection", async () => {
    const res = await fetch(`http://127.0.0.1:${n.rpcPort}/imgate.admin.v1.Admin/Kick`, {
      method: "POST", headers: { "content-type": "application/json", ...auth }, body: '{"userID": 5',
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).code).toBe("invalid_argument");
    const wrongType = await overHttp(Admin, "Kick", { userID: 5 }, auth);
    expect(wrongType).toMatchObject({ code: "invalid_argument" });
  });

  test("binary protobuf over HTTP/1.1 (application/proto)", async () => {
    const res = await fetch(`http://127.0.0.1:${n.rpcPort}/imgate.admin.v1.Admin/Stats`, {
      method: "POST", headers: { "content-type": "application/proto", ...auth }, body: toBinary(StatsRequestSchema, fromJson(StatsRequestSchema, {})),
    });
    expect(res.status).toBe(200);
    expect(fromBinary(StatsResponseSchema, new Uint8Array(await res.arrayBuffer())).nodeID).toBe(n.node.nodeID);
  });
});

describe("msgGateway over HTTP/1.1 JSON and over gRPC", () => {
  test("OnlinePushMsg, OnlineBatchPushOneMsg, SuperGroupOnlineBatchPushOneMsg: same results, one push each", async () => {
    const c = await login("hx", 5);
    const calls: [string, object][] = [
      ["OnlinePushMsg", { msgData, pushToUserID: "hx" }],
      ["OnlineBatchPushOneMsg", { msgData, pushToUserIDs: ["hx", "nobody"] }],
      ["SuperGroupOnlineBatchPushOneMsg", { msgData, pushToUserIDs: ["nobody", "hx"] }],
    ];
    for (const [name, body] of calls) {
      const h = await overHttp(msgGateway, name, body, opHeaders);
      const g = await overGrpc(msgGateway, name, body, opHeaders);
      expect(h).toEqual(g);
      expect(JSON.stringify(h)).toContain('"RecvPlatFormID":5');
      for (let i = 0; i < 2; i++) {
        const p = await c.nextPush(2001);
        expect(p.operationID).toBe("op-http");
        expect(text(pushedMsg(p.data).msg)).toBe("over http");
      }
    }
    c.close();
  });

  test("GetUsersOnlineStatus, KickUserOffline, MultiTerminalLoginCheck", async () => {
    const c = await login("hs", 2);
    const h = await overHttp(msgGateway, "GetUsersOnlineStatus", { userIDs: ["hs", "nobody"] }, opHeaders);
    expect(h).toEqual(await overGrpc(msgGateway, "GetUsersOnlineStatus", { userIDs: ["hs", "nobody"] }, opHeaders));
    expect((h as any).ok.successResult).toEqual([expect.objectContaining({ userID: "hs", status: 1 })]);
    // Not an admin: OpenIM's NoPermission, as a status code on gRPC and as a header over HTTP.
    const notAdmin = { ...opHeaders, opuserid: "hs" };
    expect(await overHttp(msgGateway, "GetUsersOnlineStatus", { userIDs: ["hs"] }, notAdmin)).toMatchObject({ code: "permission_denied", errcode: "1002" });
    expect(await overGrpc(msgGateway, "GetUsersOnlineStatus", { userIDs: ["hs"] }, notAdmin)).toMatchObject({ errcode: "1002" });
    for (const call of [overHttp, overGrpc]) {
      expect(await call(msgGateway, "MultiTerminalLoginCheck", { userID: "hs", platformID: 3, token: "t" }, opHeaders)).toEqual({ ok: {} });
      expect(await call(msgGateway, "KickUserOffline", { platformID: 12, kickUserIDList: ["hs"] }, opHeaders)).toMatchObject({ errcode: "1001" });
    }
    expect(await overHttp(msgGateway, "KickUserOffline", { platformID: 2, kickUserIDList: ["hs"] }, opHeaders)).toEqual({ ok: {} });
    expect((await c.nextPush(2002)).reqIdentifier).toBe(2002);
    const c2 = await login("hs", 2);
    expect(await overGrpc(msgGateway, "KickUserOffline", { platformID: 2, kickUserIDList: ["hs"] }, opHeaders)).toEqual({ ok: {} });
    expect((await c2.nextPush(2002)).reqIdentifier).toBe(2002);
  });

  test("OpenIM's metadata rule holds on both: no operationID is refused, with a hint over HTTP", async () => {
    const h = await overHttp(msgGateway, "GetUsersOnlineStatus", { userIDs: ["x"] }, auth);
    expect(h).toMatchObject({ code: "invalid_argument", errcode: "1001", message: expect.stringContaining("operationID header") });
    expect(await overGrpc(msgGateway, "GetUsersOnlineStatus", { userIDs: ["x"] }, auth)).toMatchObject({ code: "invalid_argument", message: "missing metadata" });
  });
});

test("a wrong or missing bearer token: 401 over HTTP, Unauthenticated over gRPC, for both services", async () => {
  const variants: Record<string, string>[] = [{ authorization: "Bearer wrong" }, {}];
  for (const headers of variants) {
    const res = await fetch(`http://127.0.0.1:${n.rpcPort}/imgate.admin.v1.Admin/Stats`, {
      method: "POST", headers: { "content-type": "application/json", ...headers }, body: "{}",
    });
    expect(res.status).toBe(401);
    expect(((await res.json()) as any).code).toBe("unauthenticated");
    expect(await overGrpc(Admin, "Stats", {}, headers)).toMatchObject({ code: "unauthenticated" });
    const gw = { ...headers, operationid: "op" };
    expect(await overHttp(msgGateway, "GetUsersOnlineStatus", { userIDs: ["x"] }, gw)).toMatchObject({ code: "unauthenticated" });
    expect(await overGrpc(msgGateway, "GetUsersOnlineStatus", { userIDs: ["x"] }, gw)).toMatchObject({ code: "unauthenticated" });
  }
});

test("Drain: the same answer over HTTP/1.1 and gRPC (two nodes, one connection each)", async () => {
  const answers: Answer[] = [];
  for (const call of [overHttp, overGrpc]) {
    const other = await startTestNode({ "rpc.token": TOKEN });
    const saved = n;
    n = other;
    try {
      const c = await login("hd", 5);
      answers.push(await call(Admin, "Drain", {}, auth));
      expect(await c.closed).toMatchObject({ code: 1012 });
    } finally {
      n = saved;
      await other.stop();
    }
  }
  expect(answers).toEqual([{ ok: { closed: 1 } }, { ok: { closed: 1 } }]);
});
