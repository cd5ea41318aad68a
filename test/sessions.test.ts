// Sessions over real sockets: kicks by policy, token states, background mode, and a churn run that must end
// with the registry equal to the sockets really open.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { toBinary } from "@bufbuild/protobuf";
import { msgGateway } from "../src/gen/openim/msggateway/msggateway_pb.js";
import { MsgDataSchema, SetAppBackgroundStatusReqSchema } from "../src/gen/openim/sdkws/sdkws_pb.js";
import { type TestNode, startTestNode } from "./support/node.js";
import { type TestClient, connect, settled, until } from "./support/client.js";

let n: TestNode;
let hub: ReturnType<typeof createClient<typeof msgGateway>>;
beforeAll(async () => {
  n = await startTestNode({ "multiLogin.policy": 1 });
  hub = createClient(msgGateway, createGrpcTransport({ baseUrl: `http://127.0.0.1:${n.rpcPort}` }));
});
afterAll(() => n.stop());

const login = (userID: string, platformID: number, token = n.token(userID, platformID)) =>
  connect({ port: n.wsPort, userID, platformID, token, sdkType: "js", isMsgResp: true });

const msgData = create(MsgDataSchema, { sendID: "sys", recvID: "x", sessionType: 1, contentType: 101, content: new Uint8Array([1]) });
const push = (users: string[], op = "op") => hub.superGroupOnlineBatchPushOneMsg({ msgData, pushToUserIDs: users }, { headers: { operationid: op } });

describe("write order", () => {
  test("pushes queued in a turn reach the socket before a kick sent later in the same turn", async () => {
    const c = await login("order1", 5);
    const m = create(MsgDataSchema, { ...msgData, recvID: "order1" });
    // Both pushes are queued (written at the end of the turn); the kick is written at once and must not overtake them.
    void n.node.dispatch.pushToUsers(m, ["order1"], "first");
    void n.node.dispatch.pushToUsers(m, ["order1"], "second");
    expect(n.node.sessions.kickUser("order1", 0, "admin")).toBe(1);
    expect((await c.closed).code).toBe(4001);
    expect(c.frames.map((f) => [f.reqIdentifier, f.operationID])).toEqual([[2001, "first"], [2001, "second"], [2002, ""]]);
  });
});

describe("policy 1 over sockets", () => {
  test("a second login on the same platform kicks the first; its token is then kicked", async () => {
    const t1 = n.token("p1", 2, 3600), t2 = n.token("p1", 2, 3601);
    const first = await login("p1", 2, t1);
    const second = await login("p1", 2, t2);
    const kick = await first.nextPush(2002);
    expect(kick).toMatchObject({ reqIdentifier: 2002, msgIncr: "", operationID: "", errCode: 0, errMsg: "" });
    expect((await first.closed).code).toBe(4001);
    await until(() => n.node.registry.userConns("p1")?.length === 1);
    // invalidateToken ran: the old token is kicked (persisted), the new one still works.
    await until(() => n.node.counters.kicks.get("multi-login")! >= 1);
    // invalidateToken follows the kick asynchronously, on the store thread's shared lane: a later call on that lane
    // is answered after it (each lane runs in order).
    await n.store.groupMembers("nobody");
    await expect(login("p1", 2, t1)).rejects.toMatchObject({ body: { errCode: 1506 } });
    expect((await second.request(1001)).errCode).toBe(0);
    second.close();
  });

  test("a same-token reconnect does not kick", async () => {
    const t = n.token("p2", 1);
    const a = await login("p2", 1, t);
    const b = await login("p2", 1, t);
    await settled(a);
    expect(n.node.registry.userConns("p2")?.length).toBe(2);
    expect(a.frames.some((f) => f.reqIdentifier === 2002)).toBe(false);
    a.close();
    b.close();
  });

  test("other platforms are untouched", async () => {
    const ios = await login("p3", 1);
    const web = await login("p3", 5);
    await settled(ios);
    expect(n.node.registry.onlinePlatforms("p3").sort()).toEqual([1, 5]);
    ios.close();
    web.close();
  });
});

describe("kicks from the hub", () => {
  test("KickUserOffline kicks exactly the given platform, including 10 and 11", async () => {
    const admin = await login("k1", 10);
    const harmony = await login("k1", 11);
    const android = await login("k1", 2);
    await hub.kickUserOffline({ platformID: 11, kickUserIDList: ["k1"] }, { headers: { operationid: "kick" } });
    expect((await harmony.nextPush(2002)).reqIdentifier).toBe(2002);
    await harmony.closed;
    await hub.kickUserOffline({ platformID: 10, kickUserIDList: ["k1"] }, { headers: { operationid: "kick" } });
    await admin.closed;
    expect(n.node.registry.onlinePlatforms("k1")).toEqual([2]);
    android.close();
  });
});

