// Bad input closes only the connection that sent it: malformed, oversized and gzip-bomb frames, silence past
// the read deadline, a reader that stopped reading. Every other connection keeps working.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { MsgDataSchema } from "../src/gen/openim/sdkws/sdkws_pb.js";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { msgGateway } from "../src/gen/openim/msggateway/msggateway_pb.js";
import { encodeGobReq } from "../src/gateway/codec/gob.js";
import { type TestNode, startTestNode } from "./support/node.js";
import { type TestClient, connect, until, url } from "./support/client.js";
import { Op, rawConnect } from "./support/rawws.js";

let n: TestNode;
let bystanders: TestClient[];
let keepAlive: ReturnType<typeof setInterval>;
beforeAll(async () => {
  n = await startTestNode({
    "ws.pongWaitSeconds": 2, "ws.pingPeriodSeconds": 1, "ws.maxFrameBytes": 51200, "ws.maxInflatedBytes": 1 << 20,
    "ws.slowConsumerBytes": 256 * 1024,
  });
  bystanders = await Promise.all([
    connect({ port: n.wsPort, userID: "by1", platformID: 5, token: n.token("by1", 5), sdkType: "js", isMsgResp: true }),
    connect({ port: n.wsPort, userID: "by2", platformID: 2, token: n.token("by2", 2), gzip: true }),
  ]);
  // The read deadline is 2 s here: bystanders send text heartbeats, as the wasm SDK does.
  keepAlive = setInterval(() => bystanders.forEach((b) => b.sendRaw('{"type":"ping"}')), 400);
});
afterAll(() => {
  clearInterval(keepAlive);
  return n.stop();
});

/** The bystanders are still connected and get replies. */
async function bystandersWork() {
  for (const b of bystanders) expect((await b.request(1001)).errCode).toBe(0);
  expect(n.node.registry.connections).toBeGreaterThanOrEqual(2);
}

const gobClient = (userID: string, gzip: boolean) =>
  connect({ port: n.wsPort, userID, platformID: 2, token: n.token(userID, 2), gzip });

describe("bad frames", () => {
  test("a gzip bomb closes its connection with 1009 and memory stays bounded", async () => {
    const c = await gobClient("bomb", true);
    const inner = encodeGobReq({ reqIdentifier: 1001, token: "", sendID: "bomb", operationID: "o", msgIncr: "m", data: new Uint8Array(40_000_000) });
    const bomb = Bun.gzipSync(inner as Uint8Array<ArrayBuffer>, { level: 9 });
    expect(bomb.length).toBeLessThan(51200);
    const before = process.memoryUsage().rss;
    for (let i = 0; i < 5; i++) {
      const k = i === 0 ? c : await gobClient(`bomb${i}`, true);
      k.sendRaw(bomb);
      const closed = await k.closed;
      expect(closed.code).toBe(1009);
    }
    // Five 40 MB inflations would cost 200 MB; bounded inflation stops each at 1 MiB.
    expect(process.memoryUsage().rss - before).toBeLessThan(64 << 20);
    expect(n.node.counters.protocolCloses.get("inflatedTooLarge")).toBe(5);
    await bystandersWork();
  });

  test("corrupt gzip closes with 1002", async () => {
    const c = await gobClient("badgz", true);
    c.sendRaw(new Uint8Array([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255, 1, 2, 3]));
    expect((await c.closed).code).toBe(1002);
    await bystandersWork();
  });

  test("a frame over the size limit is refused", async () => {
    const c = await gobClient("big", false);
    c.sendRaw(new Uint8Array(51201));
    await c.closed;
    await until(() => n.node.registry.userConns("big") === undefined, 2000, "oversized sender to be gone");
    await bystandersWork();
  });

  test("garbage gob and garbage JSON close with 1002", async () => {
    const g = await gobClient("garbage", false);
    g.sendRaw(new Uint8Array([5, 1, 2, 3, 4, 5]));
    expect((await g.closed).code).toBe(1002);
    const j = await connect({ port: n.wsPort, userID: "garbagej", platformID: 5, token: n.token("garbagej", 5), sdkType: "js" });
    j.sendRaw(new TextEncoder().encode('{"reqIdentifier":"1001"}'));
    expect((await j.closed).code).toBe(1002);
    await bystandersWork();
  });
});

