// Seeded fuzzing of every decoder and of a live node. Properties: a decoder only ever throws its own
// declared error; the node never crashes, closes or answers the bad connection, and keeps serving the others.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { decodeGobReq, encodeGobReq, GobError } from "../src/gateway/codec/gob.js";
import { decodeJsonReq, encodeJsonReq, JsonEnvelopeError } from "../src/gateway/codec/json.js";
import { gunzipBounded, InflateError } from "../src/gateway/codec/gzip.js";
import { parseHandshake } from "../src/gateway/handshake.js";
import { handleTextFrame } from "../src/gateway/heartbeat.js";
import { CodeError } from "../src/protocol/errors.js";
import { verifyToken } from "../src/backend/embedded/jwt.js";
import { MsgDataSchema, PullMessageBySeqsReqSchema, SubUserOnlineStatusSchema } from "../src/gen/openim/sdkws/sdkws_pb.js";
import { type TestNode, startTestNode } from "./support/node.js";
import { type TestClient, connect } from "./support/client.js";
import { msgGatewayClient } from "./support/grpcjs.js";
import { mutate, rng } from "./support/fuzz.js";
import { plainFrame, sdkFixtures } from "./support/sdk-fixtures.js";

const SEED = Number(process.env.FUZZ_SEED ?? 20261127);
const N = Number(process.env.FUZZ_N ?? 3000);
const tried: Record<string, number> = {};
afterAll(() => console.log(`fuzz seed ${SEED}: inputs tried ${JSON.stringify(tried)}`));

function property(name: string, seeds: Uint8Array[], run: (input: Uint8Array) => void, allowed: (e: unknown) => boolean) {
  test(`${name}: only declared errors`, () => {
    const r = rng(SEED ^ name.length);
    let n = 0;
    for (let i = 0; i < N; i++) {
      const input = mutate(r, r.pick(seeds));
      try {
        run(input);
      } catch (e) {
        if (!allowed(e)) throw new Error(`${name} threw ${(e as Error)?.constructor?.name}: ${(e as Error)?.message} on ${Buffer.from(input).toString("hex")}`);
      }
      n++;
    }
    tried[name] = n;
  });
}

const enc = new TextEncoder();
const sampleReq = { reqIdentifier: 1003, token: "t", sendID: "u1", operationID: "op", msgIncr: "u1_1", data: toBinary(MsgDataSchema, create(MsgDataSchema, { sendID: "u1", recvID: "u2", content: enc.encode("hi"), sessionType: 1 })) };

describe("decoders", () => {
  // Seeds include the frames OpenIM's real SDKs sent (test/fixtures/sdk).
  const recorded = sdkFixtures().flatMap((fx) => fx.frames.map((f) => ({ codec: fx.codec, f })));
  property("gob Req", [encodeGobReq(sampleReq), encodeGobReq({ ...sampleReq, data: undefined }, 200),
    ...recorded.filter((x) => x.codec === "gob").map((x) => plainFrame(x.f))], (b) => decodeGobReq(b), (e) => e instanceof GobError);
  property("JSON Req", [encodeJsonReq(sampleReq), enc.encode('{"reqIdentifier":1001,"data":null,"x":[1,{"y":2}]}'),
    ...recorded.filter((x) => x.codec === "json").map((x) => plainFrame(x.f))], (b) => decodeJsonReq(b), (e) => e instanceof JsonEnvelopeError);
  property("gzip", [Bun.gzipSync(encodeGobReq(sampleReq) as Uint8Array<ArrayBuffer>), Bun.gzipSync(new Uint8Array(5000) as Uint8Array<ArrayBuffer>),
    ...recorded.filter((x) => x.f.gzip).map((x) => x.f.bytes)], (b) => gunzipBounded(b, 1 << 16), (e) => e instanceof InflateError);
  property("text heartbeat", [enc.encode('{"type":"ping","body":{"a":[1,"x\\"y"]}}'), enc.encode('{"type":"pong"}')], (b) => {
    const r = handleTextFrame(new TextDecoder().decode(b));
    if (r.kind === "pong") JSON.parse(r.reply); // whatever we answer is valid JSON
  }, () => false);
  property("handshake query", [enc.encode("sendID=u&token=t&platformID=5&operationID=o&isBackground=false&sdkType=js&isMsgResp=true&compression=gzip"),
    enc.encode(`v=${Buffer.from('{"token":"t","userID":"u","platformID":5,"operationID":"o"}').toString("base64url")}`)],
    (b) => parseHandshake(new URL(`ws://h/?${new TextDecoder().decode(b)}`), () => null), (e) => e instanceof CodeError);
  property("token", [enc.encode("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJVc2VySUQiOiJ1IiwiUGxhdGZvcm1JRCI6MSwiZXhwIjoyMDAwMDAwMDAwLCJpYXQiOjF9.sig")],
    (b) => verifyToken("k", new TextDecoder().decode(b)), (e) => e instanceof CodeError);
});

