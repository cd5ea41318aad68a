// `imgate doctor` as an operator runs it (a child process, exit codes checked): a healthy OpenIM setup of each
// release line, then each failure it reports, on real etcd, Redis, redis-sentinel and gRPC stand-ins.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createEtcd } from "../src/discovery/etcd.js";
import { startEtcd } from "./support/etcd.js";
import { startOpenIMStandins } from "./support/openim-standins.js";
import { freePort, spawnImgate } from "./support/proc.js";
import { redisCli, startRedis, startSentinel, type TestRedis } from "./support/redis.js";

const etcdInstalled = Bun.which("etcd") !== null;
const sentinelInstalled = Bun.which("redis-sentinel") !== null;
if (process.env.CI && (!etcdInstalled || !sentinelInstalled)) throw new Error("etcd-server and redis-sentinel must be installed on CI");

const FIXTURES = new URL("./fixtures/openim/", import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), "imgate-doctor-"));
let etcdServer: Awaited<ReturnType<typeof startEtcd>>;
let openim: Awaited<ReturnType<typeof startOpenIMStandins>>;
let redis: TestRedis;
let etcd: ReturnType<typeof createEtcd>;

/** Registers the stand-ins under a root of this test's own, with the given line's names. */
async function registerServices(root: string, names: string[], addr = openim.address) {
  for (const n of names) await etcd.put(`${root}/${n}/${addr}`, JSON.stringify({ Op: 0, Addr: addr, Metadata: null }));
}
const MAIN = ["auth-rpc-service", "msg-rpc-service", "push-rpc-service", "user-rpc-service"];
const V383 = ["auth", "msg", "push", "user"];

async function doctor(args: string[], env: Record<string, string> = {}) {
  const p = spawnImgate(["doctor", "--timeout", "3000", ...args], env);
  const code = await p.proc.exited;
  await Bun.sleep(20);
  return { code, out: p.output() };
}

/** OpenIM's IMENV_* overrides pointing a fixture at this test's etcd root and Redis. */
async function openimEnv(root: string, extra: Record<string, string> = {}) {
  return {
    IMENV_DISCOVERY_ETCD_ADDRESS: etcdServer.address,
    IMENV_DISCOVERY_ETCD_ROOTDIRECTORY: root,
    IMENV_REDIS_ADDRESS: `127.0.0.1:${redis.port}`,
    IMENV_REDIS_PASSWORD: "",
    IMENV_OPENIM_MSGGATEWAY_RPC_REGISTERIP: "127.0.0.2",
    IMENV_OPENIM_MSGGATEWAY_LONGCONNSVR_PORTS: String(await freePort()),
    ...extra,
  };
}

beforeAll(async () => {
  redis = await startRedis();
  if (!etcdInstalled) return;
  [etcdServer, openim] = await Promise.all([startEtcd(), startOpenIMStandins("openIM123")]);
  etcd = createEtcd({ endpoints: [etcdServer.address] });
});
afterAll(async () => {
  await redis.stop();
  if (etcdInstalled) await Promise.all([openim.close(), etcdServer.stop()]);
  rmSync(tmp, { recursive: true, force: true });
});

