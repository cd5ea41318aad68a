// The node-to-node bus over a real redis-server: typed messages in binary frames (a push's MsgData as bytes, not
// base64 in JSON), answers by request id, and frames of the older JSON format still understood.
import { afterAll, beforeAll, expect, test } from "bun:test";
import Redis, { Cluster } from "ioredis";
import { createBus, decodeFrame, encodeFrame, nodeChannel, type Received } from "../src/cluster/bus.js";
import { createPubSub } from "../src/cluster/pubsub.js";
import { startRedisCluster } from "./support/redis-cluster.js";
import { type TestRedis, redisCli, startRedis } from "./support/redis.js";
import { until } from "./support/client.js";

let redis: TestRedis;
const conns: Redis[] = [];
const conn = () => {
  const r = new Redis(redis.url);
  conns.push(r);
  return r;
};
const ps = () => createPubSub({ pub: conn(), sub: conn(), sharded: false });
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  for (const c of conns) c.disconnect();
  await redis.stop();
});

test("a frame is a length, a JSON header and the payload bytes; JSON-text frames are read too", () => {
  const payload = new Uint8Array([0, 1, 2, 255]);
  const f = decodeFrame(encodeFrame({ t: "push", from: "n1", users: ["u"], op: "o" }, payload))!;
  expect(f.header).toEqual({ t: "push", from: "n1", users: ["u"], op: "o" });
  expect([...f.payload]).toEqual([0, 1, 2, 255]);
  const legacy = decodeFrame(Buffer.from(JSON.stringify({ t: "push", from: "old", users: ["u"], op: "o", msg: Buffer.from(payload).toString("base64") })))!;
  expect([...legacy.payload]).toEqual([0, 1, 2, 255]);
  expect(decodeFrame(Buffer.from([0, 0, 0, 99, 1]))).toBeUndefined(); // a header longer than the frame
});

test("requests get their typed answers; a push carries its MsgData bytes; one-way messages arrive", async () => {
  const seen: Received[] = [];
  const a = createBus({ nodeID: "a", pubsub: ps(), handle: () => undefined });
  const b = createBus({
    nodeID: "b", pubsub: ps(),
    handle: (m) => {
      seen.push(m);
      if (m.t === "kick") return 2;
      if (m.t === "push") return m.users.map((userID) => ({ userID, resp: [{ resultCode: 0, recvPlatformID: 5 }], onlinePush: true }));
      if (m.t === "status") return [[m.userIDs[0], [{ platformID: 5, connID: "c", isBackground: false, token: "t" }]]];
    },
  });
  await Promise.all([a.ready, b.ready]); // both subscriptions in place
  expect(await a.request("b", { t: "kick", userID: "u", platformID: 5 }, 2000)).toBe(2);
  const pushed = await a.request("b", { t: "push", msg: new Uint8Array([8, 1]), users: ["u1", "u2"], op: "op" }, 2000);
  expect(pushed.map((r) => r.userID)).toEqual(["u1", "u2"]);
  const push = seen.find((m) => m.t === "push")!;
  expect(push.t === "push" && [...push.msg]).toEqual([8, 1]);
  expect((await a.request("b", { t: "status", userIDs: ["x"] }, 2000))[0]![0]).toBe("x");
  await a.send("b", { t: "login", userID: "u", platformID: 1, token: "tok", op: "o" });
  await until(() => seen.some((m) => m.t === "login" && m.from === "a" && m.token === "tok"), 2000, "the login notice");
  await a.close();
  await b.close();
});

test("a node that does not answer costs a bounded wait", async () => {
  const a = createBus({ nodeID: "lonely", pubsub: ps(), handle: () => undefined });
  const t0 = performance.now();
  await expect(a.request("nobody", { t: "kick", userID: "u", platformID: 1 }, 200)).rejects.toThrow("did not answer kick within 200 ms");
  expect(performance.now() - t0).toBeLessThan(1000);
  await a.close();
});


