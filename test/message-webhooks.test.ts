// OpenIM's message webhooks where imgate is the message service: a before-send hook sees the message first and may
// refuse it (the client's 1003 fails with the hook's own code, nothing stored or pushed); an after-send hook hears of
// each stored message once, with its seq; an unreachable hook follows failedContinue (open or closed).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type TestNode, SECRET, startTestNode } from "./support/node.js";
import { connect, settled, until } from "./support/client.js";
import { groupMsg, pushedMsg, text, textMsg } from "./support/pb.js";
import { freePort } from "./support/proc.js";

interface Hit {
  path: string;
  query: URLSearchParams;
  body: any;
  operationID: string | null;
}

let hits: Hit[];
let hookServer: ReturnType<typeof Bun.serve>;
beforeAll(() => {
  hits = [];
  hookServer = Bun.serve({
    port: 0, hostname: "127.0.0.1",
    async fetch(req) {
      const url = new URL(req.url);
      const body = (await req.json()) as any;
      hits.push({ path: url.pathname, query: url.searchParams, body, operationID: req.headers.get("operationID") });
      if (String(body.content ?? "").includes("forbidden"))
        return Response.json({ actionCode: 0, nextCode: 1, errCode: 5001, errMsg: "ContentRefused", errDlt: "words we do not allow" });
      if (String(body.content ?? "").includes("garbled")) return new Response("<html>oops</html>");
      return Response.json({ actionCode: 0, errCode: 0, errMsg: "", errDlt: "", nextCode: 0 });
    },
  });
});
afterAll(() => {
  hookServer.stop(true);
});

const hooksOn = (url: string, extra: Record<string, unknown> = {}) => ({
  "webhooks.url": url, "webhooks.retries": 0,
  "webhooks.beforeSendSingleMsg.enable": true, "webhooks.beforeSendGroupMsg.enable": true,
  "webhooks.afterSendSingleMsg.enable": true, "webhooks.afterSendGroupMsg.enable": true,
  ...extra,
});

