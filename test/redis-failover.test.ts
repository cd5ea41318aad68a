// The cluster shape through Redis failures under traffic: a Redis Cluster master killed (its replica takes over), a
// Sentinel failover, and slots resharded to a new master while pushes flow. Afterwards every node routes again,
// presence equals the truth, and the acknowledged messages are stored (the loss window of a master killed before
// replicating is measured: docs/cluster.md).
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { signToken } from "../src/backend/embedded/jwt.js";
import { GetMaxSeqReqSchema, GetMaxSeqRespSchema, PullMessageBySeqsReqSchema, PullMessageBySeqsRespSchema } from "../src/gen/openim/sdkws/sdkws_pb.js";
import { connect, until } from "./support/client.js";
import { msgGatewayClient } from "./support/grpcjs.js";
import { pushedMsg, text, textMsg } from "./support/pb.js";
import { type Served, serveProcess } from "./support/proc.js";
import { steadyClient } from "./support/steady.js";
import { type Topology, startTopology } from "./support/topology.js";
import { startRedisCluster } from "./support/redis-cluster.js";
import { redisCli } from "./support/redis.js";
import { loadConfig } from "../src/config/load.js";
import { createRedis, waitReady } from "../src/cluster/redis.js";

const SECRET = "failover-secret";
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function twoNodes(topo: Topology, env: Record<string, string> = {}): Promise<Served[]> {
  const dir = mkdtempSync(join(tmpdir(), `imgate-failover-${topo.name}-`));
  dirs.push(dir);
  return Promise.all([1, 2].map((i) =>
    serveProcess(join(dir, `n${i}`), [...topo.serveArgs, "--node-id", `f${i}`, "--secret", SECRET, "--log-level", "error"], undefined, undefined, { ...topo.serveEnv, ...env })));
}

async function stopAll(nodes: Served[], topo: Topology) {
  for (const n of nodes) n.proc.kill("SIGTERM");
  await Promise.all(nodes.map((n) => n.proc.exited));
  await topo.stop();
}

type Pair = [ReturnType<typeof steadyClient>, ReturnType<typeof steadyClient>];

/** Five pairs, one end on each node, each end sending every 50 ms: 200 cross-node messages a second. */
function chatAcross(nodes: Served[], prefix: string): Pair[] {
  return Array.from({ length: 5 }, (_, i) => [
    steadyClient({ port: nodes[0]!.ws, secret: SECRET, userID: `${prefix}a${i}`, to: `${prefix}b${i}`, everyMs: 50 }),
    steadyClient({ port: nodes[1]!.ws, secret: SECRET, userID: `${prefix}b${i}`, to: `${prefix}a${i}`, everyMs: 50 }),
  ]);
}

/** Messages the pairs had acknowledged so far. */
const ackedSoFar = (pairs: Pair[]) => pairs.reduce((n, [a, b]) => n + a.acked.length + b.acked.length, 0);

/** Waits until the pairs have `more` acknowledgements beyond what they have now: the load runs (not a guessed time). */
async function ackedMore(pairs: Pair[], more: number, what: string, timeoutMs = 30_000): Promise<void> {
  const from = ackedSoFar(pairs);
  await until(() => ackedSoFar(pairs) >= from + more, timeoutMs, what);
}

/** acked clientMsgIDs of each pair that are not in the store (read through node 1). */
async function lostAcked(port: number, pairs: Pair[]): Promise<string[]> {
  const lost: string[] = [];
  for (const [a, b] of pairs) {
    const conv = `si_${[a.userID, b.userID].sort().join("_")}`;
    const c = await connect({ port, userID: a.userID, platformID: 3, token: signToken(SECRET, a.userID, 3, 60), sdkType: "js" });
    const max = fromBinary(GetMaxSeqRespSchema, (await c.request(1001, toBinary(GetMaxSeqReqSchema, create(GetMaxSeqReqSchema, { userID: a.userID })))).data!).maxSeqs[conv] ?? 0n;
    const msgs = max === 0n ? [] : fromBinary(PullMessageBySeqsRespSchema, (await c.request(1002, toBinary(PullMessageBySeqsReqSchema, create(PullMessageBySeqsReqSchema, {
      userID: a.userID, seqRanges: [{ conversationID: conv, begin: 1n, end: max, num: 10_000n }],
    })))).data!).msgs[conv]?.Msgs ?? [];
    const stored = new Set(msgs.map((m) => m.clientMsgID));
    lost.push(...[...a.acked, ...b.acked].filter((id) => !stored.has(id)));
    c.close();
  }
  return lost;
}

