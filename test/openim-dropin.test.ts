// The drop-in, as an operator runs it: `imgate serve --openim-config DIR` on a folder of each OpenIM release
// line (test/fixtures/openim: main and v3.8.3-patch, unmodified; per-test addresses come in through OpenIM's own
// IMENV_* overrides), a real etcd, and gRPC stand-ins of OpenIM's services registered under that line's names.
// What OpenIM's push service would do is done here: read the gateway's key from etcd, dial the registered
// address (127.0.0.2: a second loopback address, so a hub bound to 127.0.0.1 alone is not reachable there) and
// call GetUsersOnlineStatus as the layout's admin.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { connect as tcpConnect, createServer } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createEtcd } from "../src/discovery/etcd.js";
import { signToken } from "../src/backend/embedded/jwt.js";
import { msgGateway } from "../src/gen/openim/msggateway/msggateway_pb.js";
import { SubUserOnlineStatusSchema, SubUserOnlineStatusTipsSchema } from "../src/gen/openim/sdkws/sdkws_pb.js";
import { connect } from "./support/client.js";
import { startEtcd } from "./support/etcd.js";
import { startOpenIMStandins } from "./support/openim-standins.js";
import { freePort, spawnImgate, type Spawned } from "./support/proc.js";
import { redisCli, startRedis, startSentinel, type TestRedis } from "./support/redis.js";

const etcdInstalled = Bun.which("etcd") !== null;
const sentinelInstalled = Bun.which("redis-sentinel") !== null;
if (process.env.CI && (!etcdInstalled || !sentinelInstalled)) throw new Error("etcd-server and redis-sentinel must be installed on CI");
if (!etcdInstalled) console.warn("etcd not installed (apt-get install etcd-server): skipping the drop-in tests");

const FIXTURES = new URL("./fixtures/openim/", import.meta.url).pathname;
const LAYOUTS = {
  main: { dir: join(FIXTURES, "main"), names: { auth: "auth-rpc-service", msg: "msg-rpc-service", push: "push-rpc-service", user: "user-rpc-service", gw: "messagegateway-rpc-service" } },
  "v3.8.3": { dir: join(FIXTURES, "v3.8.3"), names: { auth: "auth", msg: "msg", push: "push", user: "user", gw: "messageGateway" } },
} as const;
type Layout = keyof typeof LAYOUTS;

let etcdServer: Awaited<ReturnType<typeof startEtcd>>;
let openim: Awaited<ReturnType<typeof startOpenIMStandins>>;
let redis: TestRedis;
let etcd: ReturnType<typeof createEtcd>;
const dataDir = mkdtempSync(join(tmpdir(), "imgate-dropin-"));
const running: Spawned[] = [];

beforeAll(async () => {
  if (!etcdInstalled) return;
  [etcdServer, openim, redis] = await Promise.all([startEtcd(), startOpenIMStandins("openIM123"), startRedis()]);
  etcd = createEtcd({ endpoints: [etcdServer.address] });
  // OpenIM's services, registered as OpenIM's tools register them, under both lines' names.
  for (const layout of Object.values(LAYOUTS))
    for (const svc of [layout.names.auth, layout.names.msg, layout.names.push, layout.names.user])
      await etcd.put(`openim/${svc}/${openim.address}`, JSON.stringify({ Op: 0, Addr: openim.address, Metadata: null }));
});
afterAll(async () => {
  for (const p of running) await p.stop();
  if (!etcdInstalled) return;
  await Promise.all([openim.close(), etcdServer.stop(), redis.stop()]);
  rmSync(dataDir, { recursive: true, force: true });
});

/** IMENV_* overrides pointing an unmodified folder at this test's etcd and Redis, as an operator would. */
async function env(extra: Record<string, string> = {}) {
  return {
    IMENV_DISCOVERY_ETCD_ADDRESS: etcdServer.address,
    IMENV_REDIS_ADDRESS: `127.0.0.1:${redis.port}`,
    IMENV_REDIS_PASSWORD: "",
    IMENV_OPENIM_MSGGATEWAY_RPC_REGISTERIP: "127.0.0.2",
    IMENV_OPENIM_MSGGATEWAY_LONGCONNSVR_PORTS: String(await freePort()),
    ...extra,
  };
}

