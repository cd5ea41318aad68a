// Operator-set limits: each refusal is a clear error code and a metric, and only the offender is affected.
import { afterAll, describe, expect, test } from "bun:test";
import { type TestNode, startTestNode } from "./support/node.js";
import { connect, until } from "./support/client.js";

const nodes: TestNode[] = [];
afterAll(() => Promise.all(nodes.map((n) => n.stop())));
const node = async (o: Record<string, unknown>) => {
  const n = await startTestNode({ "multiLogin.policy": 0, ...o });
  nodes.push(n);
  return n;
};
const httpHandshake = async (n: TestNode, u: string) => {
  const q = new URLSearchParams({ sendID: u, token: n.token(u, 5), platformID: "5", operationID: "o", isBackground: "false" });
  const res = await fetch(`http://127.0.0.1:${n.wsPort}/?${q}`);
  const text = await res.text();
  // A handshake that passed every check is answered 400 (not a WebSocket request); failures are JSON.
  return res.status === 200 ? JSON.parse(text) : { status: res.status };
};

describe("limits", () => {
  test("handshake rate: refusals answer 1601 and count", async () => {
    const n = await node({ "ws.handshakesPerSecond": 5 });
    const t0 = performance.now();
    const results = await Promise.all(Array.from({ length: 15 }, (_, i) => httpHandshake(n, `h${i}`)));
    const seconds = (performance.now() - t0) / 1000;
    const refused = results.filter((r) => r.errDlt === "handshake rate limit");
    // Whatever the machine's speed: at most the burst (5) plus what refilled meanwhile passed.
    expect(refused.length).toBeGreaterThanOrEqual(Math.max(1, Math.floor(15 - 5 - 5 * seconds)));
    for (const r of refused) expect(r.errCode).toBe(1601);
    expect(n.node.counters.limitRefusals.get("handshake_rate")).toBe(refused.length);
  });

  test("connections per source address", async () => {
    // Loopback is exempt by default (tests, health checks, a local proxy): counted here.
    const n = await node({ "ws.maxConnsPerIP": 3, "ws.limitExempt": [] });
    const cs = await Promise.all([0, 1, 2].map((i) => connect({ port: n.wsPort, userID: `ip${i}`, platformID: 5, token: n.token(`ip${i}`, 5) })));
    const r = await httpHandshake(n, "ip3");
    expect(r).toEqual({ errCode: 1601, errMsg: "ConnOverMaxNumLimit", errDlt: "too many connections from this address" });
    cs[0]!.close();
    // The close handler gives the address's slot back before the registry forgets the connection.
    await until(() => n.node.registry.connections === 2);
    const again = await connect({ port: n.wsPort, userID: "ip3", platformID: 5, token: n.token("ip3", 5) });
    again.close();
    for (const c of cs.slice(1)) c.close();
  });

  test("behind a trusted proxy, the per-address limits count the address X-Forwarded-For names", async () => {
    // Loopback is a trusted proxy by default: its X-Forwarded-For names the client. 203.0.113.x are documentation addresses.
    const n = await node({ "ws.handshakesPerIPPerSecond": 2 });
    const hs = (xff: string, u: string) => {
      const q = new URLSearchParams({ sendID: u, token: n.token(u, 5), platformID: "5", operationID: "o", isBackground: "false" });
      return fetch(`http://127.0.0.1:${n.wsPort}/?${q}`, { headers: { "x-forwarded-for": xff } }).then(async (r): Promise<string | number> => (r.status === 200 ? ((await r.json()) as { errDlt: string }).errDlt : r.status));
    };
    const first = await Promise.all(Array.from({ length: 6 }, (_, i) => hs("203.0.113.5", `x${i}`)));
    // Burst 4 (twice the rate) pass the limit (and are answered 400: not WebSocket requests), the rest are refused.
    expect(first.filter((r) => r === "handshake rate limit for this address").length).toBeGreaterThanOrEqual(2);
    // Another client behind the same proxy is not affected, and neither is a spoofed entry before the real client.
    expect(await hs("203.0.113.6", "y")).toBe(400);
    expect(await hs("203.0.113.5, 203.0.113.7", "z")).toBe(400);
  });

  test("a browser Origin outside ws.allowedOrigins is refused; native clients (no Origin) are not affected", async () => {
    const n = await node({ "ws.allowedOrigins": ["https://app.example.com", "https://*.example.org"] });
    const hs = (origin?: string) => {
      const q = new URLSearchParams({ sendID: "o1", token: n.token("o1", 5), platformID: "5", operationID: "o", isBackground: "false" });
      return fetch(`http://127.0.0.1:${n.wsPort}/?${q}`, { headers: origin ? { origin } : {} }).then((r) => r.status);
    };
    expect(await hs("https://evil.example")).toBe(403);
    expect(await hs("https://example.org")).toBe(403);
    expect(await hs("https://app.example.com")).toBe(400);
    expect(await hs("https://chat.example.org")).toBe(400);
    expect(await hs()).toBe(400);
    expect(n.node.counters.limitRefusals.get("origin")).toBe(2);
  });

  test("connections per user: HTTP form, and the text frame with isMsgResp", async () => {
    const n = await node({ "ws.maxConnsPerUser": 2 });
    const a = await connect({ port: n.wsPort, userID: "pu", platformID: 5, token: n.token("pu", 5) });
    const b = await connect({ port: n.wsPort, userID: "pu", platformID: 2, token: n.token("pu", 2) });
    expect((await httpHandshake(n, "pu")).errDlt).toBe("too many connections for this user (at most 2)");
    await expect(connect({ port: n.wsPort, userID: "pu", platformID: 3, token: n.token("pu", 3), isMsgResp: true, sdkType: "js" }))
      .rejects.toMatchObject({ body: { errCode: 1601, errDlt: "too many connections for this user (at most 2)" } });
    expect(n.node.counters.limitRefusals.get("per_user")).toBe(2);
    a.close();
    b.close();
  });

  test("a login the policy would make room for is not refused", async () => {
    const n = await node({ "ws.maxConnsPerUser": 1, "multiLogin.policy": 1 });
    const a = await connect({ port: n.wsPort, userID: "room", platformID: 2, token: n.token("room", 2, 100) });
    const b = await connect({ port: n.wsPort, userID: "room", platformID: 2, token: n.token("room", 2, 200) });
    expect((await a.nextPush(2002)).reqIdentifier).toBe(2002);
    b.close();
  });

  test("request rate: excess requests are answered 1650, the connection stays", async () => {
    const n = await node({ "ws.requestsPerSecond": 5 });
    const c = await connect({ port: n.wsPort, userID: "rq", platformID: 5, token: n.token("rq", 5), sdkType: "js" });
    const t0 = performance.now();
    const replies = await Promise.all(Array.from({ length: 20 }, () => c.request(1001)));
    const seconds = (performance.now() - t0) / 1000;
    const limited = replies.filter((r) => r.errCode === 1650);
    // The burst (10) passes; past it only what refilled meanwhile, however long the machine took.
    expect(limited.length).toBeGreaterThanOrEqual(Math.max(1, Math.floor(20 - 10 - 5 * seconds)));
    expect(limited[0]!.errMsg).toBe("RequestRateLimitError");
    expect(replies.filter((r) => r.errCode === 0).length).toBeGreaterThanOrEqual(10);
    // The connection stays, and the bucket refills: polled until a request passes again (3 s at most).
    // (Each poll waits first: asking at once would spend a refusal, and a client past its refusals is closed.)
    let again = 1650;
    for (const end = Date.now() + 3000; again !== 0 && Date.now() < end;) {
      await Bun.sleep(250);
      again = (await c.request(1001)).errCode;
    }
    expect(again).toBe(0);
    c.close();
  });

  test("request rate: a client that keeps going past its refusals is closed; text frames count too", async () => {
    const n = await node({ "ws.requestsPerSecond": 5 });
    const c = await connect({ port: n.wsPort, userID: "rq2", platformID: 5, token: n.token("rq2", 5), sdkType: "js" });
    // Burst 10, then 10 refusals answered (twice the rate), then closed: heartbeats count as frames.
    for (let i = 0; i < 15; i++) c.sendRaw(JSON.stringify({ type: "ping", body: "" }));
    for (let i = 0; i < 30; i++) c.request(1001).catch(() => {});
    expect((await c.closed).reason).toBe("request rate limit exceeded again and again");
    expect(n.node.counters.limitRefusals.get("request_rate")).toBeGreaterThan(10);
  });

  test("byte rate: a connection pushing too many bytes is closed with a reason", async () => {
    const n = await node({ "ws.bytesPerSecond": 20_000, "ws.maxFrameBytes": 51200 });
    const bystander = await connect({ port: n.wsPort, userID: "calm", platformID: 5, token: n.token("calm", 5), sdkType: "js" });
    const c = await connect({ port: n.wsPort, userID: "flood", platformID: 5, token: n.token("flood", 5), sdkType: "js" });
    const { create, toBinary } = await import("@bufbuild/protobuf");
    const { GetMaxSeqReqSchema } = await import("../src/gen/openim/sdkws/sdkws_pb.js");
    const big = toBinary(GetMaxSeqReqSchema, create(GetMaxSeqReqSchema, { userID: "x".repeat(14_000) }));
    for (let i = 0; i < 10; i++) c.request(1001, big).catch(() => {});
    const closed = await c.closed;
    expect(closed.reason).toBe("byte rate limit exceeded");
    expect((await bystander.request(1001)).errCode).toBe(0);
    bystander.close();
  });
});

test("a token bucket refills at its rate up to its burst, on its own clock (no sleeps)", async () => {
  const { TokenBucket } = await import("../src/sessions/limits.js");
  let t = 0;
  const b = new TokenBucket(10, 3, () => t);
  expect([b.take(), b.take(), b.take(), b.take()]).toEqual([true, true, true, false]);
  t += 100; // 10/s: one token back
  expect([b.take(), b.take()]).toEqual([true, false]);
  t += 60_000; // refills to the burst, not beyond
  expect([b.take(), b.take(), b.take(), b.take()]).toEqual([true, true, true, false]);
  expect(b.take(0)).toBe(true);
});
