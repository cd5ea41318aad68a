// Gradual drain: the node stops accepting at once and closes its clients with 1012 spread evenly over the window
// (oldest first), serving the ones still connected meanwhile, and writes each closed user offline as it goes: at the
// end nobody it held is online in the status store (Redis, OpenIM's layout).
import { afterAll, beforeAll, expect, test } from "bun:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { GetMaxSeqReqSchema } from "../src/gen/openim/sdkws/sdkws_pb.js";
import { type TestNode, startTestNode } from "./support/node.js";
import { type TestClient, connect } from "./support/client.js";
import { type TestRedis, redisCli, startRedis } from "./support/redis.js";

let redis: TestRedis;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis.stop();
});

test("1,000 connections drained over 5 s: closes spread (no second above 2× the even share), all offline at the end", async () => {
  const n: TestNode = await startTestNode({ "redis.url": redis.url, "presence.mergeIntervalMs": 200, "multiLogin.policy": 0 });
  const N = 1000, WINDOW_S = 5;
  const clients: TestClient[] = [];
  for (let i = 0; i < N; i += 100)
    clients.push(...(await Promise.all(Array.from({ length: Math.min(100, N - i) }, (_, j) =>
      connect({ port: n.wsPort, userID: `dr${i + j}`, platformID: 5, token: n.token(`dr${i + j}`, 5), sdkType: "js" })))));
  const online = () => Number(redisCli(redis.port, "EVAL", "return #redis.call('KEYS', 'ONLINE:dr*')", "0"));
  for (let t = 0; t < 50 && online() < N; t++) await Bun.sleep(100);
  expect(online()).toBe(N);

  const closedAt: number[] = new Array(N);
  const codes = new Set<number>();
  clients.forEach((c, i) => void c.closed.then((r) => ((closedAt[i] = Date.now()), codes.add(r.code))));
  const t0 = Date.now();
  const stopped = n.node.stop({ reason: "test drain", overMs: WINDOW_S * 1000 });

  // Mid-window: new clients are refused, the ones still held are served (a request answered).
  await Bun.sleep(2500);
  const late = await connect({ port: n.wsPort, userID: "late", platformID: 5, token: n.token("late", 5), sdkType: "js" }).then(() => "accepted", () => "refused");
  expect(late).toBe("refused");
  const stillHere = clients.findLast((_, i) => closedAt[i] === undefined)!;
  const r = await stillHere.request(1001, toBinary(GetMaxSeqReqSchema, create(GetMaxSeqReqSchema, { userID: stillHere.opts.userID })));
  expect(r.errCode).toBe(0);

  await stopped;
  await Promise.all(clients.map((c) => c.closed));
  expect([...codes]).toEqual([1012]);
  const buckets = new Array(WINDOW_S + 2).fill(0);
  for (const t of closedAt) buckets[Math.floor((t - t0) / 1000)]++;
  const even = N / WINDOW_S;
  expect(Math.max(...buckets)).toBeLessThanOrEqual(2 * even);
  // Spread over the whole window, not front-loaded: the last closes come in its final second.
  expect(Math.max(...closedAt) - t0).toBeGreaterThanOrEqual((WINDOW_S - 1) * 1000);
  // Oldest first: the first client connected is among the first closed.
  expect(closedAt[0]! - t0).toBeLessThan(1000);
  expect(online()).toBe(0);
  await n.stop().catch(() => {});
}, 60_000);
