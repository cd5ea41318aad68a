// Cluster-shape behaviour read live or reported: the multi-login policy is live in the cluster shape: two nodes start with policy 0 (nobody kicked), the policy is
// set to 1 on both as a reload writes it, and a login on one node then kicks the same platform's connection on the
// other. (Cross-node kicks used to be wired only when the policy was non-zero at start.)
import { afterAll, beforeAll, expect, test } from "bun:test";
import { type TestNode, startTestNode } from "./support/node.js";
import { connect, until } from "./support/client.js";
import { type TestRedis, redisCli, startRedis } from "./support/redis.js";

let r: TestRedis;
const nodes: TestNode[] = [];
beforeAll(async () => {
  r = await startRedis();
  for (const id of ["lp1", "lp2"]) nodes.push(await startTestNode({ shape: "cluster", "redis.url": r.url, nodeID: id, "multiLogin.policy": 0 }));
});
afterAll(async () => {
  for (const n of nodes) await n.stop();
  await r.stop();
});

test("a policy set by a reload reaches logins on other nodes", async () => {
  const [n1, n2] = nodes as [TestNode, TestNode];
  const login = (n: TestNode, ttl: number) => connect({ port: n.wsPort, userID: "lp", platformID: 5, token: n.token("lp", 5, ttl), sdkType: "js", isMsgResp: true });
  // Policy 0: both stay.
  const a = await login(n1, 100);
  const b = await login(n2, 200);
  expect((await a.request(1001)).errCode).toBe(0);
  expect(a.frames.some((f) => f.reqIdentifier === 2002)).toBe(false);
  b.close();
  await until(() => n2.node.registry.connections === 0, 5000, "b to leave");
  // n1's route for the user is written (asynchronously, in batches): a login elsewhere finds it there.
  await until(() => redisCli(r.port, "HEXISTS", "imgate:route:{lp}", "lp1") === "1", 5000, "lp routed to lp1");
  // What applyLive does on a reload: the running config object takes the new value.
  for (const n of nodes) n.node.config.multiLogin.policy = 1;
  const c = await login(n2, 300);
  expect((await a.nextPush(2002, 5000)).reqIdentifier).toBe(2002);
  expect((await c.request(1001)).errCode).toBe(0);
  c.close();
});

test("a Redis that goes away is warned about (rate-limited), not logged at debug", async () => {
  const lines: string[] = [];
  const { createLogger } = await import("../src/observe/log.js");
  const log = createLogger({ level: "info", format: "json", write: (l) => lines.push(l) });
  const own = await startRedis();
  const n = await startTestNode({ shape: "cluster", "redis.url": own.url, nodeID: "lp-warn" }, { log });
  try {
    await own.kill();
    await until(() => lines.some((l) => l.includes('"level":"warn"') && l.includes('"msg":"redis error"')), 10_000, "a redis warning");
    // At most three lines a minute per connection, however often ioredis reports its reconnect attempts.
    expect(lines.filter((l) => l.includes('"msg":"redis error"')).length).toBeLessThanOrEqual(6);
  } finally {
    await n.stop();
  }
});
