// Every handshake failure of openim-protocol.md §1.3, in both forms: HTTP 200 JSON, and (isMsgResp=true,
// token failures) one text frame on an upgraded socket followed by a close.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { signToken } from "../src/backend/embedded/jwt.js";
import { SECRET, type TestNode, startTestNode } from "./support/node.js";
import { connect, until } from "./support/client.js";

let n: TestNode;
beforeAll(async () => {
  n = await startTestNode({ "ws.maxConnections": 3 });
});
afterAll(() => n.stop());

const base = () => ({ sendID: "u1", token: n.token("u1", 5), platformID: "5", operationID: "op1", isBackground: "false" });

async function http(params: Record<string, string | undefined>, headers: Record<string, string> = {}) {
  const q = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined) as [string, string][]);
  const res = await fetch(`http://127.0.0.1:${n.wsPort}/any/path?${q}`, { headers });
  return { status: res.status, type: res.headers.get("content-type"), body: await res.text() };
}

/** Opens a WebSocket and collects text frames until close. */
function wsAttempt(params: Record<string, string>): Promise<{ opened: boolean; texts: string[]; code: number }> {
  const q = new URLSearchParams(params);
  const ws = new WebSocket(`ws://127.0.0.1:${n.wsPort}/?${q}`);
  const texts: string[] = [];
  let opened = false;
  ws.onopen = () => (opened = true);
  ws.onmessage = (e) => typeof e.data === "string" && texts.push(e.data);
  return new Promise((resolve) => (ws.onclose = (e) => resolve({ opened, texts, code: e.code })));
}

const argsMsg = "args err, need token, sendID, platformID";

describe("parameter failures are HTTP 200 JSON, even with isMsgResp", () => {
  const cases: [string, Record<string, string | undefined>, string][] = [
    ["platformID missing", { platformID: undefined }, `{"errCode":1602,"errMsg":"${argsMsg}","errDlt":"platformID is not int"}`],
    ["platformID not an int", { platformID: "web" }, `{"errCode":1602,"errMsg":"${argsMsg}","errDlt":"platformID is not int"}`],
    ["isMsgResp not a bool", { isMsgResp: "yes" }, `{"errCode":1602,"errMsg":"${argsMsg}","errDlt":"isMsgResp is not bool"}`],
    ["isBackground missing", { isBackground: undefined, isMsgResp: "true" }, `{"errCode":500,"errMsg":"ServerInternalError","errDlt":"invalid syntax"}`],
    ["isBackground not a bool", { isBackground: "maybe" }, `{"errCode":500,"errMsg":"ServerInternalError","errDlt":"invalid syntax"}`],
    ["operationID empty", { operationID: "", isMsgResp: "true" }, `{"errCode":1602,"errMsg":"${argsMsg}","errDlt":"operationID is empty"}`],
    ["token empty", { token: "" }, `{"errCode":1602,"errMsg":"${argsMsg}","errDlt":"token is empty"}`],
    ["sendID empty", { sendID: "" }, `{"errCode":1602,"errMsg":"${argsMsg}","errDlt":"sendID is empty"}`],
    ["platformID 12", { platformID: "12" }, `{"errCode":1602,"errMsg":"${argsMsg}","errDlt":"platformID is invalid"}`],
    ["platformID 0", { platformID: "0" }, `{"errCode":1602,"errMsg":"${argsMsg}","errDlt":"platformID is invalid"}`],
    ["sdkType invalid", { sdkType: "rust", isMsgResp: "true" }, `{"errCode":1602,"errMsg":"${argsMsg}","errDlt":"sdkType is invalid"}`],
    ["operationID checked before token", { operationID: "", token: "" }, `{"errCode":1602,"errMsg":"${argsMsg}","errDlt":"operationID is empty"}`],
  ];
  for (const [name, change, body] of cases) {
    test(name, async () => {
      const r = await http({ ...base(), ...change });
      expect(r.status).toBe(200);
      expect(r.type).toBe("application/json; charset=utf-8");
      expect(r.body).toBe(body);
    });
  }

  test("isMsgResp with parameter failure over a WebSocket: not upgraded", async () => {
    const r = await wsAttempt({ ...base(), isMsgResp: "true", platformID: "x" } as Record<string, string>);
    expect(r.opened).toBe(false);
  });
});

