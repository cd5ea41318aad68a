// Presence: the batcher coalesces without losing anything, the stores keep OpenIM's semantics, subscribers
// see each state in order, webhooks fire once per real change, shutdown writes everyone offline.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { SubUserOnlineStatusSchema, SubUserOnlineStatusTipsSchema } from "../src/gen/openim/sdkws/sdkws_pb.js";
import { createStatusBatcher, shardOf } from "../src/presence/batcher.js";
import { createMemoryStatusStore, type StatusEntry, type StatusStore } from "../src/presence/store.js";
import { webhookBody } from "../src/presence/webhooks.js";
import { type TestNode, startTestNode } from "./support/node.js";
import { type TestClient, connect, until } from "./support/client.js";

/** A store that records writes and can be made to fail. */
function recordingStore(inner = createMemoryStatusStore({ ttlSeconds: 1800 })) {
  const writes: StatusEntry[][] = [];
  let failing = false;
  const store: StatusStore & { writes: StatusEntry[][]; fail(on: boolean): void; inner: typeof inner } = {
    writes, inner,
    fail: (on) => (failing = on),
    async setStatus(entries) {
      if (failing) throw new Error("store down");
      writes.push(entries);
      await inner.setStatus(entries);
    },
    getOnline: (u) => inner.getOnline(u),
    onChange: (l) => inner.onChange(l),
    close: async () => {},
  };
  return store;
}

describe("batcher", () => {
  test("many events for one user become one write with the latest state", async () => {
    const store = recordingStore();
    let truth: number[] = [];
    const b = createStatusBatcher({ store, current: () => truth, localUsers: () => [], mergeIntervalMs: 50 });
    // Ends on an even step: platform 1 went offline last, 5 stays.
    for (let i = 0; i <= 1000; i++) {
      truth = i % 2 ? [1, 5] : [5];
      b.mark("u", i % 2 ? [] : [1]);
    }
    await until(() => store.writes.length > 0);
    // Two more merge ticks: nothing else is written.
    const ticks = b.stats().ticks;
    await until(() => b.stats().ticks >= ticks + 2, 2000, "two merge ticks");
    expect(store.writes.length).toBe(1);
    expect(store.writes[0]).toEqual([{ userID: "u", online: [5], offline: [1] }]);
    expect((await store.getOnline(["u"])).get("u")).toEqual([5]);
    expect(b.stats().events).toBe(1001);
    b.stop();
  });

  test("a full shard flushes at batch size without waiting for the tick", async () => {
    const store = recordingStore();
    const b = createStatusBatcher({ store, current: () => [2], localUsers: () => [], shards: 1, batchSize: 10, mergeIntervalMs: 60_000 });
    for (let i = 0; i < 25; i++) b.mark(`u${i}`, []);
    await until(() => store.writes.length >= 2 && b.stats().writes >= 2, 2000, "both full batches written");
    // Writes are capped at the batch size; the remainder waits for the tick (here: never within the test).
    expect(store.writes.map((w) => w.length)).toEqual([10, 10]);
    expect(b.stats().pending).toBe(5);
    b.stop();
  });

  test("a failing store loses nothing: after it recovers the store equals the truth", async () => {
    const store = recordingStore();
    const truth = new Map<string, number[]>();
    const b = createStatusBatcher({ store, current: (u) => truth.get(u) ?? [], localUsers: () => truth.keys(), mergeIntervalMs: 20 });
    store.fail(true);
    for (let i = 0; i < 200; i++) {
      const u = `u${i % 40}`;
      const had = truth.get(u) ?? [];
      if (i % 3 === 2 && had.length) {
        truth.set(u, had.slice(1));
        b.mark(u, [had[0]!]);
      } else {
        truth.set(u, [...new Set([...had, (i % 11) + 1])]);
        b.mark(u, []);
      }
    }
    await until(() => b.stats().failures > 0, 2000, "a failed write");
    store.fail(false);
    expect(await b.flushAll(10_000)).toBe(true);
    const got = await store.getOnline([...truth.keys()]);
    for (const [u, ps] of truth) expect([...got.get(u)!].sort()).toEqual([...new Set(ps)].sort());
    b.stop();
  });

  test("renewal re-asserts online users before the TTL", async () => {
    const store = recordingStore();
    const b = createStatusBatcher({ store, current: () => [3], localUsers: () => ["r1"], mergeIntervalMs: 20, renewIntervalMs: 1000 });
    b.mark("r1", []);
    await until(() => store.writes.length === 1);
    await until(() => b.stats().renewals >= 1, 5000, "a renewal");
    await until(() => store.writes.length >= 2);
    expect(store.writes[1]).toEqual([{ userID: "r1", online: [3], offline: [] }]);
    b.stop();
  });

  test("shards are stable across processes", () => {
    expect([shardOf("alice", 4), shardOf("bob", 4), shardOf("", 4)]).toEqual([shardOf("alice", 4), shardOf("bob", 4), 1]);
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 4000; i++) counts[shardOf(`user${i}`, 4)]!++;
    for (const c of counts) expect(c).toBeGreaterThan(800);
  });
});

