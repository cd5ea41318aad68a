// etcd discovery with a real etcd: imgate registers itself as OpenIM's gateway does and finds OpenIM's services.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { createEtcd, keepRegistered } from "../src/discovery/etcd.js";
import { signToken } from "../src/backend/embedded/jwt.js";
import { type TestNode, startTestNode } from "./support/node.js";
import { connect } from "./support/client.js";
import { startEtcd } from "./support/etcd.js";
import { startOpenIMStandins } from "./support/openim-standins.js";
import { textMsg } from "./support/pb.js";

// etcd comes from Debian's etcd-server, which .ci/run installs; on CI these tests must run, never skip.
const available = Bun.which("etcd") !== null;
if (!available && process.env.CI) throw new Error("etcd is missing on CI");
if (!available) console.warn("etcd not installed (apt-get install etcd-server): skipping the discovery tests");

let etcdServer: Awaited<ReturnType<typeof startEtcd>>;
let openim: Awaited<ReturnType<typeof startOpenIMStandins>>;
beforeAll(async () => {
  if (!available) return;
  etcdServer = await startEtcd();
  openim = await startOpenIMStandins("openIM123");
});
afterAll(async () => {
  if (!available) return;
  await openim.close();
  await etcdServer.stop();
});

test.skipIf(!available)("the gateway registers <root>/<messageGateway>/<ip>:<port> and finds the services it calls", async () => {
  const etcd = createEtcd({ endpoints: [etcdServer.address] });
  for (const svc of ["auth-rpc-service", "msg-rpc-service", "push-rpc-service", "user-rpc-service"])
    await etcd.put(`openim/${svc}/${openim.address}`, JSON.stringify({ Op: 0, Addr: openim.address, Metadata: null }));
  const n: TestNode = await startTestNode({
    shape: "openim", "discovery.enable": "etcd", "discovery.etcd.address": [etcdServer.address], "rpc.registerIP": "127.0.0.1",
  });
  const key = `openim/messagegateway-rpc-service/127.0.0.1:${n.rpcPort}`;
  const kvs = await etcd.list("openim/messagegateway-rpc-service/");
  expect(kvs).toEqual([{ key, value: `{"Op":0,"Addr":"127.0.0.1:${n.rpcPort}","Metadata":null}` }]);

  // Requests go to the services found in etcd.
  const c = await connect({ port: n.wsPort, userID: "d1", platformID: 5, token: signToken("openIM123", "d1", 5, 3600), sdkType: "js" });
  expect((await c.request(1003, textMsg("d1", "d2", "found via etcd"))).errCode).toBe(0);
  expect(openim.calls.some((x) => x.path === "/openim.msg.msg/SendMsg")).toBe(true);
  c.close();

  await n.stop();
  expect(await etcd.list("openim/messagegateway-rpc-service/")).toEqual([]);
});

test.skipIf(!available)("a lost lease is noticed and the key registered again", async () => {
  const etcd = createEtcd({ endpoints: [etcdServer.address] });
  const events: string[] = [];
  const reg = keepRegistered(etcd, [{ key: "t/svc/10.0.0.1:1", value: "v" }], {
    ttlSeconds: 3, onRegistered: ({ again }) => events.push(again ? "again" : "registered"), onFailed: () => events.push("failed"),
  });
  await reg.start();
  expect(reg.state()).toBe("registered");
  expect((await etcd.list("t/svc/")).length).toBe(1);
  // Someone revokes every lease (an etcd restart, a long partition): the key disappears with its lease.
  const lease = await (await fetch(`http://${etcdServer.address}/v3/lease/leases`, { method: "POST", body: "{}" })).json() as any;
  for (const l of lease.leases ?? []) await fetch(`http://${etcdServer.address}/v3/lease/revoke`, { method: "POST", body: JSON.stringify({ ID: l.ID }) });
  expect((await etcd.list("t/svc/")).length).toBe(0);
  let back = false;
  for (let i = 0; i < 60 && !back; i++) {
    back = (await etcd.list("t/svc/")).length === 1;
    if (!back) await Bun.sleep(100);
  }
  expect(back).toBe(true);
  expect(events).toEqual(["registered", "again"]);
  expect(reg.state()).toBe("registered");
  await reg.stop();
  expect(reg.state()).toBe("stopped");
  expect((await etcd.list("t/svc/")).length).toBe(0);
}, 20_000);

test.skipIf(!available)("a login on one gateway reaches its peers through MultiTerminalLoginCheck and kicks there", async () => {
  const etcd = createEtcd({ endpoints: [etcdServer.address] });
  for (const svc of ["auth-rpc-service", "msg-rpc-service", "push-rpc-service", "user-rpc-service"])
    await etcd.put(`openim/${svc}/${openim.address}`, "{}");
  const common = { shape: "openim", "discovery.enable": "etcd", "discovery.etcd.address": [etcdServer.address], "rpc.registerIP": "127.0.0.1", "multiLogin.policy": 1 };
  const a = await startTestNode(common);
  const b = await startTestNode(common);
  // Node a learns about b on its next refresh; b saw a at start.
  const first = await connect({ port: a.wsPort, userID: "peer", platformID: 2, token: signToken("openIM123", "peer", 2, 100), sdkType: "js" });
  await connect({ port: b.wsPort, userID: "peer", platformID: 2, token: signToken("openIM123", "peer", 2, 200), sdkType: "js", operationID: "on-b" });
  expect((await first.nextPush(2002)).reqIdentifier).toBe(2002);
  // The kick came through node a's hub: OpenIM's MultiTerminalLoginCheck, served once.
  const metrics = await (await fetch(`http://127.0.0.1:${a.adminPort}/metrics`)).text();
  expect(metrics).toContain('rpc_count{name="messagegateway-rpc-service",path="/openim.msggateway.msgGateway/MultiTerminalLoginCheck",code="0"} 1');
  await a.stop();
  await b.stop();
});