/** After a failure: a new cross-node message arrives, and both users are online in the store. */
async function routesAgain(nodes: Served[], topo: Topology, tag: string, { firstSendOk = false } = {}) {
  // As a client does: connect again until the handshake (a token check in Redis) goes through.
  const login = async (port: number, u: string) => {
    for (let i = 0; ; i++) {
      try {
        return await connect({ port, userID: u, platformID: 5, token: signToken(SECRET, u, 5, 60), sdkType: "js" });
      } catch (e) {
        if (i >= 80) throw e;
        await Bun.sleep(250);
      }
    }
  };
  const x = await login(nodes[0]!.ws, `${tag}x`);
  const y = await login(nodes[1]!.ws, `${tag}y`);
  // Route writes retry after a failover or a slot move; on a loaded machine that can take a while.
  await until(() => topo.cli("HEXISTS", `imgate:route:{${tag}y}`, "f2") === "1", 30_000, "the new user routed");
  // As a client does: resend (same clientMsgID) until acknowledged; with waitReplicas the new master needs its
  // replica back first.
  const frame = textMsg(`${tag}x`, `${tag}y`, "after the failure", { clientMsgID: `${tag}-after` });
  const end = Date.now() + 20_000;
  let code = -1;
  let attempts = 0;
  while (code !== 0 && Date.now() < end) {
    attempts++;
    code = (await x.request(1003, frame).catch(() => ({ errCode: -1 }))).errCode;
    if (code !== 0) await Bun.sleep(250);
  }
  expect(code).toBe(0);
  if (firstSendOk) expect(attempts).toBe(1);
  expect(text(pushedMsg((await y.nextPush(2001, 5000)).data).msg)).toBe("after the failure");
  for (const u of [`${tag}x`, `${tag}y`]) await until(() => topo.cli("ZRANGE", `ONLINE:${u}`, "0", "-1") === "5", 30_000, `${u} online in the store`);
  x.close();
  y.close();
}

/** The load stopped: nodes route again, the stopped users are offline, and what was acknowledged but not stored. */
async function afterTheFailure(nodes: Served[], topo: Topology, pairs: Pair[], tag: string) {
  for (const [a, b] of pairs) await Promise.all([a.stop(), b.stop()]);
  await routesAgain(nodes, topo, tag);
  for (const [a, b] of pairs) for (const u of [a.userID, b.userID]) expect(topo.cli("EXISTS", `ONLINE:${u}`)).toBe("0");
  const acked = pairs.reduce((n, [a, b]) => n + a.acked.length + b.acked.length, 0);
  return { acked, lost: await lostAcked(nodes[0]!.ws, pairs) };
}

