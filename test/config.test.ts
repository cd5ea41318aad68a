import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, envName, loadConfig, maskedConfig } from "../src/config/load.js";
import { resolveSecret } from "../src/config/secret.js";
import { defaultConfig } from "../src/config/schema.js";

const dir = mkdtempSync(join(tmpdir(), "imgate-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

describe("config precedence", () => {
  test("defaults", () => {
    const c = loadConfig();
    expect(c.ws.port).toBe(10001);
    expect(c.ws.host).toBe("0.0.0.0");
    expect(c.rpc).toMatchObject({ host: "127.0.0.1", port: 10140 });
    expect(c.admin).toMatchObject({ host: "127.0.0.1", port: 12140 });
    expect(c.dataDir).toBe("./imgate-data");
    expect(c.ws.maxFrameBytes).toBe(51200);
  });

  test("file < env < flags", () => {
    const f = file("p.yml", "ws:\n  port: 1111\n  maxConnections: 5\nlog:\n  level: warn\n");
    const c = loadConfig({
      file: f,
      env: { IMGATE_WS_PORT: "2222", IMGATE_LOG_LEVEL: "debug", PATH: "/bin" },
      flags: { "ws.port": "3333" },
    });
    expect(c.ws.port).toBe(3333);
    expect(c.log.level).toBe("debug");
    expect(c.ws.maxConnections).toBe(5);
  });

  test("OpenIM key names are accepted", () => {
    const f = file("openim.yml", [
      "longConnSvr:", "  ports: [10002]", "  websocketMaxConnNum: 777", "  websocketMaxMsgLen: 8192", "  websocketTimeout: 3",
      "multiLogin:", "  policy: 4", "  maxNumOneEnd: 30", "secret: openIM123", "imAdminUser:", "  userIDs: [imAdmin, boss]",
      "redis:", "  address: [localhost:16379]", "  password: openIM123", "  redisMode: standalone",
    ].join("\n"));
    const c = loadConfig({ file: f });
    expect(c.ws.port).toBe(10002);
    expect(c.ws.maxConnections).toBe(777);
    expect(c.ws.maxFrameBytes).toBe(8192);
    expect(c.ws.handshakeTimeoutSeconds).toBe(3);
    expect(c.multiLogin.policy).toBe(4);
    expect(c.secret).toBe("openIM123");
    expect(c.imAdminUser.userIDs).toEqual(["imAdmin", "boss"]);
    expect(c.redis.address).toEqual(["localhost:16379"]);
  });

  test("env names are derived from key paths", () => {
    expect(envName("ws.maxConnections")).toBe("IMGATE_WS_MAX_CONNECTIONS");
    expect(envName("rpc.allowOpenIMWithoutToken")).toBe("IMGATE_RPC_ALLOW_OPEN_IM_WITHOUT_TOKEN");
    expect(loadConfig({ env: { IMGATE_IM_ADMIN_USER_USER_IDS: "a, b" } }).imAdminUser.userIDs).toEqual(["a", "b"]);
  });
});

describe("config errors name the key and the file", () => {
  const bad: [string, string, RegExp][] = [
    ["unknown key", "ws:\n  prot: 1\n", /unknown key "ws\.prot" in .*bad0\.yml/],
    ["wrong type", "ws:\n  port: ten\n", /key "ws\.port" in .*bad1\.yml must be an integer, got a string/],
    ["out of range", "ws:\n  port: 70000\n", /key "ws\.port" in .*bad2\.yml must be a port number/],
    ["bad policy", "multiLogin:\n  policy: 2\n", /must be one of 0, 1, 4, 5/],
    ["mapping where a value belongs", "secret:\n  a: 1\n", /key "secret" in .*bad4\.yml must be a string, got a mapping/],
    ["not YAML", "ws: [\n", /is not valid YAML/],
    ["same port twice", "ws:\n  port: 5000\nrpc:\n  port: 5000\n", /ws\.port and rpc\.port are both 5000/],
  ];
  bad.forEach(([name, text, re], i) => {
    test(name, () => {
      const f = file(`bad${i}.yml`, text);
      expect(() => loadConfig({ file: f })).toThrow(re);
    });
  });

  test("a missing file", () => {
    expect(() => loadConfig({ file: join(dir, "nope.yml") })).toThrow(/cannot read config file .*nope\.yml: ENOENT/);
  });

  test("unknown and malformed environment variables", () => {
    expect(() => loadConfig({ env: { IMGATE_WS_PROT: "1" } })).toThrow("unknown environment variable IMGATE_WS_PROT");
    expect(() => loadConfig({ env: { IMGATE_WS_PORT: "12x" } })).toThrow('environment variable IMGATE_WS_PORT must be an integer, got "12x"');
    expect(() => loadConfig({ env: { IMGATE_RPC_ALLOW_OPEN_IM_WITHOUT_TOKEN: "maybe" } })).toThrow("must be true or false");
  });

  test("errors are ConfigErrors", () => {
    expect(() => loadConfig({ flags: { "ws.port": "-1" } })).toThrow(ConfigError);
  });
});

describe("secrets", () => {
  test("masked when printed", () => {
    const c = loadConfig({ flags: { secret: "s3cret", "rpc.token": "t0ken", "redis.url": "redis://user:pw@h:6379/0" } });
    const m = maskedConfig(c);
    expect(m.secret).toBe("***");
    expect(m.rpc.token).toBe("***");
    expect(m.redis.url).toBe("redis://***@h:6379/0");
    expect(c.secret).toBe("s3cret");
  });

  test("generated once with mode 0600 and reused", () => {
    const cfg = { ...defaultConfig(), dataDir: join(dir, "data") };
    expect(() => resolveSecret(cfg, false)).toThrow("no secret configured");
    const a = resolveSecret(cfg, true);
    expect(a.created).toBe(true);
    const { statSync } = require("node:fs");
    expect(statSync(join(cfg.dataDir, "secret")).mode & 0o777).toBe(0o600);
    const b = resolveSecret(cfg, false);
    expect(b.secret).toBe(a.secret);
    expect(b.created).toBe(false);
  });
});

describe("shape", () => {
  test("Redis alone means cluster; an explicit shape wins", () => {
    expect(loadConfig().shape).toBe("embedded");
    expect(loadConfig({ flags: { "redis.url": "redis://127.0.0.1:6379" } }).shape).toBe("cluster");
    expect(loadConfig({ flags: { "redis.url": "redis://127.0.0.1:6379", shape: "embedded" } }).shape).toBe("embedded");
    expect(() => loadConfig({ flags: { shape: "cluster" } })).toThrow('shape "cluster" needs redis.url');
  });
});

test("Redis is configured by one rule: sentinel addresses count only in sentinel mode", async () => {
  const { redisConfigured } = await import("../src/config/load.js");
  const standalone = loadConfig({ flags: { "redis.sentinelMode.sentinelsAddrs": ["127.0.0.1:26379"] } });
  expect([standalone.shape, redisConfigured(standalone)]).toEqual(["embedded", false]);
  const sentinel = loadConfig({ flags: { "redis.redisMode": "sentinel", "redis.sentinelMode.masterName": "m", "redis.sentinelMode.sentinelsAddrs": ["127.0.0.1:26379"] } });
  expect([sentinel.shape, redisConfigured(sentinel)]).toEqual(["cluster", true]);
});

describe("deploy/imgate.yml, the annotated reference", () => {
  test("lists every key with its default (and nothing else), so it cannot drift from the schema", async () => {
    const { parse } = await import("yaml");
    const { readFileSync } = await import("node:fs");
    const { keys } = await import("../src/config/schema.js");
    const doc = parse(readFileSync(new URL("../deploy/imgate.yml", import.meta.url), "utf8"));
    const get = (o: any, p: string) => p.split(".").reduce((a, k) => (a == null ? undefined : a[k]), o);
    // Where the reference shows a deployment value on purpose.
    const deployed: Record<string, unknown> = { dataDir: "/var/lib/imgate" };
    const d = defaultConfig();
    const wrong = keys
      .map((k) => ({ path: k.path, file: get(doc, k.path), want: k.path in deployed ? deployed[k.path] : get(d, k.path) }))
      .filter((x) => JSON.stringify(x.file) !== JSON.stringify(x.want));
    expect(wrong).toEqual([]);
    // And every key the file has is a key of the schema (config check would refuse it otherwise).
    expect(() => loadConfig({ file: new URL("../deploy/imgate.yml", import.meta.url).pathname })).not.toThrow();
  });
});