describe("token failures", () => {
  const cases: [string, () => Record<string, string>, number, string][] = [
    ["expired", () => ({ token: signToken(SECRET, "u1", 5, -10) }), 1501, "TokenExpiredError"],
    ["malformed", () => ({ token: "not-a-jwt" }), 1503, "TokenMalformedError"],
    ["signed with another secret", () => ({ token: signToken("other", "u1", 5, 3600) }), 1505, "TokenUnknownError"],
    ["another user's token", () => ({ token: n.token("u2", 5) }), 1502, "TokenInvalidError"],
    ["another platform's token", () => ({ token: n.token("u1", 2) }), 1502, "TokenInvalidError"],
  ];
  for (const [name, change, code, msg] of cases) {
    test(`${name}: HTTP form`, async () => {
      const r = await http({ ...base(), ...change() });
      expect(r.status).toBe(200);
      const body = JSON.parse(r.body);
      expect(body.errCode).toBe(code);
      expect(body.errMsg).toBe(msg);
      expect(Object.keys(body)).toEqual(["errCode", "errMsg", "errDlt"]);
    });
    test(`${name}: isMsgResp text frame, then close`, async () => {
      const r = await wsAttempt({ ...base(), ...change(), isMsgResp: "true" });
      expect(r.opened).toBe(true);
      expect(r.texts.length).toBe(1);
      const body = JSON.parse(r.texts[0]!);
      expect(body.errCode).toBe(code);
      expect(body.errMsg).toBe(msg);
    });
  }

  test("mismatch details name both sides", async () => {
    const r = JSON.parse((await http({ ...base(), token: n.token("u2", 5) })).body);
    expect(r.errDlt).toBe("token uid u2 != userID u1");
    const p = JSON.parse((await http({ ...base(), token: n.token("u1", 2) })).body);
    expect(p.errDlt).toBe("token platform 2 != platformID 5");
  });
});

describe("success", () => {
  test("isMsgResp: the first frame is the OK text frame", async () => {
    const c = await connect({ port: n.wsPort, userID: "u1", platformID: 5, token: n.token("u1", 5), sdkType: "js", isMsgResp: true });
    expect(c.texts[0]).toBe('{"errCode":0,"errMsg":"","errDlt":""}');
    c.close();
    await c.closed;
  });

  test("a valid handshake that is not a WebSocket request gets HTTP 400", async () => {
    const r = await http(base());
    expect(r.status).toBe(400);
  });

  test("any path is accepted", async () => {
    const c = await connect({ port: n.wsPort, userID: "u3", platformID: 1, token: n.token("u3", 1), path: "/msg_gateway/x" });
    await until(() => n.node.registry.userConns("u3") !== undefined);
    c.close();
    await c.closed;
  });

  test("blob mode ?v= with unpadded base64url JSON", async () => {
    const blob = Buffer.from(JSON.stringify({
      token: n.token("u4", 5), USERID: "u4", platformID: 5, operationID: "o", sdkType: "js", sendResponse: true, compression: "gzip",
    })).toString("base64url");
    const ws = new WebSocket(`ws://127.0.0.1:${n.wsPort}/?v=${blob}&sendID=ignored`);
    const first = await new Promise<string>((resolve) => (ws.onmessage = (e) => resolve(String(e.data))));
    expect(first).toBe('{"errCode":0,"errMsg":"","errDlt":""}');
    const conn = [...n.node.registry.userConns("u4")!][0]!;
    expect(conn.variant).toBe("json+gzip");
    ws.close();
  });

  test("blob mode errors", async () => {
    expect(JSON.parse((await http({ v: "!!!" })).body).errDlt).toBe("data is not base64");
    expect(JSON.parse((await http({ v: Buffer.from("{x").toString("base64url") })).body).errDlt).toStartWith("data is not json, info=");
    const padded = Buffer.from('{"a":1}').toString("base64"); // has "=" padding: RawURLEncoding rejects it
    expect(JSON.parse((await http({ v: padded })).body).errDlt).toBe("data is not base64");
  });

  test("compression falls back to the compression header", async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${n.wsPort}/?${new URLSearchParams({ ...base(), sendID: "u5", token: n.token("u5", 5) })}`, {
      headers: { compression: "gzip" },
    } as any);
    await new Promise((r) => (ws.onopen = r));
    await until(() => n.node.registry.userConns("u5") !== undefined);
    expect([...n.node.registry.userConns("u5")!][0]!.variant).toBe("gob+gzip");
    ws.close();
  });
});

describe("max connections", () => {
  test("is exact under a burst, answered with 1601 over HTTP", async () => {
    await until(() => n.node.edge.slots() === 0, 5000, "earlier sockets to close");
    const attempts = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) =>
        connect({ port: n.wsPort, userID: `m${i}`, platformID: 5, token: n.token(`m${i}`, 5), isMsgResp: true }),
      ),
    );
    const ok = attempts.filter((a) => a.status === "fulfilled");
    expect(ok.length).toBe(3);
    expect(n.node.registry.connections).toBe(3);
    const r = JSON.parse((await http({ ...base(), isMsgResp: "true" })).body);
    expect(r).toEqual({ errCode: 1601, errMsg: "ConnOverMaxNumLimit", errDlt: "over max conn num limit" });
    for (const a of ok) (a as PromiseFulfilledResult<Awaited<ReturnType<typeof connect>>>).value.close();
    await until(() => n.node.edge.slots() === 0);
  });
});
