// The cluster shape's suite: three imgate nodes (separate processes) sharing state through Redis, any node reaches
// any user. Run alike on a standalone redis-server, a real three-master Redis Cluster (sharded pub/sub) and a
// master/replica pair behind redis-sentinel (test/cluster*.test.ts).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { signToken } from "../../src/backend/embedded/jwt.js";
import { GetMaxSeqReqSchema, GetMaxSeqRespSchema, PullMessageBySeqsReqSchema, PullMessageBySeqsRespSchema } from "../../src/gen/openim/sdkws/sdkws_pb.js";
import { type TestClient, connect, until } from "./client.js";
import { msgGatewayClient } from "./grpcjs.js";
import { pushedMsg, text, textMsg } from "./pb.js";
import { type Served, serveProcess } from "./proc.js";
import { type Topology, startTopology } from "./topology.js";

const SECRET = "cluster-secret";

export function clusterSuite(kind: Topology["name"]) {
let topo: Topology;
const nodes: Served[] = [];
const dir = mkdtempSync(join(tmpdir(), `imgate-cluster-${kind}-`));
const redisCli = (...args: string[]) => topo.cli(...args);

async function startNodeProc(i: number): Promise<Served> {
  return serveProcess(join(dir, `n${i}`), [...topo.serveArgs, "--node-id", `n${i}`, "--secret", SECRET, "--multi-login-policy", "1", "--log-level", process.env.CLUSTER_LOG ?? "warn"],
    undefined, undefined, topo.serveEnv);
}

beforeAll(async () => {
  topo = await startTopology(kind);
  // Each node is kept as soon as it is up: when another one fails to start, afterAll still stops those that did
  // (they outlived a failed run once, holding ports and Redis connections).
  await Promise.all([1, 2, 3].map(async (i) => void (nodes[i - 1] = await startNodeProc(i))));
}, 60_000);
afterAll(async () => {
  for (const n of nodes.filter(Boolean)) {
    n.proc.kill("SIGTERM");
    await n.proc.exited;
  }
  await topo?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const tok = (u: string, p: number, ttl = 3600) => signToken(SECRET, u, p, ttl);
const login = (node: Served, u: string, p: number, token = tok(u, p)) =>
  connect({ port: node.ws, userID: u, platformID: p, token, sdkType: "js", isMsgResp: true });
/** Routes are written within a tick; wait until Redis knows where the user is. */
const routed = (u: string, node: string) => until(() => redisCli("HEXISTS", `imgate:route:{${u}}`, node) === "1", 3000, `${u} routed to ${node}`);

describe("messages across nodes", () => {
  test("A on n1 sends to B on n2; B reconnects to n3 and pulls by seq", async () => {
    const a = await login(nodes[0]!, "ca", 5);
    const b = await login(nodes[1]!, "cb", 5);
    await routed("cb", "n2");
    await routed("ca", "n1");
    const r = await a.request(1003, textMsg("ca", "cb", "across"), { operationID: "x-op" });
    expect(r.errCode).toBe(0);
    const p = await b.nextPush(2001);
    expect(p.operationID).toBe("x-op");
    expect(pushedMsg(p.data).msg.seq).toBe(1n);
    expect(text(pushedMsg(p.data).msg)).toBe("across");
    await a.nextPush(2001); // the sender's echo
    expect((await a.request(1003, textMsg("ca", "cb", "second"))).errCode).toBe(0);
    await b.nextPush(2001);
    b.close();
    const b3 = await login(nodes[2]!, "cb", 5);
    const conv = "si_ca_cb";
    const seqs = fromBinary(GetMaxSeqRespSchema, (await b3.request(1001, toBinary(GetMaxSeqReqSchema, create(GetMaxSeqReqSchema, { userID: "cb" })))).data!);
    expect(seqs.maxSeqs[conv]).toBe(2n);
    const pulled = await b3.request(1002, toBinary(PullMessageBySeqsReqSchema, create(PullMessageBySeqsReqSchema, {
      userID: "cb", seqRanges: [{ conversationID: conv, begin: 1n, end: 2n, num: 10n }],
    })));
    expect(fromBinary(PullMessageBySeqsRespSchema, pulled.data!).msgs[conv]!.Msgs.map(text)).toEqual(["across", "second"]);
    a.close();
    b3.close();
  });

  test("concurrent senders on three nodes into one group get seqs 1..N exactly", async () => {
    const members = ["g1", "g2", "g3"];
    const clients = await Promise.all(members.map((u, i) => login(nodes[i]!, u, 5)));
    const admin = msgGatewayClient(nodes[0]!.rpc); // only to make sure the hub is up
    admin.close();
    const { runCli } = await import("./proc.js");
    expect(runCli(["group", "set", "cg", ...members, "--rpc", `127.0.0.1:${nodes[0]!.rpc}`, "--data-dir", join(dir, "n1")]).code).toBe(0);
    for (const [i, u] of members.entries()) await routed(u, `n${i + 1}`);
    const per = 20;
    await Promise.all(clients.map((c, i) => Promise.all(Array.from({ length: per }, (_, k) => c.request(1003, textMsg(members[i]!, "", `${i}:${k}`, { groupID: "cg", sessionType: 3 }))))));
    await until(() => clients.every((c) => c.frames.filter((f) => f.reqIdentifier === 2001).length === per * 3), 10_000, "every member to get every message");
    for (const c of clients) {
      const seqs = c.frames.filter((f) => f.reqIdentifier === 2001).map((f) => Number(pushedMsg(f.data).msg.seq)).sort((x, y) => x - y);
      expect(seqs).toEqual(Array.from({ length: per * 3 }, (_, i) => i + 1));
    }
    for (const c of clients) c.close();
  });
});

describe("the hub on any node", () => {
  test("a push on n3 reaches users on n1 and n2 and returns merged results in request order", async () => {
    const u1 = await login(nodes[0]!, "h1", 2);
    const u2 = await login(nodes[1]!, "h2", 5);
    const u2b = await login(nodes[0]!, "h2", 3); // h2 on two nodes
    await routed("h1", "n1");
    await routed("h2", "n2");
    await routed("h2", "n1");
    const gw = msgGatewayClient(nodes[2]!.rpc);
    const msgData = { sendID: "sys", recvID: "r", sessionType: 1, contentType: 101, content: Buffer.from("{}") };
    const r = await gw.call("SuperGroupOnlineBatchPushOneMsg", { msgData, pushToUserIDs: ["h2", "nobody", "h1"] }, { operationid: "hub-x" });
    const summary = r.singlePushResult.map((x: any) => ({ userID: x.userID, onlinePush: x.onlinePush, platforms: x.resp.map((p: any) => p.RecvPlatFormID).sort() }));
    expect(summary).toEqual([
      { userID: "h2", onlinePush: false, platforms: [3, 5] },
      { userID: "nobody", onlinePush: false, platforms: [] },
      { userID: "h1", onlinePush: true, platforms: [2] },
    ]);
    for (const c of [u1, u2, u2b]) expect((await c.nextPush(2001)).operationID).toBe("hub-x");
    const st = await gw.call("GetUsersOnlineStatus", { userIDs: ["h1", "h2"] }, { operationid: "s", opuserid: "imAdmin" });
    expect(st.successResult.map((s: any) => [s.userID, s.detailPlatformStatus.map((d: any) => d.platformID).sort()])).toEqual([["h1", [2]], ["h2", [3, 5]]]);
    await gw.call("KickUserOffline", { platformID: 5, kickUserIDList: ["h2"] });
    expect((await u2.nextPush(2002)).reqIdentifier).toBe(2002);
    gw.close();
    for (const c of [u1, u2b]) c.close();
  });
});

describe("multi-login across nodes", () => {
  test("a login on n2 kicks the same-platform connection on n1; its token is then refused everywhere", async () => {
    const t1 = tok("ml", 2, 3600), t2 = tok("ml", 2, 3700);
    const first = await login(nodes[0]!, "ml", 2, t1);
    await routed("ml", "n1");
    const second = await login(nodes[1]!, "ml", 2, t2);
    expect((await first.nextPush(2002)).reqIdentifier).toBe(2002);
    await first.closed;
    await Bun.sleep(100);
    await expect(login(nodes[2]!, "ml", 2, t1)).rejects.toMatchObject({ body: { errCode: 1506 } });
    expect((await second.request(1001)).errCode).toBe(0);
    second.close();
  });
});

describe("failures", () => {
  test("a node killed with kill -9 leaves the registry and its users go offline within the bound", async () => {
    const victim = await startNodeProc(4);
    const c = await login(victim, "doomed", 1);
    await until(() => redisCli("ZRANGE", "ONLINE:doomed", "0", "-1") === "1", 5000, "doomed online");
    expect(redisCli("ZSCORE", "imgate:nodes", "n4")).not.toBe("");
    const killedAt = Date.now();
    victim.proc.kill("SIGKILL");
    await victim.proc.exited;
    await until(() => redisCli("EXISTS", "ONLINE:doomed") === "0", 15_000, "doomed offline");
    await until(() => redisCli("ZSCORE", "imgate:nodes", "n4") === "", 15_000, "n4 gone");
    const took = Date.now() - killedAt;
    expect(took).toBeLessThan(10_000); // 6 s heartbeat TTL + one 2 s reap tick
    expect(redisCli("HEXISTS", "imgate:route:{doomed}", "n4")).toBe("0");
    await c.closed;
  }, 30_000);

  // The Redis Cluster and Sentinel topologies have failure tests of their own (failover, resharding).
  if (kind === "standalone") test("Redis killed and restarted mid-traffic: routing and presence end equal to the truth", async () => {
    const redis = topo.restart!;
    const users = ["rr1", "rr2", "rr3", "rr4"];
    const clients: TestClient[] = [];
    for (const [i, u] of users.entries()) clients.push(await login(nodes[i % 3]!, u, 5));
    for (const [i, u] of users.entries()) await routed(u, `n${(i % 3) + 1}`);
    await redis.kill();
    // While Redis is down, a user on n1 is still reachable by a push on n1 (local delivery continues).
    const gw = msgGatewayClient(nodes[0]!.rpc);
    const r = await gw.call("SuperGroupOnlineBatchPushOneMsg", {
      msgData: { sendID: "sys", recvID: "x", sessionType: 1, contentType: 101, content: Buffer.from("{}") }, pushToUserIDs: ["rr1"],
    }, { operationid: "during-outage" });
    expect(r.singlePushResult[0].resp.map((p: any) => p.ResultCode)).toEqual([0]);
    expect((await clients[0]!.nextPush(2001)).operationID).toBe("during-outage");
    const ready = await fetch(`http://127.0.0.1:${nodes[0]!.admin}/readyz`);
    expect(ready.status).toBe(503);
    gw.close();
    await redis.start(); // empty
    for (const [i, u] of users.entries())
      await until(() => redisCli("HGET", `imgate:route:{${u}}`, `n${(i % 3) + 1}`) === "5", 15_000, `route of ${u} rebuilt`);
    for (const u of users) await until(() => redisCli("ZRANGE", `ONLINE:${u}`, "0", "-1") === "5", 15_000, `presence of ${u} rebuilt`);
    for (const n of nodes) await until(() => redisCli("ZSCORE", "imgate:nodes", `n${nodes.indexOf(n) + 1}`) !== "", 10_000, "heartbeats back");
    expect((await fetch(`http://127.0.0.1:${nodes[0]!.admin}/readyz`)).status).toBe(200);
    // Cross-node delivery works again.
    const m = await clients[1]!.request(1003, textMsg("rr2", "rr1", "after the outage"));
    expect(m.errCode).toBe(0);
    await until(() => clients[0]!.frames.some((f) => f.reqIdentifier === 2001 && f.data && text(pushedMsg(f.data).msg) === "after the outage"), 5000, "delivery");
    for (const c of clients) c.close();
  }, 60_000);
});
}
