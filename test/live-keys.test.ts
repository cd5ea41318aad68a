// Every key a reload calls live is read where it is used, after the reload: the node runs on a config object that
// records which keys are read; a reload changes every live key at once; then a workload that touches each part
// (handshakes plain, gzip and with an Origin, requests, pulls, sends single and group, subscriptions, a multi-login
// kick, a slow consumer, the hub over TLS with and without a token, the app-server API, user and message webhooks
// with a failing before-hook, a drain) runs. A key no part reads after the reload was captured at start: the
// trap this test is for. Reads by the reload's own machinery (planReload, applyLive) do not count.
import { afterAll, expect, test } from "bun:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { Admin } from "../src/gen/imgate/admin/v1/admin_pb.js";
import { msgGateway } from "../src/gen/openim/msggateway/msggateway_pb.js";
import { PullMessageBySeqsReqSchema, SubUserOnlineStatusSchema } from "../src/gen/openim/sdkws/sdkws_pb.js";
import { signToken } from "../src/backend/embedded/jwt.js";
import { isLive } from "../src/config/reload.js";
import { loadConfig } from "../src/config/load.js";
import { type Config, keys } from "../src/config/schema.js";
import { getPath } from "../src/config/path.js";
import { silentLogger } from "../src/observe/log.js";
import { startNode } from "../src/node.js";
import { connect, until, url } from "./support/client.js";
import { groupMsg, textMsg } from "./support/pb.js";
import { rawConnect } from "./support/rawws.js";

