// The OpenIM msgGateway service called by a grpc-js client (a stand-in for OpenIM's grpc-go services), and
// the hub's conventions: operationid metadata, business codes as status codes, admin check, bearer token.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Admin } from "../src/gen/imgate/admin/v1/admin_pb.js";
import { SetAppBackgroundStatusReqSchema } from "../src/gen/openim/sdkws/sdkws_pb.js";
import { type TestNode, startTestNode } from "./support/node.js";
import { type TestClient, connect, settled, until } from "./support/client.js";
import { msgGatewayClient } from "./support/grpcjs.js";
import { pushedMsg, text } from "./support/pb.js";

let n: TestNode;
let gw: ReturnType<typeof msgGatewayClient>;
beforeAll(async () => {
  n = await startTestNode({ "rpc.token": "hub-secret", "multiLogin.policy": 1 });
  gw = msgGatewayClient(n.rpcPort);
});
afterAll(async () => {
  gw.close();
  await n.stop();
});

const login = (u: string, p: number, opts: { sdkType?: "js" | "go"; gzip?: boolean } = { sdkType: "js" }) =>
  connect({ port: n.wsPort, userID: u, platformID: p, token: n.token(u, p), ...opts });
const msgData = (content = "pushed") => ({
  sendID: "sys", recvID: "r", sessionType: 1, contentType: 101, content: Buffer.from(JSON.stringify({ content })), seq: 7, serverMsgID: "s1",
});

describe("push methods", () => {
  test("SuperGroupOnlineBatchPushOneMsg: exact results in request order; offline, background iOS and duplicates", async () => {
    const ios = await login("h1", 1);
    const android = await login("h1", 2, { sdkType: "go", gzip: true });
    const web = await login("h2", 5);
    await ios.request(2004, toBinary(SetAppBackgroundStatusReqSchema, create(SetAppBackgroundStatusReqSchema, { isBackground: true })));
    const r = await gw.call("SuperGroupOnlineBatchPushOneMsg", { msgData: msgData("group!"), pushToUserIDs: ["h2", "nobody", "h1", "h2"] }, { operationid: "push-1" });
    const results = r.singlePushResult.map((x: any) => ({
      userID: x.userID, onlinePush: x.onlinePush,
      resp: x.resp.map((p: any) => [p.RecvPlatFormID, p.ResultCode]).sort(),
    }));
    expect(results).toEqual([
      { userID: "h2", onlinePush: false, resp: [[5, 0]] },
      { userID: "nobody", onlinePush: false, resp: [] },
      { userID: "h1", onlinePush: true, resp: [[1, 1604], [2, 0]] },
      { userID: "h2", onlinePush: false, resp: [[5, 0]] },
    ]);
    // h2 appears twice in the request: two pushes, as the reference does.
    for (const c of [web, android]) {
      const p = await c.nextPush(2001);
      expect(p.operationID).toBe("push-1");
      expect(text(pushedMsg(p.data).msg)).toBe("group!");
    }
    await web.nextPush(2001);
    await settled(ios);
    expect(ios.frames.some((f) => f.reqIdentifier === 2001)).toBe(false);
    for (const c of [ios, android, web]) c.close();
  });

  test("OnlineBatchPushOneMsg and OnlinePushMsg are implemented", async () => {
    const c = await login("h3", 3);
    const b = await gw.call("OnlineBatchPushOneMsg", { msgData: msgData(), pushToUserIDs: ["h3"] });
    expect(b.singlePushResult[0].resp[0].ResultCode).toBe(0);
    const one = await gw.call("OnlinePushMsg", { msgData: msgData(), pushToUserID: "h3" });
    expect(one.resp.map((p: any) => [p.RecvPlatFormID, p.ResultCode])).toEqual([[3, 0]]);
    await c.nextPush(2001);
    await c.nextPush(2001);
    c.close();
  });

  test("request checks answer 1001 with the detail in ErrorInfo", async () => {
    await expect(gw.call("SuperGroupOnlineBatchPushOneMsg", { msgData: msgData(), pushToUserIDs: [] })).rejects.toMatchObject({
      code: 1001, details: "ArgsError", cause: "pushToUserIDs is empty",
    });
    await expect(gw.call("SuperGroupOnlineBatchPushOneMsg", { pushToUserIDs: ["a"] })).rejects.toMatchObject({ code: 1001, cause: "msgData is empty" });
    await expect(gw.call("SuperGroupOnlineBatchPushOneMsg", { msgData: { ...msgData(), content: Buffer.alloc(0) }, pushToUserIDs: ["a"] }))
      .rejects.toMatchObject({ code: 1001, cause: "content is empty" });
    await expect(gw.call("KickUserOffline", { platformID: 12, kickUserIDList: ["a"] })).rejects.toMatchObject({ code: 1001 });
  });

  test("operationid metadata is required", async () => {
    await expect(gw.call("SuperGroupOnlineBatchPushOneMsg", { msgData: msgData(), pushToUserIDs: ["a"] }, {})).rejects.toMatchObject({
      code: 3, details: "missing metadata",
    });
  });
});

