// The node-to-node bus over a real redis-server: typed messages in binary frames (a push's MsgData as bytes, not
// base64 in JSON), answers by request id, and frames of the older JSON format still understood.
import { afterAll, beforeAll, expect, test } from "bun:test";
import Redis from "ioredis";
import { createBus, decodeFrame, encodeFrame, type Received } from "../src/cluster/bus.js";
import { type TestRedis, startRedis } from "./support/redis.js";
import { until } from "./support/client.js";

let redis: TestRedis;
const conns: Redis[] = [];
const conn = () => {
  const r = new Redis(redis.url);
  conns.push(r);
  return r;
};
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
  const a = createBus({ nodeID: "a", pub: conn(), sub: conn(), handle: () => undefined });
  const b = createBus({
    nodeID: "b", pub: conn(), sub: conn(),
    handle: (m) => {
      seen.push(m);
      if (m.t === "kick") return 2;
      if (m.t === "push") return m.users.map((userID) => ({ userID, resp: [{ resultCode: 0, recvPlatformID: 5 }], onlinePush: true }));
      if (m.t === "status") return [[m.userIDs[0], [{ platformID: 5, connID: "c", isBackground: false, token: "t" }]]];
    },
  });
  await Bun.sleep(50); // both subscriptions in place
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
  const a = createBus({ nodeID: "lonely", pub: conn(), sub: conn(), handle: () => undefined });
  const t0 = performance.now();
  await expect(a.request("nobody", { t: "kick", userID: "u", platformID: 1 }, 200)).rejects.toThrow("did not answer kick within 200 ms");
  expect(performance.now() - t0).toBeLessThan(1000);
  await a.close();
});