const SECRET = "live-keys-secret";
const dir = mkdtempSync(join(tmpdir(), "imgate-live-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The config as a tree of proxies that record every leaf read (outside the reload's own getPath/setPath). */
function recording<T extends object>(target: T, reads: Set<string>, prefix = ""): T {
  return new Proxy(target, {
    get(t, k, r) {
      const v = Reflect.get(t, k, r);
      if (typeof k !== "string") return v;
      const path = prefix ? `${prefix}.${k}` : k;
      if (v !== null && typeof v === "object" && !Array.isArray(v)) return recording(v as object, reads, path);
      if (!/\b(getPath|setPath|planReload|applyLive)\b/.test(new Error().stack ?? "")) reads.add(path);
      return v;
    },
  });
}

function makeCert(name: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.pem`), key = join(dir, `${name}.key`);
  const r = Bun.spawnSync(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1",
    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"], { stdout: "ignore", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`openssl failed: ${r.stderr}`);
  return { cert, key };
}

/** A new value for each live key, valid and different from the running one. */
function changed(cfg: Config, hookURL: string, cert2: { cert: string; key: string }): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const special: Record<string, unknown> = {
    "log.level": "debug", "log.format": "pretty", "multiLogin.policy": 4, "webhooks.url": hookURL + "/v2",
    "rpc.token": "token-after-reload", "rpc.tlsCert": cert2.cert, "rpc.tlsKey": cert2.key,
    "ws.allowedOrigins": ["https://app.example.com"], "ws.trustedProxies": ["10.0.0.0/8"], "ws.limitExempt": [],
    "rpc.allowFrom": ["127.0.0.0/8"], "ws.slowConsumerBytes": 200_000, "shutdown.drainSeconds": 0, "ws.handshakesPerSecond": 1000,
    "presence.renewIntervalSeconds": 601, "webhooks.afterSendSingleMsg.attentionIds": ["lk-b"],
    "webhooks.afterSendGroupMsg.attentionIds": ["lk-g"],
  };
  for (const k of keys.filter((k) => isLive(k.path))) {
    const v = getPath(cfg, k.path);
    out[k.path] = k.path in special ? special[k.path]
      : k.kind === "int" ? (v as number) + 1
      : k.kind === "bool" ? !v
      : k.kind === "int[]" ? [999]
      : k.kind === "string[]" ? ["x"]
      : `${v}-changed`;
  }
  return out;
}

test("every key a reload applies is read where it is used, after the reload", async () => {
  const cert1 = makeCert("c1"), cert2 = makeCert("c2");
  const hooks: { path: string; body: any }[] = [];
  const hookServer = Bun.serve({
    port: 0, hostname: "127.0.0.1",
    async fetch(req) {
      const body = await req.json().catch(() => ({}));
      hooks.push({ path: new URL(req.url).pathname, body });
      // A before-hook that fails: failedContinue decides what happens to the message.
      if (JSON.stringify(body).includes("fail-me")) return new Response("no", { status: 500 });
      return Response.json({ actionCode: 0, errCode: 0, nextCode: 0 });
    },
  });
  const hookURL = `http://127.0.0.1:${hookServer.port}/cb`;
  const file = join(dir, "imgate.yml");
  const base = {
    ws: { host: "127.0.0.1", port: 0 }, rpc: { port: 0, tlsCert: cert1.cert, tlsKey: cert1.key, allowOpenIMWithoutToken: false }, admin: { port: 0 },
    dataDir: join(dir, "data"), secret: SECRET, webhooks: { url: hookURL },
  };
  writeFileSync(file, stringify(base));
  const reads = new Set<string>();
  const config = recording(loadConfig({ file }), reads);
  const node = await startNode(config, silentLogger, SECRET, { reloadConfig: () => loadConfig({ file }) });
  try {
    // ---- the reload: every live key changes at once ------------------------------------------------------------
    const next = changed(config, hookURL, cert2);
    const doc: Record<string, any> = structuredClone(base);
    for (const [path, v] of Object.entries(next)) {
      const parts = path.split(".");
      let o = doc;
      for (const p of parts.slice(0, -1)) o = o[p] ??= {};
      o[parts.at(-1)!] = v;
    }
    writeFileSync(file, stringify(doc));
    reads.clear();
    const r = await node.reload();
    expect(r.changed.sort()).toEqual(Object.keys(next).sort());

    // ---- the workload ------------------------------------------------------------------------------------------
    const port = node.ports.ws;
    const token = (u: string, p = 5) => signToken(SECRET, u, p, 3600);
    // A browser handshake with an Origin (refused: not in the list), then clients plain and gzip.
    await fetch(url({ port, userID: "lk-o", platformID: 5, token: token("lk-o") }).replace("ws://", "http://"), { headers: { origin: "https://evil.example" } });
    const a = await connect({ port, userID: "lk-a", platformID: 5, token: token("lk-a"), sdkType: "js", isMsgResp: true });
    const b = await connect({ port, userID: "lk-b", platformID: 5, token: token("lk-b"), sdkType: "js", isMsgResp: true, gzip: true });
    await node.backend.store!.setGroup("lk-g", ["lk-a", "lk-b"]);
    expect((await a.request(1003, textMsg("lk-a", "lk-b", "hello"))).errCode).toBe(0);
    await b.nextPush(2001);
    expect((await a.request(1003, groupMsg("lk-a", "lk-g", "group hello"))).errCode).toBe(0);
    await a.request(1003, textMsg("lk-a", "lk-b", "fail-me"));
    await a.request(1003, groupMsg("lk-a", "lk-g", "fail-me"));
    await b.request(1002, toBinary(PullMessageBySeqsReqSchema, create(PullMessageBySeqsReqSchema, {
      userID: "lk-b", seqRanges: [{ conversationID: "si_lk-a_lk-b", begin: 1n, end: 10n, num: 10n }],
    })));
    await b.request(2005, toBinary(SubUserOnlineStatusSchema, create(SubUserOnlineStatusSchema, { subscribeUserID: ["lk-a"] })));
    // A second Web login of lk-a under policy 4 kicks the first (same class): the kick-off hook.
    const a2 = await connect({ port, userID: "lk-a", platformID: 5, token: signToken(SECRET, "lk-a", 5, 7200), sdkType: "js", isMsgResp: true });
    await a.closed;
    // A slow consumer: a socket that stops reading while pushes pile up.
    const q = new URL(url({ port, userID: "lk-slow", platformID: 2, token: token("lk-slow", 2) }));
    const slow = await rawConnect(port, q.pathname + q.search);
    slow.pause();
    const tls = { ca: readFileSync(cert2.cert) };
    const gw = createClient(msgGateway, createGrpcTransport({ baseUrl: `https://127.0.0.1:${node.ports.rpc}`, nodeOptions: tls }));
    const big = { sendID: "sys", recvID: "lk-slow", sessionType: 1, contentType: 101, content: Buffer.alloc(40_000, 97) };
    for (let i = 0; i < 200 && node.registry.userConns("lk-slow"); i++)
      await gw.superGroupOnlineBatchPushOneMsg({ msgData: big, pushToUserIDs: ["lk-slow"] }, { headers: { operationid: `slow-${i}` } });
    // A push larger than one chunk of users, so it is sliced (most of them offline).
    await gw.superGroupOnlineBatchPushOneMsg({ msgData: { ...big, content: Buffer.from("wide") }, pushToUserIDs: Array.from({ length: 40 }, (_, i) => `lk-w${i}`) }, { headers: { operationid: "wide" } });
    // The hub: the Admin service with the new token, a tokenless msgGateway call from loopback.
    const admin = createClient(Admin, createGrpcTransport({ baseUrl: `https://127.0.0.1:${node.ports.rpc}`, nodeOptions: tls }));
    await admin.stats({}, { headers: { authorization: "Bearer token-after-reload" } });
    // The app-server API.
    const api = (path: string, body: unknown, headers: Record<string, string> = {}) =>
      fetch(`http://127.0.0.1:${node.ports.api}${path}`, { method: "POST", headers: { operationID: "lk", ...headers }, body: JSON.stringify(body) })
        .then((res) => res.json() as Promise<any>);
    const adminToken = (await api("/auth/get_admin_token", { secret: SECRET, userID: "imAdmin" })).data.token;
    await api("/auth/get_user_token", { userID: "lk-api", platformID: 5 }, { token: adminToken });
    // Everyone leaves: offline hooks; the status batcher writes; then a drain (with the configured window).
    a2.close();
    b.close();
    await until(() => hooks.some((h) => h.path.endsWith("callbackAfterUserOfflineCommand")), 5000, "an offline hook");
    await node.webhooks.drain(3000);
    await admin.drain({}, { headers: { authorization: "Bearer token-after-reload" } });
    await node.stopped;

    const live = keys.filter((k) => isLive(k.path)).map((k) => k.path);
    expect(live.filter((k) => !reads.has(k))).toEqual([]);
  } finally {
    await node.stop();
    hookServer.stop(true);
  }
}, 60_000);