describe("memory store", () => {
  test("announces only real changes, with platforms in ZRANGE order", async () => {
    let t = 1_000_000_000_000;
    const s = createMemoryStatusStore({ ttlSeconds: 10, now: () => t });
    const seen: [string, number[]][] = [];
    s.onChange((u, p) => seen.push([u, p]));
    await s.setStatus([{ userID: "a", online: [5], offline: [] }]);
    await s.setStatus([{ userID: "a", online: [5], offline: [] }]); // refresh: no change
    t += 1000;
    await s.setStatus([{ userID: "a", online: [1], offline: [] }]);
    await s.setStatus([{ userID: "a", online: [], offline: [5] }]);
    t += 20_000; // platform 1 expires
    await s.setStatus([{ userID: "a", online: [], offline: [] }]);
    expect(seen).toEqual([["a", [5]], ["a", [5, 1]], ["a", [1]], ["a", []]]);
    expect(s.size()).toBe(0);
  });
});

describe("webhook payloads", () => {
  test("keys in OpenIM's order, trailing newline", () => {
    expect(webhookBody({ kind: "afterUserOnline", userID: "u", platformID: 2, connID: "c", isAppBackground: false }, "op", 5)).toBe(
      '{"callbackCommand":"callbackAfterUserOnlineCommand","operationID":"op","platformID":2,"platform":"Android","userID":"u","seq":5,"isAppBackground":false,"connID":"c"}\n',
    );
    expect(webhookBody({ kind: "afterUserOffline", userID: "u", platformID: 5, connID: "c" }, "op", 6)).toBe(
      '{"callbackCommand":"callbackAfterUserOfflineCommand","operationID":"op","platformID":5,"platform":"Web","userID":"u","seq":6,"connID":"c"}\n',
    );
    expect(webhookBody({ kind: "afterUserKickOff", userID: "u", platformID: 1, connID: "c" }, "op", 7)).toBe(
      '{"callbackCommand":"callbackAfterUserKickOffCommand","operationID":"op","platformID":1,"platform":"IOS","userID":"u","seq":7}\n',
    );
  });
});

