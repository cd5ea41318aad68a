// Reading OpenIM's config folders of both release lines, key for key (fixtures in test/fixtures/openim reproduce
// the keys and values OpenIM ships), and each kind of bad folder failing with the file and key named.
import { afterAll, describe, expect, test } from "bun:test";
import { cpSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../src/config/load.js";
import { readOpenIMFolder } from "../src/config/openim.js";
import { runCli } from "./support/proc.js";

const FIXTURES = new URL("./fixtures/openim/", import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), "imgate-openim-config-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A copy of a fixture folder with `edit(file text)` applied to one file. */
function folder(layout: "main" | "v3.8.3", file?: string, edit?: (text: string) => string): string {
  const dir = mkdtempSync(join(tmp, `${layout}-`));
  cpSync(join(FIXTURES, layout), dir, { recursive: true });
  if (file && edit) writeFileSync(join(dir, file), edit(readFileSync(join(dir, file), "utf8")));
  return dir;
}

describe("both release lines, unmodified", () => {
  test("main: names from discovery.yml rpcService, admins from imAdminUser.userIDs, Sentinel keys, free ports", () => {
    const c = loadConfig({ openimDir: join(FIXTURES, "main"), env: {} });
    expect(c.shape).toBe("openim");
    expect(c.ws).toMatchObject({ port: 10001, maxConnections: 100000, maxFrameBytes: 4096, handshakeTimeoutSeconds: 10 });
    // Top-level listenIP 0.0.0.0 (main's file has no rpc.listenIP); empty registerIP = OpenIM's default; autoSetPorts.
    expect(c.rpc).toMatchObject({ host: "0.0.0.0", registerIP: "", port: 0 });
    expect(c.admin).toEqual({ host: "0.0.0.0", port: 0 });
    expect(c.secret).toBe("openIM123");
    expect(c.imAdminUser.userIDs).toEqual(["imAdmin"]);
    expect(c.multiLogin.policy).toBe(1);
    expect(c.discovery).toEqual({
      enable: "etcd",
      etcd: { rootDirectory: "openim", address: ["localhost:12379"], username: "", password: "" },
      rpcService: { auth: "auth-rpc-service", msg: "msg-rpc-service", push: "push-rpc-service", user: "user-rpc-service", messageGateway: "messagegateway-rpc-service" },
      prometheusKey: "openim/prometheus_discovery/messagegateway-rpc-service/0",
    });
    expect(c.redis).toMatchObject({
      address: ["localhost:16379"], username: "", password: "openIM123", redisMode: "standalone", db: 0,
      sentinelMode: { masterName: "redis-master", sentinelsAddrs: ["127.0.0.1:26379", "127.0.0.1:26380", "127.0.0.1:26381"], routeByLatency: true, routeRandomly: true },
    });
    expect(c.webhooks.url).toBe("http://127.0.0.1:10006/callbackExample");
    expect(c.webhooks.afterUserOnline).toEqual({ enable: false, timeout: 5 });
  });

  test("v3.8.3: names from share.yml rpcRegisterName, admins from the flat imAdminUserID, the literal openim/ Prometheus key", () => {
    const r = readOpenIMFolder(join(FIXTURES, "v3.8.3"), 0, { IMENV_DISCOVERY_ETCD_ROOTDIRECTORY: "im2" });
    expect(r.line).toBe("v3.8.3");
    const c = loadConfig({ openimDir: join(FIXTURES, "v3.8.3"), env: { IMENV_DISCOVERY_ETCD_ROOTDIRECTORY: "im2" } });
    expect(c.discovery.rpcService).toEqual({ auth: "auth", msg: "msg", push: "push", user: "user", messageGateway: "messageGateway" });
    expect(c.discovery.etcd.rootDirectory).toBe("im2");
    // tools alpha.113 writes "openim/prometheus_discovery/…" whatever the root; main's tools put it under the root.
    expect(c.discovery.prometheusKey).toBe("openim/prometheus_discovery/messageGateway/0");
    expect(loadConfig({ openimDir: join(FIXTURES, "main"), env: { IMENV_DISCOVERY_ETCD_ROOTDIRECTORY: "im2" } }).discovery.prometheusKey)
      .toBe("im2/prometheus_discovery/messagegateway-rpc-service/0");
    expect(c.redis.redisMode).toBe("standalone");
    expect(c.redis.sentinelMode.masterName).toBe("");
  });

  test("the release line's keys are read, not defaulted: changed values come through", () => {
    const dir = folder("v3.8.3", "share.yml", (t) => t.replace("imAdminUserID: [ imAdmin ]", "imAdminUserID: [ ops1, ops2 ]").replace("msg: msg", "msg: msg-v38"));
    const c = loadConfig({ openimDir: dir, env: {} });
    expect(c.imAdminUser.userIDs).toEqual(["ops1", "ops2"]);
    expect(c.discovery.rpcService.msg).toBe("msg-v38");
  });

  test("ports follow autoSetPorts and -i: rpc.ports[i] and prometheus.ports[i] when false", () => {
    const env = { IMENV_OPENIM_MSGGATEWAY_RPC_AUTOSETPORTS: "false", IMENV_OPENIM_MSGGATEWAY_LONGCONNSVR_PORTS: "10001,10002,10003" };
    const c = loadConfig({ openimDir: join(FIXTURES, "v3.8.3"), openimIndex: 2, env });
    expect([c.ws.port, c.rpc.port, c.admin.port]).toEqual([10003, 10142, 12142]);
    expect(c.discovery.prometheusKey).toBe("openim/prometheus_discovery/messageGateway/2");
    // prometheus.enable: false: no metrics key; the admin port stays ours.
    const off = loadConfig({ openimDir: join(FIXTURES, "v3.8.3"), env: { ...env, IMENV_OPENIM_MSGGATEWAY_PROMETHEUS_ENABLE: "false" } });
    expect(off.discovery.prometheusKey).toBe("");
    expect(off.admin).toEqual({ host: "127.0.0.1", port: 12140 });
  });

  test("the mapping table names each OpenIM key and the setting it became (what `imgate doctor` prints)", () => {
    const r = readOpenIMFolder(join(FIXTURES, "v3.8.3"), 0, { IMENV_REDIS_PASSWORD: "x" });
    const row = (ours: string) => r.mapping.find((m) => m.ours === ours);
    expect(row("discovery.rpcService.messageGateway")).toMatchObject({ openim: "share.yml rpcRegisterName.messageGateway", value: "messageGateway" });
    expect(row("imAdminUser.userIDs")).toMatchObject({ openim: "share.yml imAdminUserID", value: ["imAdmin"] });
    expect(row("rpc.host")).toMatchObject({ openim: "openim-msggateway.yml listenIP", value: "0.0.0.0" });
    expect(row("redis.password")).toMatchObject({ openim: "IMENV_REDIS_PASSWORD" });
  });
});

describe("bad folders fail with exit 2, naming the file and key", () => {
  const cases: [string, () => string, number, string[]][] = [
    ["a missing file", () => { const d = folder("main"); unlinkSync(join(d, "share.yml")); return d; }, 0, ["share.yml is missing"]],
    ["an unknown redis mode", () => folder("main", "redis.yml", (t) => t.replace("redisMode: standalone", "redisMode: clustered")), 0, ["redis.yml", 'redisMode "clustered"']],
    ["an unknown discovery", () => folder("v3.8.3", "discovery.yml", (t) => t.replace("enable: etcd", "enable: zookeeper")), 0, ["discovery.yml", 'enable "zookeeper"']],
    ["a wrong type", () => folder("main", "openim-msggateway.yml", (t) => t.replace("ports: [ 10001 ]", "ports: ten-thousand-and-one")), 0, ["openim-msggateway.yml", "longConnSvr.ports must be a list of integers"]],
    ["a wrong switch", () => folder("main", "openim-msggateway.yml", (t) => t.replace("autoSetPorts: true", "autoSetPorts: maybe")), 0, ["openim-msggateway.yml", "rpc.autoSetPorts must be true or false"]],
    ["-i past the ports", () => folder("main"), 3, ["longConnSvr.ports has 1 entry", "-i 3"]],
    ["autoSetPorts without etcd", () => folder("main", "discovery.yml", (t) => t.replace("enable: etcd", "enable: kubernetes")), 0, ["rpc.autoSetPorts: true needs discovery.yml enable: etcd"]],
    ["Sentinel without sentinelMode (v3.8.3)", () => folder("v3.8.3", "redis.yml", (t) => t.replace("redisMode: standalone", "redisMode: sentinel")), 0, ["redis.yml", "sentinelMode.masterName"]],
    ["both lines' names, disagreeing", () => folder("main", "share.yml", (t) => t + "rpcRegisterName:\n  msg: msg\n"), 0, ["discovery.yml rpcService.msg", "share.yml rpcRegisterName.msg", "disagree"]],
    ["a policy OpenIM does not have", () => folder("main", "share.yml", (t) => t.replace("policy: 1", "policy: 7")), 0, ["share.yml multiLogin.policy", "must be one of"]],
    ["invalid YAML", () => folder("main", "webhooks.yml", () => "url: [unclosed\n"), 0, ["webhooks.yml is not valid YAML"]],
  ];
  for (const [name, make, index, expected] of cases)
    test(name, () => {
      const dir = make();
      const r = runCli(["config", "print", "--openim-config", dir, "-i", String(index)]);
      expect(r.code).toBe(2);
      for (const e of expected) expect(r.stderr).toContain(e);
      expect(r.stdout).toBe("");
    });
});
