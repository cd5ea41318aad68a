// Gradual drain: the node stops accepting at once and closes its clients with 1012 spread evenly over the window
// (oldest first), serving the ones still connected meanwhile, and writes each closed user offline as it goes: at the
// end nobody it held is online in the status store (Redis, OpenIM's layout).
import { afterAll, beforeAll, expect, test } from "bun:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { GetMaxSeqReqSchema } from "../src/gen/openim/sdkws/sdkws_pb.js";
import { type TestNode, startTestNode } from "./support/node.js";
import { type TestClient, connect, until } from "./support/client.js";
import { type TestRedis, redisCli, startRedis } from "./support/redis.js";

let redis: TestRedis;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis.stop();
});

test("1,000 connections drained over 5 s: spread over the window, oldest first, new ones refused, all offline at the end", async () => {
  const n: TestNode = await startTestNode({ "redis.url": redis.url, "presence.mergeIntervalMs": 200, "multiLogin.policy": 0 });
  const N = 1000, WINDOW_S = 5;
  const clients: TestClient[] = [];
  for (let i = 0; i < N; i += 100)
    clients.push(...(await Promise.all(Array.from({ length: Math.min(100, N - i) }, (_, j) =>
      connect({ port: n.wsPort, userID: `dr${i + j}`, platformID: 5, token: n.token(`dr${i + j}`, 5), sdkType: "js" })))));
  const online = () => Number(redisCli(redis.port, "EVAL", "return #redis.call('KEYS', 'ONLINE:dr*')", "0"));
  await until(() => online() === N, 10_000, "everyone online in Redis");

  const closedAt: number[] = new Array(N);
  const codes = new Set<number>();
  clients.forEach((c, i) => void c.closed.then((r) => ((closedAt[i] = Date.now()), codes.add(r.code))));
  const t0 = Date.now();
  const stopped = n.node.stop({ reason: "test drain", overMs: WINDOW_S * 1000 });

  // Mid-window (a quarter closed, not all): new clients are refused, the ones still held are served.
  await until(() => closedAt.filter(Boolean).length >= N / 4, 10_000, "a quarter closed");
  const late = await connect({ port: n.wsPort, userID: "late", platformID: 5, token: n.token("late", 5), sdkType: "js" }).then(() => "accepted", () => "refused");
  expect(late).toBe("refused");
  const stillHere = clients.findLast((_, i) => closedAt[i] === undefined)!;
  const r = await stillHere.request(1001, toBinary(GetMaxSeqReqSchema, create(GetMaxSeqReqSchema, { userID: stillHere.opts.userID })));
  expect(r.errCode).toBe(0);

  await stopped;
  await Promise.all(clients.map((c) => c.closed));
  expect([...codes]).toEqual([1012]);
  // Spread over the whole window, not front-loaded: the last closes come in its final second.
  expect(Math.max(...closedAt) - t0).toBeGreaterThanOrEqual((WINDOW_S - 1) * 1000);
  // Oldest first: the first client connected is among the first closed.
  expect(closedAt[0]! - t0).toBeLessThan(1000);
  expect(online()).toBe(0);
  await n.stop().catch(() => {});
}, 60_000);

test("the spread's schedule on its own clock: no second above its even share (+1), oldest first, at least 100 a second", async () => {
  const { closeSpread, MIN_DRAIN_RATE } = await import("../src/sessions/spread.js");
  // A clock that moves only when the spread waits: no sleeps, no load-dependent timing.
  let now = 0;
  const timers: { at: number; f: () => void }[] = [];
  const clock = { now: () => now, after: (ms: number, f: () => void) => void timers.push({ at: now + ms, f }) };
  const run = async (n: number, windowMs: number) => {
    const items = Array.from({ length: n }, (_, i) => ({ connectedAt: n - i, closedAt: -1 }));
    now = 0;
    const done = closeSpread(items, windowMs, (x) => (x.closedAt = now), clock);
    while (timers.length) {
      const t = timers.shift()!;
      now = t.at;
      t.f();
    }
    await done;
    return items;
  };
  const items = await run(1000, 5000);
  const perSecond = new Array(6).fill(0);
  for (const x of items) perSecond[Math.floor(x.closedAt / 1000)]++;
  expect(Math.max(...perSecond)).toBeLessThanOrEqual(1000 / 5 + 1);
  expect(Math.max(...items.map((x) => x.closedAt))).toBeGreaterThan(4900);
  // Oldest first: sorted by connectedAt, closed in that order.
  const order = [...items].sort((a, b) => a.closedAt - b.closedAt || a.connectedAt - b.connectedAt).map((x) => x.connectedAt);
  expect(order).toEqual([...order].sort((a, b) => a - b));
  // Ten clients over a 10 s window: done within 10 / MIN_DRAIN_RATE seconds, not spread over the whole window.
  const few = await run(10, 10_000);
  expect(Math.max(...few.map((x) => x.closedAt))).toBeLessThanOrEqual((10 / MIN_DRAIN_RATE) * 1000);
});