describe("a live node under fuzzed frames and RPCs", () => {
  let n: TestNode;
  beforeAll(async () => {
    n = await startTestNode({ "multiLogin.policy": 0, "ws.maxInflatedBytes": 1 << 20 });
  });
  afterAll(() => n.stop());

  test("bad connections are closed or answered; bystanders keep working; memory stays bounded", async () => {
    const r = rng(SEED);
    const bystander = await connect({ port: n.wsPort, userID: "steady", platformID: 5, token: n.token("steady", 5), sdkType: "js" });
    const payloads = [
      toBinary(MsgDataSchema, create(MsgDataSchema, { sendID: "fz", recvID: "steady", content: enc.encode("x"), sessionType: 1, contentType: 101 })),
      toBinary(PullMessageBySeqsReqSchema, create(PullMessageBySeqsReqSchema, { userID: "fz", seqRanges: [{ conversationID: "si_fz_steady", begin: 1n, end: 9n, num: 5n }] })),
      toBinary(SubUserOnlineStatusSchema, create(SubUserOnlineStatusSchema, { subscribeUserID: ["steady"] })),
    ];
    const ids = [1001, 1002, 1003, 1004, 1005, 1006, 1007, 2003, 2004, 2005];
    let client: TestClient | undefined;
    let sent = 0, reconnects = 0;
    const rssBefore = process.memoryUsage().rss;
    const frames = Math.min(N, 1500);
    for (let i = 0; i < frames; i++) {
      if (!client || client.ws.readyState !== WebSocket.OPEN) {
        const dialect = r.pick([{ sdkType: "js" as const, gzip: false }, { sdkType: "go" as const, gzip: false }, { sdkType: "go" as const, gzip: true }]);
        client = await connect({ port: n.wsPort, userID: "fz", platformID: r.pick([1, 2, 5]), token: n.token("fz", 5 ), ...dialect }).catch(() => undefined);
        if (!client) client = await connect({ port: n.wsPort, userID: "fz", platformID: 5, token: n.token("fz", 5), ...dialect });
        reconnects++;
      }
      const req = { reqIdentifier: r.pick(ids), token: "", sendID: "fz", operationID: `o${i}`, msgIncr: `fz_${i}`, data: mutate(r, r.pick(payloads)) };
      const json = client.opts.sdkType === "js";
      let frame = json ? encodeJsonReq(req) : encodeGobReq(req);
      if (r.int(3) === 0) frame = mutate(r, frame); // sometimes the envelope itself is broken
      const wire = client.opts.gzip ? (r.int(4) === 0 ? mutate(r, Bun.gzipSync(frame as Uint8Array<ArrayBuffer>)) : Bun.gzipSync(frame as Uint8Array<ArrayBuffer>)) : frame;
      client.sendRaw(wire);
      sent++;
      if (i % 100 === 0) {
        expect((await bystander.request(1001)).errCode).toBe(0);
        await Bun.sleep(1);
      }
    }
    tried["live frames"] = sent;
    tried["live reconnects"] = reconnects;
    // The hub under fuzzed protobuf requests: answered with a status, never a crash.
    const gw = msgGatewayClient(n.rpcPort);
    const methods = ["SuperGroupOnlineBatchPushOneMsg", "OnlinePushMsg", "KickUserOffline", "MultiTerminalLoginCheck", "GetUsersOnlineStatus"];
    let rpcs = 0;
    for (let i = 0; i < 200; i++) {
      const m = r.pick(methods);
      const body = { msgData: { sendID: r.pick(["", "a"]), content: Buffer.from(r.bytes(r.int(4))), sessionType: r.int(6), contentType: r.pick([0, 101, 1400]) },
        pushToUserIDs: r.int(2) ? ["steady", "x"] : [], pushToUserID: r.pick(["", "steady"]), platformID: r.int(14) - 1, kickUserIDList: r.int(2) ? ["zz"] : [],
        userID: r.pick(["", "q"]), token: r.pick(["", "t"]), userIDs: r.int(2) ? ["steady"] : [] };
      await gw.call(m, body, { operationid: `f${i}`, opuserid: r.pick(["imAdmin", "x"]) }).catch((e) => expect(typeof e.code).toBe("number"));
      rpcs++;
    }
    gw.close();
    tried["hub requests"] = rpcs;
    expect((await bystander.request(1001)).errCode).toBe(0);
    expect(n.node.registry.userConns("steady")?.length).toBe(1);
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(256 << 20);
    bystander.close();
  }, 120_000);
});