describe.skipIf(!etcdInstalled)("the openim shape", () => {
  test("healthy, main layout: the mapping, every service found and answering, exit 0", async () => {
    await registerServices("healthy-main", MAIN);
    const r = await doctor(["--openim-config", join(FIXTURES, "main")], await openimEnv("healthy-main"));
    expect(r.code).toBe(0);
    expect(r.out).toContain("main layout");
    expect(r.out).toMatch(/discovery\.yml rpcService\.msg\s+→ discovery\.rpcService\.msg\s+"msg-rpc-service"/);
    expect(r.out).toMatch(/share\.yml secret\s+→ secret\s+"\*\*\*"/);
    expect(r.out).not.toContain("openIM123");
    for (const svc of ["auth", "msg", "push", "user"]) expect(r.out).toMatch(new RegExp(`ok\\s+OpenIM ${svc}\\s+${openim.address.replace(/\./g, "\\.")} answers gRPC`));
    expect(r.out).toContain("registers 127.0.0.2: a test listener there was reached at 127.0.0.2");
    expect(r.out).toMatch(/ok\s+redis\s+127\.0\.0\.1:\d+ answered PING/);
    expect(r.out).toContain("doctor: all good");
  });

  test("healthy, v3.8.3 layout, as JSON", async () => {
    await registerServices("healthy-v383", V383);
    const r = await doctor(["--openim-config", join(FIXTURES, "v3.8.3"), "--json"], await openimEnv("healthy-v383"));
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.openim.line).toBe("v3.8.3");
    expect(j.checks.filter((c: any) => c.status === "fail")).toEqual([]);
    expect(j.checks.filter((c: any) => c.area.startsWith("OpenIM ")).map((c: any) => c.area).sort()).toEqual(["OpenIM auth", "OpenIM msg", "OpenIM push", "OpenIM user"]);
  });

  test("services registered under the other line's names: a config error naming the key to change (exit 2)", async () => {
    await registerServices("other-line", MAIN);
    const r = await doctor(["--openim-config", join(FIXTURES, "v3.8.3")], await openimEnv("other-line"));
    expect(r.code).toBe(2);
    expect(r.out).toContain("OpenIM msg: no instance registered under other-line/msg/");
    expect(r.out).toContain('registers it as other-line/msg-rpc-service/');
    expect(r.out).toContain("share.yml rpcRegisterName.msg (v3.8.3)");
  });

  test("a service missing from etcd: exit 1", async () => {
    await registerServices("no-push", ["auth-rpc-service", "msg-rpc-service", "user-rpc-service"]);
    const r = await doctor(["--openim-config", join(FIXTURES, "main")], await openimEnv("no-push"));
    expect(r.code).toBe(1);
    expect(r.out).toContain("OpenIM push: no instance registered under no-push/push-rpc-service/ → start OpenIM's push service");
  });

  test("a registered address nobody answers on (a dead service): exit 1", async () => {
    const dead = `127.0.0.1:${await freePort()}`;
    await registerServices("dead-msg", ["auth-rpc-service", "push-rpc-service", "user-rpc-service"]);
    await registerServices("dead-msg", ["msg-rpc-service"], dead);
    const r = await doctor(["--openim-config", join(FIXTURES, "main")], await openimEnv("dead-msg"));
    expect(r.code).toBe(1);
    expect(r.out).toContain(`OpenIM msg: ${dead} (dead-msg/msg-rpc-service/${dead}) does not answer: ECONNREFUSED`);
  });

  test("a port that is not a gRPC server (an HTTP/1 listener) is not taken for one", async () => {
    const http = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("hello") });
    try {
      await registerServices("http-msg", ["auth-rpc-service", "push-rpc-service", "user-rpc-service"]);
      await registerServices("http-msg", ["msg-rpc-service"], `127.0.0.1:${http.port}`);
      const r = await doctor(["--openim-config", join(FIXTURES, "main")], await openimEnv("http-msg"));
      expect(r.code).toBe(1);
      expect(r.out).toContain(`OpenIM msg: 127.0.0.1:${http.port}`);
    } finally {
      http.stop(true);
    }
  });

  test("a gRPC server of another service registered under msg's name is named as such", async () => {
    const { connectNodeAdapter } = await import("@connectrpc/connect-node");
    const { createServer: h2 } = await import("node:http2");
    const { Auth } = await import("../src/gen/openim/auth/auth_pb.js");
    const only = h2(connectNodeAdapter({ routes: (r) => r.service(Auth, {}) }));
    await new Promise<void>((r) => only.listen(0, "127.0.0.1", () => r()));
    const addr = `127.0.0.1:${(only.address() as { port: number }).port}`;
    try {
      await registerServices("wrong-msg", ["auth-rpc-service", "push-rpc-service", "user-rpc-service"]);
      await registerServices("wrong-msg", ["msg-rpc-service"], addr);
      const r = await doctor(["--openim-config", join(FIXTURES, "main")], await openimEnv("wrong-msg"));
      expect(r.code).toBe(1);
      expect(r.out).toContain(`OpenIM msg: ${addr} (wrong-msg/msg-rpc-service/${addr}) does not answer: a gRPC server answers but has no /openim.msg.msg/GetMaxSeq`);
    } finally {
      only.close();
    }
  });

  test("etcd unreachable: exit 1", async () => {
    const r = await doctor(["--openim-config", join(FIXTURES, "main")], await openimEnv("x", { IMENV_DISCOVERY_ETCD_ADDRESS: `127.0.0.1:${await freePort()}` }));
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/FAIL\s+etcd\s+127\.0\.0\.1:\d+ did not answer/);
  });

  test("Redis unreachable: exit 1", async () => {
    await registerServices("no-redis", MAIN);
    const r = await doctor(["--openim-config", join(FIXTURES, "main")], await openimEnv("no-redis", { IMENV_REDIS_ADDRESS: `127.0.0.1:${await freePort()}` }));
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/redis: 127\.0\.0\.1:\d+: ECONNREFUSED → start Redis/);
  });

  test("listen and register addresses that cannot meet: exit 2 naming both", async () => {
    const r = await doctor(["--openim-config", join(FIXTURES, "main")], await openimEnv("conflict", { IMENV_OPENIM_MSGGATEWAY_LISTENIP: "127.0.0.1" }));
    expect(r.code).toBe(2);
    expect(r.out).toContain("hub address: the hub would listen on 127.0.0.1");
    expect(r.out).toContain("register 127.0.0.2");
  });

  test("Redis refusing the password: a config error (exit 2)", async () => {
    const locked = await startRedis();
    redisCli(locked.port, "CONFIG", "SET", "requirepass", "right");
    try {
      await registerServices("redis-auth", MAIN);
      const r = await doctor(["--openim-config", join(FIXTURES, "main")], await openimEnv("redis-auth", { IMENV_REDIS_ADDRESS: `127.0.0.1:${locked.port}`, IMENV_REDIS_PASSWORD: "wrong" }));
      expect(r.code).toBe(2);
      expect(r.out).toMatch(/FAIL\s+redis\s+127\.0\.0\.1:\d+: .*WRONGPASS/);
      expect(r.out).toContain("check redis.yml username/password");
    } finally {
      await locked.stop();
    }
  });

  test("a listen address that is not this machine's: exit 2", async () => {
    const r = await doctor(["--openim-config", join(FIXTURES, "main")], await openimEnv("x", {
      IMENV_OPENIM_MSGGATEWAY_LISTENIP: "10.255.255.1", IMENV_OPENIM_MSGGATEWAY_RPC_REGISTERIP: "10.255.255.1",
      IMENV_OPENIM_MSGGATEWAY_RPC_AUTOSETPORTS: "false", IMENV_OPENIM_MSGGATEWAY_RPC_PORTS: String(await freePort()),
    }));
    expect(r.code).toBe(2);
    expect(r.out).toContain("10.255.255.1 is not an address of this machine");
  });

  test("a config error stops before any check: exit 2", async () => {
    const r = await doctor(["--openim-config", join(FIXTURES, "main"), "-i", "4"], await openimEnv("x"));
    expect(r.code).toBe(2);
    expect(r.out).toContain("longConnSvr.ports has 1 entry");
    expect(r.out).not.toContain("checks");
  });
});