describe("Redis Cluster (three masters, one replica each)", () => {
  test("a master killed under 1:1 traffic: its replica takes over, nodes route again, presence is true, the loss window is measured", async () => {
    const topo = await startTopology("cluster", { replicas: 1 });
    const nodes = await twoNodes(topo);
    const pairs = chatAcross(nodes, "k");
    try {
      await ackedMore(pairs, 200, "traffic before the failure");
      const masters = topo.cluster!.masters();
      await topo.cluster!.kill(masters[1]!);
      // The replica is promoted once the others see the master fail (cluster-node-timeout 2 s), then the slots are served again.
      await until(() => {
        const now = topo.cluster!.masters();
        return now.length === 3 && !now.includes(masters[1]!);
      }, 30_000, "the replica promoted");
      await topo.cluster!.waitOk(30_000);
      await ackedMore(pairs, 100, "traffic after the failover");
      const { acked, lost } = await afterTheFailure(nodes, topo, pairs, "kf");
      console.log(`[failover] Redis Cluster master killed: ${acked} acknowledged, ${lost.length} not in the store after the replica took over`);
      expect(acked).toBeGreaterThan(200);
      // Asynchronous replication: what the master acknowledged in its last instant may not have reached the replica.
      expect(lost.length).toBeLessThanOrEqual(acked * 0.01);
    } finally {
      for (const [a, b] of pairs) void a.stop(), void b.stop();
      await stopAll(nodes, topo);
    }
  }, 120_000);

  test("slots resharded to a fourth master while a node pushes to users on the other: every push arrives", async () => {
    const topo = await startTopology("cluster");
    const nodes = await twoNodes(topo);
    const users = Array.from({ length: 20 }, (_, i) => `rs${i}`);
    const clients = await Promise.all(users.map((u) => connect({ port: nodes[1]!.ws, userID: u, platformID: 5, token: signToken(SECRET, u, 5, 600), sdkType: "js" })));
    for (const u of users) await until(() => topo.cli("HEXISTS", `imgate:route:{${u}}`, "f2") === "1", 10_000, `${u} routed`);
    const gw = msgGatewayClient(nodes[0]!.rpc);
    let pushing = true, sent = 0, delivered = 0, failed = 0;
    const pusher = (async () => {
      while (pushing) {
        const r = await gw.call("SuperGroupOnlineBatchPushOneMsg", {
          msgData: { sendID: "sys", recvID: "x", sessionType: 1, contentType: 101, content: Buffer.from(JSON.stringify({ content: `p${sent}` })) },
          pushToUserIDs: users,
        }, { operationid: `rs-${sent}` }).catch(() => undefined);
        sent++;
        if (!r) failed++;
        else delivered += r.singlePushResult.filter((x: any) => x.resp.some((p: any) => Number(p.ResultCode) === 0)).length;
        await Bun.sleep(20);
      }
    })();
    try {
      // Pushes before, during and after the move (counted, not timed).
      await until(() => sent >= 20, 15_000, "pushes before the reshard");
      const fourth = await topo.cluster!.addMaster();
      await topo.cluster!.reshard(fourth.port, 4096);
      const afterMove = sent;
      await until(() => sent >= afterMove + 20, 15_000, "pushes after the reshard");
      pushing = false;
      await pusher;
      const received = clients.reduce((n, c) => n + c.frames.filter((f) => f.reqIdentifier === 2001).length, 0);
      console.log(`[reshard] ${sent} pushes to ${users.length} users during a 4,096-slot reshard: ${failed} failed calls, ${delivered} acknowledged deliveries, ${received} received`);
      expect(sent).toBeGreaterThan(50);
      // Every delivery the hub acknowledged reached its client, none twice, and the calls kept succeeding through
      // the move. (A delivery can arrive though its result said otherwise: a peer's answer that came after the
      // 3 s deadline, while the slots moved, is reported as not delivered: honest, not optimistic.)
      expect(received).toBeGreaterThanOrEqual(delivered);
      expect(received).toBeLessThanOrEqual(sent * users.length);
      for (const c of clients) {
        const seen = c.frames.filter((f) => f.reqIdentifier === 2001).map((f) => f.operationID);
        expect(new Set(seen).size).toBe(seen.length);
      }
      expect(failed).toBeLessThanOrEqual(sent * 0.05);
      // The slots have moved and Redis serves them: the first send goes through. (With ioredis auto-pipelining on a
      // Redis Cluster, a turn's pipeline that was partly MOVED surfaced the error and kept the stale slot map, and
      // sends to the moved slots failed with 500 for as long as the test waited.)
      await routesAgain(nodes, topo, "rsx", { firstSendOk: true });
    } finally {
      pushing = false;
      gw.close();
      for (const c of clients) c.close();
      await stopAll(nodes, topo);
    }
  }, 120_000);
});