test("on a Redis Cluster the bus is sharded (SPUBLISH/SSUBSCRIBE); node channels spread over the shards", async () => {
  const rc = await startRedisCluster({ masters: 3 });
  const startup = rc.addresses.map((a) => ({ host: "127.0.0.1", port: Number(a.split(":")[1]) }));
  const made: Cluster[] = [];
  const cl = (sharded = false) => {
    const c = new Cluster(startup, { shardedSubscribers: sharded });
    made.push(c);
    return c;
  };
  try {
    const a = createBus({ nodeID: "na", pubsub: createPubSub({ pub: cl(), sub: cl(true), sharded: true }), handle: () => undefined });
    const b = createBus({ nodeID: "nb", pubsub: createPubSub({ pub: cl(), sub: cl(true), sharded: true }), handle: (m) => (m.t === "kick" ? 7 : undefined) });
    await Promise.all([a.ready, b.ready]);
    expect(await a.request("nb", { t: "kick", userID: "u", platformID: 5 }, 3000)).toBe(7);
    // Sharded channels only: nothing goes through classic PUBLISH, which a Cluster copies to every shard.
    const classic = rc.masters().map((p) => Number(redisCli(p, "PUBSUB", "NUMSUB", nodeChannel("nb")).split("\n")[1] ?? 0));
    expect(classic.every((n) => n === 0)).toBe(true);
    const shardSubs = rc.masters().map((p) => Number(redisCli(p, "PUBSUB", "SHARDNUMSUB", nodeChannel("nb")).split("\n")[1] ?? 0));
    expect(shardSubs.reduce((x, y) => x + y, 0)).toBe(1);
    // 100 node names: their channels land on every shard, none with more than half.
    const owners = new Map<number, number>();
    for (let i = 0; i < 100; i++) {
      const slot = Number(redisCli(rc.masters()[0]!, "CLUSTER", "KEYSLOT", nodeChannel(`host-${i}-w0`)));
      const owner = rc.masters().find((p) => ownsSlot(p, slot))!;
      owners.set(owner, (owners.get(owner) ?? 0) + 1);
    }
    expect(owners.size).toBe(3);
    expect(Math.max(...owners.values())).toBeLessThanOrEqual(50);
    await a.close();
    await b.close();
  } finally {
    for (const c of made) c.disconnect();
    await rc.stop();
  }
}, 60_000);

function ownsSlot(port: number, slot: number): boolean {
  const me = redisCli(port, "CLUSTER", "MYID");
  const line = redisCli(port, "CLUSTER", "NODES").split("\n").find((l) => l.startsWith(me))!;
  return line.split(" ").slice(8).some((r) => {
    const [lo, hi] = r.split("-").map(Number);
    return slot >= lo! && slot <= (hi ?? lo)!;
  });
}

test("a subscription lost without an error is noticed by its probe, counted and made again", async () => {
  const sub = conn();
  let lost = 0;
  const pubsub = createPubSub({ pub: conn(), sub, sharded: false, probeEveryMs: 100, onResubscribe: () => lost++ });
  const got: string[] = [];
  await pubsub.subscribe("imgate:node:probe", (raw) => got.push(raw.toString()));
  // Three probes seen on the channel by another subscriber: each came back to ours too, and none was missed.
  const observer = conn();
  let probes = 0;
  observer.on("message", () => probes++);
  await observer.subscribe("imgate:node:probe");
  await until(() => probes >= 3, 3000, "three probes");
  expect(lost).toBe(0); // probes come back while the subscription holds
  // Behind the pub/sub's back, as a failover or a missed slot move would.
  await sub.unsubscribe("imgate:node:probe");
  await until(() => lost >= 1, 2000, "the lost subscription noticed");
  await until(() => pubsub.resubscribes() >= 1, 1000, "counted");
  // Published until one arrives (the re-subscription completes asynchronously), never a probe in the handler.
  const publisher = conn();
  for (let i = 0; !got.some((g) => g.startsWith("after")) && i < 100; i++) {
    await publisher.publish("imgate:node:probe", `after-${i}`);
    await until(() => got.length > 0, 20).catch(() => {});
  }
  expect(got.length).toBeGreaterThan(0);
  expect(got.every((g) => g.startsWith("after-"))).toBe(true); // probes never reach the handler
  await pubsub.close();
});