describe("deadlines", () => {
  test("a silent client is pinged and, answering nothing, closed after the read deadline (Web and native alike)", async () => {
    await Promise.all([5, 2].map(async (platformID) => {
      const q = new URL(url({ port: n.wsPort, userID: `silent${platformID}`, platformID, token: n.token(`silent${platformID}`, platformID), sdkType: "js" }));
      const raw = await rawConnect(n.wsPort, q.pathname + q.search);
      const started = Date.now();
      await raw.closed;
      const elapsed = Date.now() - started;
      // Never before the read deadline (2 s); when after it depends on the sweep and the machine's load, so only
      // that it happens is asserted (the close frame names the deadline).
      expect(elapsed).toBeGreaterThanOrEqual(2000);
      const close = raw.frames.find((f) => f.opcode === Op.Close);
      expect(close && Buffer.from(close.payload).readUInt16BE(0)).toBe(4009);
      expect(raw.frames.some((f) => f.opcode === Op.Ping)).toBe(true);
    }));
    await bystandersWork();
  });

  test("a native client that only answers pings stays up over several read deadlines (the wasm Go core's case)", async () => {
    const q = new URL(url({ port: n.wsPort, userID: "answerer", platformID: 1, token: n.token("answerer", 1) }));
    const raw = await rawConnect(n.wsPort, q.pathname + q.search);
    let answered = 0;
    const timer = setInterval(() => {
      for (; answered < raw.frames.length; answered++) {
        const f = raw.frames[answered]!;
        if (f.opcode === Op.Ping) raw.send(Op.Pong, f.payload);
      }
    }, 50);
    // Three pings answered span at least two read deadlines of 2 s (each comes after a silent ping period, and the
    // first after the handshake's): a client that only answers pings outlives them.
    await until(() => raw.frames.filter((f) => f.opcode === Op.Ping).length >= 3, 12_000, "three server pings");
    clearInterval(timer);
    expect(n.node.registry.userConns("answerer")?.length).toBe(1);
    expect(raw.frames.filter((f) => f.opcode === Op.Ping).length).toBeGreaterThanOrEqual(3);
    raw.socket.destroy();
  }, 15_000);

  test("a client that pings on its own is not pinged by the server", async () => {
    const q = new URL(url({ port: n.wsPort, userID: "pinger", platformID: 2, token: n.token("pinger", 2) }));
    const raw = await rawConnect(n.wsPort, q.pathname + q.search);
    const timer = setInterval(() => raw.send(Op.Ping, new Uint8Array([1, 2])), 500);
    // Six of its pings answered: three times the server's ping period (1 s here), which its own pings keep from coming due.
    await until(() => raw.frames.filter((f) => f.opcode === Op.Pong).length >= 6, 10_000, "six pongs");
    clearInterval(timer);
    expect(n.node.registry.userConns("pinger")?.length).toBe(1);
    expect(raw.frames.some((f) => f.opcode === Op.Ping)).toBe(false);
    const pong = raw.frames.find((f) => f.opcode === Op.Pong);
    expect(pong?.payload).toEqual(Buffer.from([1, 2]));
    raw.socket.destroy();
  });
});

describe("slow consumers", () => {
  // A small push is queued for the end of the turn; a large one (over 32 users) is written slice by slice at once.
  test.each([["small", 0], ["large (sliced)", 38]] as const)("a client that stops reading is closed and counted; a fast one on the same push is served: %s push", async (kind, offline) => {
    const slowID = `slow-${offline}`, fastID = `fast-${offline}`;
    const q = new URL(url({ port: n.wsPort, userID: slowID, platformID: 2, token: n.token(slowID, 2), sdkType: "js" }));
    const raw = await rawConnect(n.wsPort, q.pathname + q.search);
    raw.pause();
    const fast = await connect({ port: n.wsPort, userID: fastID, platformID: 2, token: n.token(fastID, 2), sdkType: "js" });
    const hub = createClient(msgGateway, createGrpcTransport({ baseUrl: `http://127.0.0.1:${n.rpcPort}` }));
    const msgData = create(MsgDataSchema, { sendID: "sys", recvID: "x", sessionType: 1, contentType: 101, content: new Uint8Array(40_000).fill(65) });
    const pushToUserIDs = [slowID, fastID, ...Array.from({ length: offline }, (_, i) => `nobody-${i}`)];
    const before = n.node.counters.slowConsumerCloses;
    let slowFailed = false;
    let fastGot = 0;
    const keepAlive = setInterval(() => fast.sendRaw('{"type":"ping"}'), 500);
    for (let i = 0; i < 400 && !slowFailed; i++) {
      const r = await hub.superGroupOnlineBatchPushOneMsg({ msgData, pushToUserIDs }, { headers: { operationid: `op${kind}${i}` } });
      expect(r.singlePushResult.map((x) => x.userID)).toEqual(pushToUserIDs);
      const slow = r.singlePushResult[0]!;
      expect(r.singlePushResult[1]!.resp[0]!.ResultCode).toBe(0n);
      fastGot++;
      if (slow.resp.length === 0 || slow.resp[0]!.ResultCode !== 0n) slowFailed = true;
    }
    clearInterval(keepAlive);
    expect(slowFailed).toBe(true);
    expect(n.node.counters.slowConsumerCloses).toBe(before + 1);
    expect(n.node.registry.userConns(slowID)).toBeUndefined();
    await until(() => fast.frames.filter((f) => f.reqIdentifier === 2001).length === fastGot, 5000, "fast client to get every push");
    raw.socket.destroy();
    fast.close();
  });
});