describe("a slot moved under imgate's Redis Cluster client", () => {
  test("commands sent in the same turn as commands for a moved slot follow it, and later ones too", async () => {
    const rc = await startRedisCluster({ masters: 3 });
    const r = createRedis(loadConfig({ flags: { "redis.address": rc.addresses, "redis.redisMode": "cluster" } }), "test");
    try {
      expect(await waitReady(r, 10_000)).toBe(true);
      // Two keys whose slots one master serves; the second slot moves to another master (empty slot: SETSLOT NODE).
      const cluster = r as import("ioredis").Cluster;
      const slotOf = (k: string) => Number(redisCli(rc.nodes[0]!.port, "CLUSTER", "KEYSLOT", k));
      const ownerOf = (slot: number) => cluster.slots[slot]![0]!;
      const keys = Array.from({ length: 200 }, (_, i) => `moved-${i}`);
      const a = keys[0]!, b = keys.find((k) => k !== a && ownerOf(slotOf(k)) === ownerOf(slotOf(a)) && slotOf(k) !== slotOf(a))!;
      const from = Number(ownerOf(slotOf(b)).split(":")[1]);
      const to = rc.masters().find((p) => p !== from)!;
      const slot = String(slotOf(b)), toID = redisCli(to, "CLUSTER", "MYID"), fromID = redisCli(from, "CLUSTER", "MYID");
      // Redis's own order for a move: importing/migrating, then NODE on the destination first. Importing makes the
      // destination take a config epoch above every other, so a ping the old owner sent before its SETSLOT (an older
      // epoch claiming the slot) cannot hand the slot back (a plain SETSLOT NODE everywhere lost that race on a busy CI).
      expect(redisCli(to, "CLUSTER", "SETSLOT", slot, "IMPORTING", fromID)).toBe("OK");
      expect(redisCli(from, "CLUSTER", "SETSLOT", slot, "MIGRATING", toID)).toBe("OK");
      for (const port of [to, from, ...rc.masters().filter((p) => p !== to && p !== from)]) {
        expect(redisCli(port, "CLUSTER", "SETSLOT", slot, "NODE", toID)).toBe("OK");
      }
      const ownerSeenBy = (port: number) => redisCli(port, "CLUSTER", "NODES").split("\n").find((l) => l.startsWith(toID))!;
      await until(() => rc.masters().every((p) => ownerSeenBy(p).split(" ").slice(8).some((r) => {
        const [lo, hi = lo] = r.split("-").map(Number);
        return lo! <= Number(slot) && Number(slot) <= hi!;
      })), 10_000, "every master to see the slot on its new owner");
      // One turn: both writes leave together. Auto-pipelined, the pipeline to the old master came back half OK and
      // half MOVED; ioredis surfaced the MOVED and kept its stale slot map, so `b` kept failing.
      expect(await Promise.all([r.set(a, "1"), r.set(b, "1")])).toEqual(["OK", "OK"]);
      expect(await Promise.all([r.incr(a), r.incr(b)])).toEqual([2, 2]);
      expect(redisCli(to, "GET", b)).toBe("2");
    } finally {
      r.disconnect();
      await rc.stop();
    }
  }, 60_000);
});

describe("Redis Sentinel", () => {
  test("a failover under 1:1 traffic with redis.waitReplicas 1: nodes follow the new master, route again, nothing acknowledged is lost", async () => {
    const topo = await startTopology("sentinel");
    // Without WAIT, what the old master acknowledged between the promotion and its demotion is lost (measured:
    // docs/cluster.md); with it, a message is acknowledged only once the replica has it.
    const nodes = await twoNodes(topo, { IMGATE_REDIS_WAIT_REPLICAS: "1" });
    const pairs = chatAcross(nodes, "s");
    try {
      await ackedMore(pairs, 200, "traffic before the failover");
      const before = topo.sentinel!.masterPort();
      const after = await topo.sentinel!.failover();
      expect(after).not.toBe(before);
      await ackedMore(pairs, 100, "traffic after the failover");
      const { acked, lost } = await afterTheFailure(nodes, topo, pairs, "sf");
      console.log(`[failover] Sentinel failover: ${acked} acknowledged, ${lost.length} not in the store`);
      expect(acked).toBeGreaterThan(200);
      expect(lost).toEqual([]);
    } finally {
      for (const [a, b] of pairs) void a.stop(), void b.stop();
      await stopAll(nodes, topo);
    }
  }, 120_000);
});