function serve(layout: Layout, e: Record<string, string>, args: string[] = []): Spawned {
  const p = spawnImgate(["serve", "--openim-config", LAYOUTS[layout].dir, "--data-dir", dataDir, "--log-format", "json", ...args], e);
  running.push(p);
  return p;
}

async function gatewayKeys(layout: Layout) {
  return (await etcd.list(`openim/${LAYOUTS[layout].names.gw}/`)).map((kv) => kv.key.slice(`openim/${LAYOUTS[layout].names.gw}/`.length));
}

/** The admin (metrics) port a gateway with autoSetPorts registered under prometheus_discovery. */
async function adminPort(p: Spawned): Promise<number> {
  return Number((await p.waitFor(/"admin":"[^"]*:(\d+)"/))[1]);
}

const hubClient = (addr: string) => createClient(msgGateway, createGrpcTransport({ baseUrl: `http://${addr}` }));
const asAdmin = { headers: { operationid: "dropin-test", opuserid: "imAdmin" }, timeoutMs: 3000 };

describe.skipIf(!etcdInstalled)("OpenIM's own config folders", () => {
  for (const layout of Object.keys(LAYOUTS) as Layout[]) {
    test(`${layout}: registered at 127.0.0.2 under "${LAYOUTS[layout].names.gw}", dialled there as OpenIM's push would, with a client behind it`, async () => {
      const e = await env();
      const p = serve(layout, e);
      // "imgate started" follows the registration (the engine registers, then the node logs its addresses).
      await p.waitFor(/"msg":"imgate started"/);
      const [addr] = await gatewayKeys(layout);
      expect(addr).toMatch(/^127\.0\.0\.2:\d+$/);
      // autoSetPorts: true in both shipped files: a free port, and the registered one is the one listened on.
      expect(p.output()).toContain(`"registerAs":"${addr}"`);

      // A client's handshake goes to the auth service found under this line's name.
      const before = openim.calls.filter((c) => c.path === "/openim.auth.Auth/parseToken").length;
      const c = await connect({ port: Number(e.IMENV_OPENIM_MSGGATEWAY_LONGCONNSVR_PORTS), userID: `u-${layout}`, platformID: 5, token: signToken("openIM123", `u-${layout}`, 5, 3600), sdkType: "js" });
      expect(openim.calls.filter((c) => c.path === "/openim.auth.Auth/parseToken").length).toBe(before + 1);

      const r = await hubClient(addr!).getUsersOnlineStatus({ userIDs: [`u-${layout}`] }, asAdmin);
      expect(r.successResult.map((s) => [s.userID, s.status, s.detailPlatformStatus.map((d) => d.platformID)])).toEqual([[`u-${layout}`, 1, [5]]]);
      // The admin is the layout's: a plain user is refused.
      await expect(hubClient(addr!).getUsersOnlineStatus({ userIDs: ["x"] }, { headers: { operationid: "o", opuserid: "someone" } })).rejects.toThrow();

      // OpenIM's Prometheus discovery finds the metrics port under this line's key, at the registered address.
      const [prom] = await etcd.list(`openim/prometheus_discovery/${LAYOUTS[layout].names.gw}/`);
      expect(prom!.key).toBe(`openim/prometheus_discovery/${LAYOUTS[layout].names.gw}/0`);
      const target = JSON.parse(prom!.value) as { target: string; labels: Record<string, string> };
      expect(target.labels).toEqual({ namespace: "default" });
      expect(target.target).toMatch(/^127\.0\.0\.2:\d+$/);
      const metrics = await (await fetch(`http://${target.target}/metrics`)).text();
      expect(metrics).toContain("imgate_etcd_registered 1");

      c.close();
      expect(await p.stop()).toBe(0);
      expect(await gatewayKeys(layout)).toEqual([]);
      expect(await etcd.list(`openim/prometheus_discovery/${LAYOUTS[layout].names.gw}/`)).toEqual([]);
    }, 30_000);
  }

  test("v3.8.3 with autoSetPorts false and -i 1: listens on rpc.ports[1] and prometheus.ports[1] and registers those", async () => {
    const [r0, r1, p0, p1, w0, w1] = (await Promise.all(Array.from({ length: 6 }, () => freePort()))) as [number, number, number, number, number, number];
    const p = serve("v3.8.3", await env({
      IMENV_OPENIM_MSGGATEWAY_RPC_AUTOSETPORTS: "false",
      IMENV_OPENIM_MSGGATEWAY_RPC_PORTS: `${r0},${r1}`,
      IMENV_OPENIM_MSGGATEWAY_PROMETHEUS_PORTS: `${p0},${p1}`,
      IMENV_OPENIM_MSGGATEWAY_LONGCONNSVR_PORTS: `${w0},${w1}`,
    }), ["-i", "1"]);
    await p.waitFor(/"msg":"registered in etcd"/);
    expect(await gatewayKeys("v3.8.3")).toEqual([`127.0.0.2:${r1}`]);
    const [prom] = await etcd.list("openim/prometheus_discovery/messageGateway/");
    expect(prom!.key).toBe("openim/prometheus_discovery/messageGateway/1");
    expect(JSON.parse(prom!.value).target).toBe(`127.0.0.2:${p1}`);
    expect((await fetch(`http://127.0.0.2:${p1}/readyz`)).status).toBe(200);
    const c = await connect({ port: w1, userID: "idx", platformID: 1, token: signToken("openIM123", "idx", 1, 3600), sdkType: "js" });
    c.close();
    await p.stop();
  }, 30_000);

  test("an IPv6 register address is written with brackets ([::1]:port) and the hub answers there", async () => {
    const p = serve("main", await env({ IMENV_OPENIM_MSGGATEWAY_RPC_REGISTERIP: "::1" }));
    await p.waitFor(/"msg":"registered in etcd"/);
    const [addr] = await gatewayKeys("main");
    expect(addr).toMatch(/^\[::1\]:\d+$/);
    const kv = (await etcd.list("openim/messagegateway-rpc-service/"))[0]!;
    expect(JSON.parse(kv.value)).toEqual({ Op: 0, Addr: addr, Metadata: null });
    expect((await hubClient(addr!).getUsersOnlineStatus({ userIDs: ["nobody"] }, asAdmin)).successResult).toEqual([]);
    await p.stop();
  }, 30_000);

  test("a hub bound to 127.0.0.1 alone cannot be registered at 127.0.0.2: exit 2 naming both, nothing started", async () => {
    // The premise: a socket bound to 127.0.0.1 is refused at 127.0.0.2, as a LAN address would be refused.
    const s = createServer().listen(0, "127.0.0.1");
    await new Promise((r) => s.once("listening", r));
    const refused = await new Promise<boolean>((resolve) => {
      const c = tcpConnect({ host: "127.0.0.2", port: (s.address() as { port: number }).port }, () => (c.destroy(), resolve(false)));
      c.on("error", () => resolve(true));
    });
    s.close();
    expect(refused).toBe(true);

    const e = await env({ IMENV_OPENIM_MSGGATEWAY_LISTENIP: "127.0.0.1" });
    const p = serve("main", e);
    expect(await p.proc.exited).toBe(2);
    expect(p.output()).toContain("listen on 127.0.0.1");
    expect(p.output()).toContain("register 127.0.0.2");
    expect(await gatewayKeys("main")).toEqual([]);
    // Nothing listens: the WebSocket port was never opened.
    const wsUp = await new Promise<boolean>((resolve) => {
      const c = tcpConnect({ host: "127.0.0.1", port: Number(e.IMENV_OPENIM_MSGGATEWAY_LONGCONNSVR_PORTS) }, () => (c.destroy(), resolve(true)));
      c.on("error", () => resolve(false));
    });
    expect(wsUp).toBe(false);
  }, 30_000);

  test("with etcd down the log never claims registration and /readyz says why; once etcd is up it registers", async () => {
    const port = await freePort();
    const admin = await freePort();
    const p = serve("main", await env({
      IMENV_DISCOVERY_ETCD_ADDRESS: `127.0.0.1:${port}`,
      IMENV_OPENIM_MSGGATEWAY_RPC_AUTOSETPORTS: "false",
      IMENV_OPENIM_MSGGATEWAY_RPC_PORTS: String(await freePort()),
      IMENV_OPENIM_MSGGATEWAY_PROMETHEUS_PORTS: String(admin),
    }));
    await p.waitFor(/"msg":"imgate started"/);
    expect(p.output()).toContain("etcd registration failed");
    expect(p.output()).not.toContain('"registered in etcd"');
    const ready = await fetch(`http://127.0.0.1:${admin}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.text()).toContain("etcd registration retrying");
    expect(await (await fetch(`http://127.0.0.1:${admin}/metrics`)).text()).toContain("imgate_etcd_registered 0");

    const late = await startEtcd({ clientPort: port });
    try {
      await p.waitFor(/"msg":"registered in etcd"/, 20_000);
      expect((await fetch(`http://127.0.0.1:${admin}/readyz`)).status).toBe(200);
      expect((await createEtcd({ endpoints: [late.address] }).list("openim/messagegateway-rpc-service/")).length).toBe(1);
      await p.stop();
    } finally {
      await late.stop();
    }
  }, 40_000);
});

describe.skipIf(!etcdInstalled || !sentinelInstalled)("Redis Sentinel from redis.yml sentinelMode (real redis-sentinel)", () => {
  test("status changes OpenIM publishes reach 2005 subscribers before and after a failover", async () => {
    const sentinel = await startSentinel("redis-master"); // main's redis.yml masterName
    try {
      const e = await env({
        IMENV_REDIS_REDISMODE: "sentinel",
        IMENV_REDIS_SENTINELMODE_SENTINELSADDRS: sentinel.address,
        IMENV_REDIS_ADDRESS: "",
      });
      const p = serve("main", e);
      await p.waitFor(/"msg":"registered in etcd"/);
      const w = await connect({ port: Number(e.IMENV_OPENIM_MSGGATEWAY_LONGCONNSVR_PORTS), userID: "watcher", platformID: 5, token: signToken("openIM123", "watcher", 5, 3600), sdkType: "js" });
      await w.request(2005, toBinary(SubUserOnlineStatusSchema, create(SubUserOnlineStatusSchema, { subscribeUserID: ["friend"] })));
      // OpenIM's user service publishes on the master the sentinel names.
      const publish = async (payload: string, expected: number[]) => {
        const end = Date.now() + 15_000;
        for (;;) {
          redisCli(sentinel.masterPort(), "PUBLISH", "online_change", payload);
          try {
            const push = await w.nextPush(2005, 1000);
            return expect(fromBinary(SubUserOnlineStatusTipsSchema, push.data!).subscribers[0]).toMatchObject({ userID: "friend", onlinePlatformIDs: expected });
          } catch (err) {
            if (Date.now() > end) throw err; // resubscribing after the switch may take a moment: publish again
          }
        }
      };
      await publish("1:friend", [1]);
      const before = sentinel.masterPort();
      const after = await sentinel.failover();
      expect(after).not.toBe(before);
      // The old master is gone for good (a replica would still relay PUBLISH to its subscribers, proving nothing).
      await (sentinel.master.port === before ? sentinel.master : sentinel.replica).kill();
      await publish("2:friend", [2]);
      expect(await (await fetch(`http://127.0.0.2:${await adminPort(p)}/readyz`)).text()).toBe("ready\n");
      w.close();
      await p.stop();
    } finally {
      await sentinel.stop();
    }
  }, 60_000);
});