describe("with a reachable hook", () => {
  let n: TestNode;
  beforeAll(async () => {
    n = await startTestNode(hooksOn(`http://127.0.0.1:${hookServer.port}/callbackExample`, { "webhooks.beforeSendSingleMsg.deniedTypes": [110] }));
  });
  afterAll(async () => {
    await n.stop();
  });
  const login = (u: string) => connect({ port: n.wsPort, userID: u, platformID: 5, token: n.token(u, 5), sdkType: "js" });

  test("a refused 1003 fails with the hook's code and message; nothing stored or pushed", async () => {
    const [a, b] = [await login("wa"), await login("wb")];
    hits.length = 0;
    const r = await a.request(1003, textMsg("wa", "wb", "something forbidden"), { operationID: "op-refused" });
    expect([r.errCode, r.errMsg]).toEqual([5001, "ContentRefused"]);
    const before = hits.find((h) => h.path.endsWith("/callbackBeforeSendSingleMsgCommand"))!;
    expect(before.body).toMatchObject({ sendID: "wa", recvID: "wb", callbackCommand: "callbackBeforeSendSingleMsgCommand", operationID: "op-refused", contentType: 101, sessionType: 1 });
    expect(before.operationID).toBe("op-refused");
    await settled(b);
    expect(b.frames.some((f) => f.reqIdentifier === 2001)).toBe(false);
    expect((await n.store.bounds("si_wa_wb")).maxSeq).toBe(0);

    const ok = await a.request(1003, textMsg("wa", "wb", "hello"), { operationID: "op-ok" });
    expect(ok.errCode).toBe(0);
    expect(text(pushedMsg((await b.nextPush(2001)).data).msg)).toBe("hello");
    await until(() => hits.some((h) => h.path.endsWith("/callbackAfterSendSingleMsgCommand")), 3000, "after hook");
    // The refused message was never told (the after hooks go in order through one queue; the first is the ok one).
    const after = hits.find((h) => h.path.endsWith("/callbackAfterSendSingleMsgCommand"))!;
    expect(hits.filter((h) => h.path.includes("After")).every((h) => h.body.content === JSON.stringify({ content: "hello" }))).toBe(true);
    expect(after.body).toMatchObject({ sendID: "wa", recvID: "wb", seq: 1, content: JSON.stringify({ content: "hello" }) });
    expect(after.body.serverMsgID).toMatch(/^[0-9a-f]{32}$/);
    expect(JSON.parse(Buffer.from(after.query.get("key")!, "base64").toString())).toEqual({ sendID: "wa", recvID: "wb", groupID: "" });
    // A resend of the same clientMsgID is stored once and told once.
    const frame = textMsg("wa", "wb", "once", { clientMsgID: "dup-1" });
    await a.request(1003, frame);
    await a.request(1003, frame);
    // A message after them, delivered: the hooks of everything before it are queued by then; the queue drained.
    await b.nextPush(2001);
    expect((await a.request(1003, textMsg("wa", "wb", "barrier"))).errCode).toBe(0);
    await until(() => b.frames.filter((f) => f.reqIdentifier === 2001).length >= 3, 3000, "the barrier message");
    await n.node.webhooks.drain(3000);
    expect(hits.filter((h) => h.path.includes("After") && h.body.clientMsgID === "dup-1").length).toBe(1);
    a.close();
    b.close();
  });

  test("group messages go to the group hooks with the groupID; denied content types skip the hook", async () => {
    await n.store.setGroup("wg", ["wa", "wc"]);
    const [a, c] = [await login("wa"), await login("wc")];
    hits.length = 0;
    expect((await a.request(1003, groupMsg("wa", "wg", "forbidden in a group"))).errCode).toBe(5001);
    expect(hits.at(-1)!.body).toMatchObject({ callbackCommand: "callbackBeforeSendGroupMsgCommand", groupID: "wg" });
    expect((await a.request(1003, groupMsg("wa", "wg", "fine"))).errCode).toBe(0);
    await c.nextPush(2001);
    await until(() => hits.some((h) => h.path.endsWith("/callbackAfterSendGroupMsgCommand")), 3000, "group after hook");
    // contentType 110 is in beforeSendSingleMsg.deniedTypes: not asked, so not refused.
    hits.length = 0;
    const custom = textMsg("wa", "wc", "forbidden but custom", { contentType: 110 });
    // Before-hooks are awaited before the reply: had one been asked, it would be in `hits` now.
    expect((await a.request(1003, custom)).errCode).toBe(0);
    expect(hits.some((h) => h.path.includes("Before"))).toBe(false);
    a.close();
    c.close();
  });

  test("messages sent through the app-server API meet the same hook", async () => {
    const base = `http://127.0.0.1:${n.adminPort}`;
    const post = async (path: string, body: unknown, token = "") =>
      (await (await fetch(base + path, { method: "POST", headers: { operationID: "op-api-hook", token }, body: JSON.stringify(body) })).json()) as any;
    const admin = (await post("/auth/get_admin_token", { secret: SECRET, userID: "imAdmin" })).data.token;
    const msg = { sendID: "system", recvID: "wd", contentType: 101, sessionType: 1, content: { content: "forbidden from the app" } };
    expect(await post("/msg/send_msg", msg, admin)).toMatchObject({ errCode: 5001, errMsg: "ContentRefused", errDlt: "words we do not allow" });
    expect((await n.store.bounds("si_system_wd")).maxSeq).toBe(0);
  });
});

describe("an unreachable or garbled hook follows failedContinue", () => {
  test("failedContinue true (the default): the message goes through, the failure is counted", async () => {
    const dead = await freePort();
    const n = await startTestNode(hooksOn(`http://127.0.0.1:${dead}/cb`, { "webhooks.afterSendSingleMsg.enable": false }));
    try {
      const a = await connect({ port: n.wsPort, userID: "fa", platformID: 5, token: n.token("fa", 5), sdkType: "js" });
      expect((await a.request(1003, textMsg("fa", "fb", "through"))).errCode).toBe(0);
      expect((await n.store.bounds("si_fa_fb")).maxSeq).toBe(1);
      expect(n.node.webhooks.stats().failed.beforeSendSingleMsg).toBe(1);
      a.close();
    } finally {
      await n.stop();
    }
  });

  test("failedContinue false: refused with 90004 (unreachable) or 90007 (not JSON); nothing stored", async () => {
    const dead = await freePort();
    for (const [url, code, content] of [
      [`http://127.0.0.1:${dead}/cb`, 90004, "anything"],
      [`http://127.0.0.1:${hookServer.port}/cb`, 90007, "garbled reply"],
    ] as const) {
      const n = await startTestNode(hooksOn(url, { "webhooks.beforeSendSingleMsg.failedContinue": false }));
      try {
        const a = await connect({ port: n.wsPort, userID: "ca", platformID: 5, token: n.token("ca", 5), sdkType: "js" });
        const r = await a.request(1003, textMsg("ca", "cb", content));
        expect(r.errCode).toBe(code);
        expect((await n.store.bounds("si_ca_cb")).maxSeq).toBe(0);
        a.close();
      } finally {
        await n.stop();
      }
    }
  });
});