describe("status and kicks", () => {
  test("GetUsersOnlineStatus is admin only and lists each connection", async () => {
    const a = await login("s1", 2);
    const b = await login("s1", 5);
    await expect(gw.call("GetUsersOnlineStatus", { userIDs: ["s1"] }, { operationid: "x", opuserid: "s1" })).rejects.toMatchObject({
      code: 1002, details: "NoPermissionError", cause: "only app manager",
    });
    const r = await gw.call("GetUsersOnlineStatus", { userIDs: ["s1", "ghost"] }, { operationid: "x", opuserid: "imAdmin" });
    expect(r.successResult.length).toBe(1);
    expect(r.successResult[0].userID).toBe("s1");
    expect(r.successResult[0].status).toBe(1);
    expect(r.successResult[0].detailPlatformStatus.map((d: any) => d.platformID).sort()).toEqual([2, 5]);
    expect(r.successResult[0].detailPlatformStatus[0].connID).toMatch(/^[0-9a-f]{32}$/);
    expect(r.failedResult).toEqual([]);
    // The temp-admin header also counts as admin.
    const t = await gw.call("GetUsersOnlineStatus", { userIDs: ["s1"] }, { operationid: "x", opuserid: "s1", customheader: "ctxImTempAdminKey", ctximtempadminkey: "1" });
    expect(t.successResult.length).toBe(1);
    a.close();
    b.close();
  });

  test("KickUserOffline and MultiTerminalLoginCheck (a peer's login) kick with 2002", async () => {
    const a = await login("s2", 1);
    await gw.call("KickUserOffline", { platformID: 1, kickUserIDList: ["s2"] });
    expect((await a.nextPush(2002)).reqIdentifier).toBe(2002);
    await a.closed;

    const b = await login("s3", 2);
    // Same token on the peer: a reconnect, nothing happens.
    await gw.call("MultiTerminalLoginCheck", { userID: "s3", platformID: 2, token: b.opts.token });
    await settled(b);
    expect(n.node.registry.userConns("s3")?.length).toBe(1);
    await gw.call("MultiTerminalLoginCheck", { userID: "s3", platformID: 2, token: "another-token" });
    await b.nextPush(2002);
    await until(() => n.node.registry.userConns("s3") === undefined);
  });
});

describe("other protocols on the same listener", () => {
  test("Connect (HTTP/2) and gRPC-web reach the same methods; business codes travel in openim-errcode", async () => {
    const { createConnectTransport, createGrpcWebTransport } = await import("@connectrpc/connect-node");
    const { ConnectError } = await import("@connectrpc/connect");
    for (const transport of [
      createConnectTransport({ baseUrl: `http://127.0.0.1:${n.rpcPort}`, httpVersion: "2" }),
      createGrpcWebTransport({ baseUrl: `http://127.0.0.1:${n.rpcPort}`, httpVersion: "2" }),
    ]) {
      const client = createClient((await import("../src/gen/openim/msggateway/msggateway_pb.js")).msgGateway, transport);
      const ok = await client.kickUserOffline({ platformID: 1, kickUserIDList: ["nobody"] }, { headers: { operationid: "c" } });
      expect(ok.$typeName).toBe("openim.msggateway.KickUserOfflineResp");
      const err = await client.kickUserOffline({ platformID: 1, kickUserIDList: [] }, { headers: { operationid: "c" } }).catch((e) => e);
      expect(err).toBeInstanceOf(ConnectError);
      expect(err.code).toBe(3); // InvalidArgument for 1001
      expect(err.metadata.get("openim-errcode")).toBe("1001");
    }
  });
});

describe("bearer token", () => {
  test("the admin API needs it; OpenIM's methods do not while allowed", async () => {
    const admin = createClient(Admin, createGrpcTransport({ baseUrl: `http://127.0.0.1:${n.rpcPort}` }));
    await expect(admin.stats({})).rejects.toMatchObject({ code: 16 });
    await expect(admin.stats({}, { headers: { authorization: "Bearer wrong" } })).rejects.toMatchObject({ code: 16 });
    const s = await admin.stats({}, { headers: { authorization: "Bearer hub-secret" } });
    expect(s.version).toMatch(/^\d/);
    await gw.call("KickUserOffline", { platformID: 1, kickUserIDList: ["nobody"] });
  });

  test("tokenless OpenIM calls only from rpc.allowFrom; the generated admin token guards the Admin service by default", async () => {
    const narrow = await startTestNode({ "rpc.allowFrom": ["10.0.0.0/8"] });
    try {
      const c = msgGatewayClient(narrow.rpcPort);
      // This caller is 127.0.0.1, outside the list: it needs the token like anyone else.
      await expect(c.call("KickUserOffline", { platformID: 1, kickUserIDList: ["a"] })).rejects.toMatchObject({ code: 16 });
      await c.call("KickUserOffline", { platformID: 1, kickUserIDList: ["a"] }, { operationid: "o", ...narrow.adminHeaders });
      c.close();
      const admin = createClient(Admin, createGrpcTransport({ baseUrl: `http://127.0.0.1:${narrow.rpcPort}` }));
      await expect(admin.stats({})).rejects.toMatchObject({ code: 16 });
      expect((await admin.stats({}, { headers: narrow.adminHeaders })).version).toMatch(/^\d/);
    } finally {
      await narrow.stop();
    }
  });

  test("with allowOpenIMWithoutToken off, OpenIM's methods need it too", async () => {
    const strict = await startTestNode({ "rpc.token": "t", "rpc.allowOpenIMWithoutToken": false });
    const c = msgGatewayClient(strict.rpcPort);
    await expect(c.call("KickUserOffline", { platformID: 1, kickUserIDList: ["a"] })).rejects.toMatchObject({ code: 16 });
    await c.call("KickUserOffline", { platformID: 1, kickUserIDList: ["a"] }, { operationid: "o", authorization: "Bearer t" });
    c.close();
    await strict.stop();
  });
});
