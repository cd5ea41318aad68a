// Metrics move by exactly what happened in a scripted session; health, readiness and the dashboard feed.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { msgGateway } from "../src/gen/openim/msggateway/msggateway_pb.js";
import { type TestNode, startTestNode } from "./support/node.js";
import { connect, until } from "./support/client.js";
import { textMsg } from "./support/pb.js";

let n: TestNode;
beforeAll(async () => {
  n = await startTestNode({ "multiLogin.policy": 0 });
});
afterAll(() => n.stop());

/** Prometheus text → map of `name{labels}` → value. */
async function scrape(): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${n.adminPort}/metrics`)).text();
  const m = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const i = line.lastIndexOf(" ");
    m.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return m;
}
const delta = (a: Map<string, number>, b: Map<string, number>, k: string) => (b.get(k) ?? 0) - (a.get(k) ?? 0);

describe("metrics", () => {
  test("counters move by exactly what a scripted session did", async () => {
    const before = await scrape();
    const a = await connect({ port: n.wsPort, userID: "ma", platformID: 5, token: n.token("ma", 5), sdkType: "js" });
    const b = await connect({ port: n.wsPort, userID: "mb", platformID: 2, token: n.token("mb", 2), gzip: true });
    await fetch(`http://127.0.0.1:${n.wsPort}/?sendID=mx&token=garbage&platformID=5&operationID=o&isBackground=false`);
    for (let i = 0; i < 3; i++) expect((await a.request(1003, textMsg("ma", "mb", `m${i}`))).errCode).toBe(0);
    expect((await a.request(1001)).errCode).toBe(0);
    expect((await a.request(1003, textMsg("ma", "mb", "", { content: new Uint8Array(0) }))).errCode).toBe(1001);
    await until(() => b.frames.filter((f) => f.reqIdentifier === 2001).length === 3);
    await until(() => a.frames.filter((f) => f.reqIdentifier === 2001).length === 3);

    const mid = await scrape();
    expect(mid.get("online_user_num")).toBe(2);
    expect(mid.get('imgate_connections{platform="Web",codec="json"}')).toBe(1);
    expect(mid.get('imgate_connections{platform="Android",codec="gob+gzip"}')).toBe(1);

    const hub = createClient(msgGateway, createGrpcTransport({ baseUrl: `http://127.0.0.1:${n.rpcPort}` }));
    await hub.kickUserOffline({ platformID: 2, kickUserIDList: ["mb"] }, { headers: { operationid: "k" } });
    await b.closed;
    a.sendRaw(new Uint8Array([1, 2, 3]));
    await a.closed;
    await until(() => n.node.registry.connections === 0);

    const after = await scrape();
    const d = (k: string) => delta(before, after, k);
    expect(d('imgate_handshakes_total{result="ok"}')).toBe(2);
    expect(d('imgate_handshakes_total{result="1503"}')).toBe(1);
    expect(d('imgate_requests_total{req="1003",code="0"}')).toBe(3);
    expect(d('imgate_requests_total{req="1003",code="1001"}')).toBe(1);
    expect(d('imgate_requests_total{req="1001",code="0"}')).toBe(1);
    expect(d('imgate_request_duration_seconds_count{req="1003"}')).toBe(4);
    expect(d('imgate_pushes_total{result="0"}')).toBe(6); // three to mb, three echoes to ma
    expect(d('imgate_kicks_total{reason="hub"}')).toBe(1);
    expect(d('imgate_protocol_closes_total{reason="undecodable"}')).toBe(1);
    expect(d('imgate_push_fanout_users_count')).toBe(3);
    expect(d('rpc_count{name="messagegateway-rpc-service",path="/openim.msggateway.msgGateway/KickUserOffline",code="0"}')).toBe(1);
    expect(after.get("online_user_num")).toBe(0);
    expect(d("imgate_frames_total{direction=\"in\"}")).toBe(6);
    expect(after.has("process_resident_memory_bytes")).toBe(true); // prom-client's process metrics are registered
    expect(after.get("imgate_event_loop_lag_seconds_count")).toBeGreaterThan(0);
  });

  test("an event-loop stall shows in the lag histogram and the max gauge", async () => {
    const scrape = async () => new Map((await (await fetch(`http://127.0.0.1:${n.adminPort}/metrics`)).text()).split("\n")
      .filter((l) => l && !l.startsWith("#")).map((l) => [l.slice(0, l.lastIndexOf(" ")), Number(l.slice(l.lastIndexOf(" ") + 1))] as const));
    const over = (m: Map<string, number>) => m.get("imgate_event_loop_lag_seconds_count")! - m.get('imgate_event_loop_lag_seconds_bucket{le="0.1"}')!;
    await scrape(); // resets the max window
    const before = await scrape();
    const stallUntil = performance.now() + 150;
    while (performance.now() < stallUntil) {} // the node runs in this process: its loop stalls too
    // Scraped until the probe has recorded the stall (no guessed sleep), at most 5 s.
    let after = await scrape();
    for (const end = Date.now() + 5000; over(after) - over(before) < 1 && Date.now() < end;) after = await scrape();
    expect(after.get("imgate_event_loop_lag_max_seconds")).toBeGreaterThanOrEqual(0.12);
    // At least the stall (a loaded machine may add lags of its own).
    expect(over(after) - over(before)).toBeGreaterThanOrEqual(1);
  });

  test("no token or secret appears in metrics", async () => {
    const c = await connect({ port: n.wsPort, userID: "sec", platformID: 5, token: n.token("sec", 5), sdkType: "js" });
    const text = await (await fetch(`http://127.0.0.1:${n.adminPort}/metrics`)).text();
    expect(text).not.toContain(c.opts.token.split(".")[2]!);
    expect(text).not.toContain("test-secret");
    c.close();
  });
});