describe.skipIf(!etcdInstalled || !sentinelInstalled)("Sentinel", () => {
  test("a sentinel that knows the master: ok; a master name it does not monitor: exit 2", async () => {
    const s = await startSentinel("redis-master");
    try {
      await registerServices("sentinel", MAIN);
      const env = await openimEnv("sentinel", { IMENV_REDIS_REDISMODE: "sentinel", IMENV_REDIS_SENTINELMODE_SENTINELSADDRS: s.address });
      const ok = await doctor(["--openim-config", join(FIXTURES, "main")], env);
      expect(ok.code).toBe(0);
      expect(ok.out).toContain(`${s.address} names 127.0.0.1:${s.master.port} as master of "redis-master"`);
      expect(ok.out).toMatch(/ok\s+redis\s+master 127\.0\.0\.1:\d+ answered PING/);
      const wrong = await doctor(["--openim-config", join(FIXTURES, "main")], { ...env, IMENV_REDIS_SENTINELMODE_MASTERNAME: "mymaster" });
      expect(wrong.code).toBe(2);
      expect(wrong.out).toContain(`${s.address} does not monitor a master named "mymaster"`);
      const dead = `127.0.0.1:${await freePort()}`;
      const down = await doctor(["--openim-config", join(FIXTURES, "main")], { ...env, IMENV_REDIS_SENTINELMODE_SENTINELSADDRS: dead });
      expect(down.code).toBe(1);
      expect(down.out).toContain(`redis sentinel: ${dead}: ECONNREFUSED → start the sentinel`);
    } finally {
      await s.stop();
    }
  }, 40_000);
});