describe("over real sockets", () => {
  let n: TestNode;
  let hooks: { path: string; body: any; headers: Record<string, string> }[];
  let hookServer: ReturnType<typeof Bun.serve>;
  beforeAll(async () => {
    hooks = [];
    hookServer = Bun.serve({
      port: 0, hostname: "127.0.0.1",
      async fetch(req) {
        hooks.push({ path: new URL(req.url).pathname, body: JSON.parse(await req.text()), headers: Object.fromEntries(req.headers) });
        return Response.json({ actionCode: 0, errCode: 0 });
      },
    });
    n = await startTestNode({
      "presence.mergeIntervalMs": 100, "multiLogin.policy": 0,
      "webhooks.url": `http://127.0.0.1:${hookServer.port}/callbackExample`,
      "webhooks.afterUserOnline.enable": true, "webhooks.afterUserOffline.enable": true, "webhooks.afterUserKickOff.enable": true,
    });
  });
  afterAll(async () => {
    await n.stop();
    hookServer.stop(true);
  });
  const login = (u: string, p: number) => connect({ port: n.wsPort, userID: u, platformID: p, token: n.token(u, p), sdkType: "js", isMsgResp: true });
  const store = () => n.node.presence.store;

  test("a subscriber sees each state in order; the reply lists current platforms in request order", async () => {
    const sub = await login("watcher", 5);
    const early = await login("t-early", 3);
    await n.node.presence.batcher.flushAll(2000);
    const r = await sub.request(2005, toBinary(SubUserOnlineStatusSchema, create(SubUserOnlineStatusSchema, { subscribeUserID: ["target", "t-early", "target"] })));
    const tips = fromBinary(SubUserOnlineStatusTipsSchema, r.data!);
    expect(tips.subscribers.map((s) => [s.userID, s.onlinePlatformIDs])).toEqual([["target", []], ["t-early", [3]], ["target", []]]);

    const states: number[][] = [];
    const next = async () => {
      const p = await sub.nextPush(2005, 3000);
      const t = fromBinary(SubUserOnlineStatusTipsSchema, p.data!);
      expect(t.subscribers.length).toBe(1);
      expect(t.subscribers[0]!.userID).toBe("target");
      states.push([...t.subscribers[0]!.onlinePlatformIDs].sort());
    };
    const a = await login("target", 2);
    await next();
    const b = await login("target", 3);
    await next();
    a.close();
    await next();
    b.close();
    await next();
    expect(states).toEqual([[2], [2, 3], [3], []]);
    early.close();
    sub.close();
  });

  test("a failed lookup leaves the subscription unchanged", async () => {
    const sub = await login("w2", 5);
    const real = store().getOnline;
    store().getOnline = async () => {
      throw new Error("lookup down");
    };
    const r = await sub.request(2005, toBinary(SubUserOnlineStatusSchema, create(SubUserOnlineStatusSchema, { subscribeUserID: ["x1"] })));
    store().getOnline = real;
    expect(r.errCode).toBe(500);
    const conn = [...n.node.registry.userConns("w2")!][0]!;
    expect(conn.subscriptions?.size ?? 0).toBe(0);
    sub.close();
  });

  test("webhooks fire once per real change, with OpenIM's URL form", async () => {
    hooks.length = 0;
    const a = await login("hk", 2);
    const a2 = await login("hk", 2); // a second Android connection: not a new online platform
    a2.close();
    await a2.closed;
    n.node.sessions.kickUser("hk", 2, "admin");
    await a.closed;
    const mine = () => hooks.filter((h) => h.body.userID === "hk");
    await until(() => mine().length >= 3, 3000, "webhooks");
    // Every hook queued so far has been sent: a fourth would be among them.
    await n.node.webhooks.drain(3000);
    expect(mine().map((h) => h.path)).toEqual([
      "/callbackExample/callbackAfterUserOnlineCommand",
      "/callbackExample/callbackAfterUserKickOffCommand",
      "/callbackExample/callbackAfterUserOfflineCommand",
    ]);
    hooks.splice(0, hooks.length, ...mine());
    expect(hooks[0]!.body).toMatchObject({ userID: "hk", platformID: 2, platform: "Android", isAppBackground: false });
    expect(hooks[0]!.headers["content-type"]).toBe("application/json; charset=utf-8");
    expect(hooks[0]!.headers["operationid"]).toMatch(/^p_\d+_\d+$/);
  });

  test("a platform removed by another node but still connected here is re-asserted", async () => {
    const c = await login("reassert", 2);
    await n.node.presence.batcher.flushAll(2000);
    expect((await store().getOnline(["reassert"])).get("reassert")).toEqual([2]);
    // Another node writes platform 2 offline for this user (its own Android connection closed).
    const events = n.node.presence.batcher.stats().events;
    await store().setStatus([{ userID: "reassert", online: [], offline: [2] }]);
    // The change reaches this node, which marks the user again (an event), then writes it.
    await until(() => n.node.presence.batcher.stats().events > events, 3000, "the re-assertion");
    await n.node.presence.batcher.flushAll(2000);
    expect((await store().getOnline(["reassert"])).get("reassert")).toEqual([2]);
    c.close();
  });

  test("churn: the store ends equal to the truth, with far fewer writes than events", async () => {
    const users = Array.from({ length: 30 }, (_, i) => `pc${i}`);
    const before = n.node.presence.batcher.stats();
    const clients = new Set<TestClient>();
    let seed = 7;
    const rand = (k: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % k);
    const deadline = Date.now() + 8000;
    for (let i = 0; i < 1500 && Date.now() < deadline; i++) {
      const list = [...clients];
      if (list.length > 0 && rand(2) === 0) {
        const c = list[rand(list.length)]!;
        clients.delete(c);
        c.close();
      } else {
        const u = users[rand(users.length)]!;
        const p = [1, 2, 3, 5][rand(4)]!;
        clients.add(await connect({ port: n.wsPort, userID: u, platformID: p, token: n.token(u, p), sdkType: "js" }));
      }
    }
    await until(() => n.node.registry.connections === clients.size + 0, 5000, "server to settle");
    expect(await n.node.presence.batcher.flushAll(5000)).toBe(true);
    const got = await store().getOnline(users);
    for (const u of users) {
      const truth = [...new Set([...clients].filter((c) => c.opts.userID === u).map((c) => c.opts.platformID))].sort();
      expect({ u, p: [...got.get(u)!].sort() }).toEqual({ u, p: truth });
    }
    const after = n.node.presence.batcher.stats();
    const events = after.events - before.events, written = after.entriesWritten - before.entriesWritten;
    const ticks = after.ticks - before.ticks;
    console.log(`presence churn: ${events} events, ${written} store entries, ${after.writes - before.writes} writes over ${ticks} merge ticks`);
    // Coalescing, whatever the machine's speed: each user is written at most once per merge tick (plus the final
    // flush and a batch-size flush of the tick in progress), however many events it had in between.
    expect(written).toBeLessThanOrEqual(users.length * (ticks + 2));
    for (const c of clients) c.close();
  });

  test("shutdown writes every local user offline", async () => {
    const local = await startTestNode({ "presence.mergeIntervalMs": 60_000 });
    const cs = await Promise.all(["s1", "s2", "s3"].map((u) => connect({ port: local.wsPort, userID: u, platformID: 1, token: local.token(u, 1) })));
    await local.node.presence.batcher.flushAll(2000);
    expect((await local.node.presence.store.getOnline(["s1", "s2", "s3"])).get("s2")).toEqual([1]);
    const storeRef = local.node.presence.store;
    await local.stop();
    const after = await storeRef.getOnline(["s1", "s2", "s3"]);
    expect([...after.values()]).toEqual([[], [], []]);
    for (const c of cs) await c.closed;
  });
});