describe("background mode", () => {
  test("iOS in background gets no 2001 (1604); Android in background still does; foreground restores", async () => {
    const ios = await login("bg", 1);
    const android = await login("bg", 2);
    const setBg = (c: TestClient, on: boolean) =>
      c.request(2004, toBinary(SetAppBackgroundStatusReqSchema, create(SetAppBackgroundStatusReqSchema, { userID: "bg", isBackground: on })));
    expect((await setBg(ios, true)).data).toBeUndefined(); // nil payload
    await setBg(android, true);
    const r = await push(["bg"], "bg-1");
    const codes = Object.fromEntries(r.singlePushResult[0]!.resp.map((p) => [p.RecvPlatFormID, Number(p.ResultCode)]));
    expect(codes).toEqual({ 1: 1604, 2: 0 });
    expect(r.singlePushResult[0]!.onlinePush).toBe(true); // Android is a push terminal
    await android.nextPush(2001);
    await settled(ios);
    expect(ios.frames.some((f) => f.reqIdentifier === 2001)).toBe(false);

    await setBg(ios, false);
    const r2 = await push(["bg"], "bg-2");
    expect(r2.singlePushResult[0]!.resp.every((p) => p.ResultCode === 0n)).toBe(true);
    expect((await ios.nextPush(2001)).operationID).toBe("bg-2");

    // iOS alone in background: not online for the push service.
    android.close();
    await until(() => n.node.registry.userConns("bg")?.length === 1);
    await setBg(ios, true);
    const r3 = await push(["bg"]);
    expect(r3.singlePushResult[0]!.onlinePush).toBe(false);
    ios.close();
  });
});

describe("churn", () => {
  test("random connects, disconnects, kicks and reconnects end with registry == open sockets", async () => {
    let seed = 42;
    const rand = (k: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % k;
    };
    const users = Array.from({ length: 40 }, (_, i) => `ch${i}`);
    const plats = [1, 2, 3, 5];
    // A fresh token per login (distinct exp), so policy 1 applies instead of the same-token exemption.
    const tokenOf = (u: string, p: number) => n.token(u, p, 3600 + ops);
    const clients = new Set<TestClient>();
    const deadline = Date.now() + 15_000;
    let ops = 0;
    const inflight = new Set<Promise<unknown>>();
    const run = (p: Promise<unknown>) => {
      const q = p.catch(() => {}).finally(() => inflight.delete(q));
      inflight.add(q);
    };
    while (ops < 3000 && Date.now() < deadline) {
      while (inflight.size >= 24) await Promise.race(inflight);
      ops++;
      const u = users[rand(users.length)]!, p = plats[rand(plats.length)]!;
      const op = rand(10);
      if (op < 5) {
        run(connect({ port: n.wsPort, userID: u, platformID: p, token: tokenOf(u, p), sdkType: "js" }).then((c) => {
          clients.add(c);
          c.closed.then(() => clients.delete(c));
        }));
      } else if (op < 7) {
        const list = [...clients];
        const c = list[rand(list.length || 1)];
        if (c) run((c.close(), c.closed));
      } else if (op < 8) {
        n.node.sessions.kickUser(u, rand(2) ? p : 0, "admin");
      } else if (op < 9) {
        // Connect and close at once: the close may race the registration.
        run(connect({ port: n.wsPort, userID: u, platformID: p, token: tokenOf(u, p), sdkType: "js" }).then((c) => {
          c.close();
          return c.closed;
        }));
      } else {
        run(push([u, users[rand(users.length)]!], `churn-${ops}`));
      }
    }
    await Promise.all(inflight);
    // Let in-flight closes (kicks drain then close) reach both sides.
    await until(() => [...clients].every((c) => c.ws.readyState === WebSocket.OPEN), 5000, "closing clients to finish");
    await until(() => n.node.edge.slots() === clients.size, 5000, "server to see every close");

    const reg = n.node.registry;
    expect(ops).toBeGreaterThan(500);
    expect(reg.connections).toBe(clients.size);
    const byUser = new Map<string, number[]>();
    for (const c of clients) byUser.set(c.opts.userID, [...(byUser.get(c.opts.userID) ?? []), c.opts.platformID]);
    expect(reg.userCount).toBe(byUser.size);
    for (const [u, ps] of byUser) expect([...reg.userConns(u)!].map((c) => c.platformID).sort()).toEqual(ps.sort());
    const per = reg.perPlatform();
    for (const p of plats) expect(per[p]).toBe([...clients].filter((c) => c.opts.platformID === p).length);
    // Policy 1 with distinct tokens: at most one connection per (user, platform) survives.
    for (const [, ps] of byUser) expect(new Set(ps).size).toBe(ps.length);

    // Every delivery reported as 0 reaches a live client, and only live clients are reported.
    const r = await push(users, "final");
    const delivered = r.singlePushResult.flatMap((x) => x.resp).filter((p) => p.ResultCode === 0n).length;
    expect(delivered).toBe(clients.size);
    await Promise.all([...clients].map(async (c) => {
      for (;;) {
        const f = await c.nextPush(2001);
        if (f.operationID === "final") return;
      }
    }));
    for (const c of clients) c.close();
    await until(() => reg.connections === 0 && n.node.edge.slots() === 0, 5000, "all closed");
  });
});