describe("logs", () => {
  test("lines about a connection carry its connID; tokens never appear", async () => {
    const { createLogger } = await import("../src/observe/log.js");
    const lines: string[] = [];
    const log = createLogger({ level: "debug", format: "json", write: (l) => lines.push(l) });
    const t = await startTestNode({ "multiLogin.policy": 1 }, { log });
    const tok = t.token("lg", 2);
    const c = await connect({ port: t.wsPort, userID: "lg", platformID: 2, token: tok });
    const c2 = await connect({ port: t.wsPort, userID: "lg", platformID: 2, token: t.token("lg", 2, 7200) });
    await c.closed;
    c2.sendRaw(new Uint8Array([9]));
    await c2.closed;
    await t.stop();
    const parsed = lines.map((l) => JSON.parse(l));
    expect(parsed.every((l) => typeof l.time === "string" && typeof l.level === "string" && typeof l.msg === "string")).toBe(true);
    const aboutConn = parsed.filter((l) => ["connected", "kicked", "closing connection", "disconnected"].includes(l.msg));
    expect(aboutConn.length).toBeGreaterThanOrEqual(4);
    for (const l of aboutConn) expect(l.connID).toMatch(/^[0-9a-f]{32}$/);
    const all = lines.join("\n");
    expect(all).not.toContain(tok);
    expect(all).not.toContain(tok.split(".")[2]!);
    expect(all).not.toContain("test-secret");
  });
});

describe("health and dashboard", () => {
  test("/healthz and /readyz", async () => {
    expect((await fetch(`http://127.0.0.1:${n.adminPort}/healthz`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${n.adminPort}/readyz`)).status).toBe(200);
  });

  test("the dashboard page and its event stream", async () => {
    // The dashboard needs the admin token (generated in the data dir); without it, 401.
    expect((await fetch(`http://127.0.0.1:${n.adminPort}/`)).status).toBe(401);
    const page = await fetch(`http://127.0.0.1:${n.adminPort}/?token=${n.adminToken}`);
    expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8");
    const html = await page.text();
    expect(html).toContain('new EventSource("events" + location.search)');
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=/); // nothing fetched from elsewhere

    const c = await connect({ port: n.wsPort, userID: "dash", platformID: 3, token: n.token("dash", 3), sdkType: "js" });
    const res = await fetch(`http://127.0.0.1:${n.adminPort}/events`, { headers: n.adminHeaders });
    const reader = res.body!.getReader();
    let text = "";
    const dec = new TextDecoder();
    while (!/\n\ndata: /.test(text)) text += dec.decode((await reader.read()).value);
    reader.cancel();
    expect(text.startsWith("event: hello\ndata: ")).toBe(true);
    const snap = JSON.parse(text.split("\n\ndata: ")[1]!.split("\n")[0]!);
    expect(snap.connections).toBe(1);
    expect(snap.platforms).toEqual([{ platform: "Windows", connections: 1 }]);
    c.close();
  });

  test("with rpc.token set, metrics and the dashboard need it; health checks do not", async () => {
    const t = await startTestNode({ "rpc.token": "s3cret" });
    const base = `http://127.0.0.1:${t.adminPort}`;
    expect((await fetch(`${base}/metrics`)).status).toBe(401);
    expect((await fetch(`${base}/`)).status).toBe(401);
    expect((await fetch(`${base}/metrics`, { headers: { authorization: "Bearer s3cret" } })).status).toBe(200);
    expect((await fetch(`${base}/?token=s3cret`)).status).toBe(200);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    await t.stop();
  });
});

describe("protocol errors in the log", () => {
  test("at most N lines per kind and window, then one line saying how many were left out", async () => {
    const { createLogger, rateLimitedLog } = await import("../src/observe/log.js");
    const lines: any[] = [];
    let t = 0;
    const limited = rateLimitedLog(createLogger({ level: "debug", format: "json", write: (l) => void lines.push(JSON.parse(l)) }), 10, 60_000, () => t);
    for (let i = 0; i < 25; i++) limited("undecodable", "closing connection", { connID: `c${i}` });
    limited("badGzip", "closing connection", { connID: "g" });
    expect(lines.filter((l) => l.key === "undecodable").length).toBe(10);
    expect(lines.filter((l) => l.key === "badGzip").length).toBe(1);
    t = 60_000;
    limited("undecodable", "closing connection", { connID: "later" });
    expect(lines.at(-2)).toMatchObject({ msg: "log lines left out", key: "undecodable", count: 15 });
    expect(lines.at(-1)).toMatchObject({ msg: "closing connection", connID: "later" });
  });
});
