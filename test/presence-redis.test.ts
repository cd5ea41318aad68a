// Presence in Redis with a real redis-server: OpenIM's key layout and online_change messages byte for byte,
// and a Redis outage in the middle of churn that ends, once Redis is back, with the store equal to the truth.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Redis } from "ioredis";
import { type TestNode, startTestNode } from "./support/node.js";
import { type TestClient, connect, until } from "./support/client.js";
import { type TestRedis, redisCli, startRedis } from "./support/redis.js";

let redis: TestRedis;
let n: TestNode;
let sub: Redis;
const messages: string[] = [];
beforeAll(async () => {
  redis = await startRedis();
  sub = new Redis(redis.url);
  sub.on("error", () => {});
  await sub.subscribe("online_change");
  sub.on("message", (_c, m) => messages.push(m));
  // Embedded shape with its presence in Redis: logins keep working while Redis is down.
  n = await startTestNode({ "redis.url": redis.url, shape: "embedded", "presence.mergeIntervalMs": 100, "multiLogin.policy": 0 });
});
afterAll(async () => {
  await n.stop();
  sub.disconnect();
  await redis.stop();
});

const login = (u: string, p: number) => connect({ port: n.wsPort, userID: u, platformID: p, token: n.token(u, p), sdkType: "js" });

describe("OpenIM layout", () => {
  test("ZSET ONLINE:<userID> scored by expiry, and online_change payloads", async () => {
    messages.length = 0;
    const a = await login("alice", 5);
    await until(() => messages.length === 1, 3000, "first online_change");
    expect(messages[0]).toBe("5:alice");
    const b = await login("alice", 2);
    await until(() => messages.length === 2);
    // Same score (same second): ZRANGE orders members lexicographically.
    const members = redisCli(redis.port, "ZRANGE", "ONLINE:alice", "0", "-1", "WITHSCORES").split("\n");
    expect(members.length).toBe(4);
    const now = Math.floor(Date.now() / 1000);
    for (const score of [Number(members[1]), Number(members[3])]) expect(Math.abs(score - (now + 1800))).toBeLessThanOrEqual(2);
    expect(messages[1]).toBe(`${members[0]}:${members[2]}:alice`);
    expect(Number(redisCli(redis.port, "TTL", "ONLINE:alice"))).toBeGreaterThan(1790);
    a.close();
    await until(() => messages.length === 3);
    expect(messages[2]).toBe("2:alice");
    b.close();
    await until(() => messages.length === 4);
    expect(messages[3]).toBe("alice");
    expect(redisCli(redis.port, "EXISTS", "ONLINE:alice")).toBe("0");
  });

  test("a refresh of existing members publishes nothing", async () => {
    const c = await login("bob", 3);
    await until(() => messages.includes("3:bob"));
    const count = messages.length;
    n.node.presence.resync();
    await Bun.sleep(400);
    expect(messages.length).toBe(count);
    c.close();
  });

  test("changes written by another node (here: redis-cli) reach 2005 subscribers", async () => {
    const { create, fromBinary, toBinary } = await import("@bufbuild/protobuf");
    const { SubUserOnlineStatusSchema, SubUserOnlineStatusTipsSchema } = await import("../src/gen/openim/sdkws/sdkws_pb.js");
    const w = await login("watch", 5);
    await w.request(2005, toBinary(SubUserOnlineStatusSchema, create(SubUserOnlineStatusSchema, { subscribeUserID: ["remote"] })));
    redisCli(redis.port, "PUBLISH", "online_change", "1:9:remote");
    const p = await w.nextPush(2005);
    expect(fromBinary(SubUserOnlineStatusTipsSchema, p.data!).subscribers[0]).toMatchObject({ userID: "remote", onlinePlatformIDs: [1, 9] });
    w.close();
  });
});

describe("shutdown", () => {
  test("after a node stops, the store shows every one of its users offline", async () => {
    const other = await startTestNode({ "redis.url": redis.url, shape: "embedded", "presence.mergeIntervalMs": 60_000 });
    const cs = await Promise.all(["sd1", "sd2"].map((u) => connect({ port: other.wsPort, userID: u, platformID: 2, token: other.token(u, 2) })));
    await other.node.presence.batcher.flushAll(3000);
    expect(redisCli(redis.port, "ZRANGE", "ONLINE:sd1", "0", "-1")).toBe("2");
    await other.stop();
    expect(redisCli(redis.port, "EXISTS", "ONLINE:sd1")).toBe("0");
    expect(redisCli(redis.port, "EXISTS", "ONLINE:sd2")).toBe("0");
    for (const c of cs) await c.closed;
  });
});

describe("Redis outage", () => {
  test("churn while Redis is down ends, after it returns, with the store equal to the truth", async () => {
    const users = Array.from({ length: 20 }, (_, i) => `ro${i}`);
    const clients = new Set<TestClient>();
    let seed = 3;
    const rand = (k: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % k);
    const churn = async (ops: number) => {
      for (let i = 0; i < ops; i++) {
        const list = [...clients];
        if (list.length > 4 && rand(3) === 0) {
          const c = list[rand(list.length)]!;
          clients.delete(c);
          c.close();
          await c.closed;
        } else {
          const u = users[rand(users.length)]!, p = [1, 2, 5][rand(3)]!;
          clients.add(await login(u, p));
        }
      }
    };
    await churn(60);
    await Bun.sleep(300);
    await redis.kill();
    await churn(120); // logins and logouts go on while Redis is down
    await Bun.sleep(400);
    expect(n.node.presence.batcher.stats().failures).toBeGreaterThan(0);
    const ready = await fetch(`http://127.0.0.1:${n.adminPort}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.text()).toContain("redis");
    await redis.start(); // back, and empty
    await until(() => n.node.presence.batcher.stats().pending === 0, 15_000, "pending writes to drain");
    await Bun.sleep(500);
    await until(() => n.node.presence.batcher.stats().pending === 0, 15_000, "resync to drain");
    for (const u of users) {
      const truth = [...new Set([...clients].filter((c) => c.opts.userID === u).map((c) => c.opts.platformID))].sort();
      const stored = redisCli(redis.port, "ZRANGE", `ONLINE:${u}`, "0", "-1").split("\n").filter(Boolean).map(Number).sort();
      expect({ u, stored }).toEqual({ u, stored: truth });
    }
    await until(() => n.node.admin !== undefined, 100);
    expect((await fetch(`http://127.0.0.1:${n.adminPort}/readyz`)).status).toBe(200);
    for (const c of clients) c.close();
  }, 60_000);
});