describe("the embedded and cluster shapes", () => {
  test("healthy embedded: exit 0; a port in use is a warning, not a failure", async () => {
    const held = createServer().listen(0, "127.0.0.1");
    await new Promise((r) => held.once("listening", r));
    const port = (held.address() as { port: number }).port;
    try {
      const r = await doctor(["--data-dir", join(tmp, "fresh", "data"), "--ws-port", String(port), "--host", "127.0.0.1", "--rpc-port", String(await freePort()), "--admin-port", String(await freePort())]);
      expect(r.code).toBe(0);
      expect(r.out).toMatch(new RegExp(`warn\\s+WebSocket\\s+127\\.0\\.0\\.1:${port} is in use`));
      expect(r.out).toContain("will be created");
    } finally {
      held.close();
    }
  });

  test("a secret file others can read: exit 2 with the chmod to run", async () => {
    const dir = join(tmp, "open-secret");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "secret"), "s3cret\n");
    chmodSync(join(dir, "secret"), 0o644);
    const r = await doctor(["--data-dir", dir, "--ws-port", "0", "--rpc-port", "0", "--admin-port", "0"]);
    expect(r.code).toBe(2);
    expect(r.out).toContain(`secret: ${join(dir, "secret")} has mode 644: others on this machine can read the token secret → chmod 600`);
  });

  test("the risky settings it can see (warnings), and the schema version with what opening the file will do", async () => {
    const dir = join(tmp, "risky");
    mkdirSync(dir, { recursive: true });
    const cfg = join(dir, "imgate.yml");
    writeFileSync(cfg, "ws:\n  maxConnsPerUser: 0\n  requestsPerSecond: 0\n  limitExempt: [\"0.0.0.0/0\"]\nadmin:\n  host: 0.0.0.0\n");
    // A database written by 0.1.0: opening it will migrate it.
    copyFileSync(new URL("./fixtures/data-0.1.0/imgate.db", import.meta.url).pathname, join(dir, "imgate.db"));
    const r = await doctor(["--config", cfg, "--data-dir", dir, "--ws-port", "0", "--rpc-port", "0", "--admin-port", "0"]);
    expect(r.code).toBe(0);
    expect(r.out).toContain("limits off on an open WebSocket port: ws.maxConnsPerUser, ws.requestsPerSecond (0)");
    expect(r.out).toContain("every address is exempt from the per-address limits");
    expect(r.out).toContain("/metrics on 0.0.0.0 answers without a token");
    expect(r.out).toContain("is plain ws://");
    expect(r.out).toMatch(/schema version 0: it will be migrated to \d+ at start/);
  });

  test("a data dir that cannot be written: exit 2", async () => {
    writeFileSync(join(tmp, "a-file"), "");
    const r = await doctor(["--data-dir", join(tmp, "a-file", "data"), "--ws-port", "0", "--rpc-port", "0", "--admin-port", "0"]);
    expect(r.code).toBe(2);
    expect(r.out).toContain("is not writable");
  });

  test("cluster: Redis reachable is ok, unreachable is exit 1", async () => {
    const common = ["--data-dir", join(tmp, "cl"), "--ws-port", "0", "--rpc-port", "0", "--admin-port", "0"];
    expect((await doctor([...common, "--redis", redis.url])).code).toBe(0);
    const down = await doctor([...common, "--redis", `redis://127.0.0.1:${await freePort()}`]);
    expect(down.code).toBe(1);
    expect(down.out).toContain("ECONNREFUSED");
  });
});
