// Live reload: a changed file applies to a running node without closing anyone (log level, a rate limit, webhooks,
// rpc.token, the policy); what cannot change live is named and left as it was; an invalid file is refused as a whole
// and the running config stays. SIGHUP and `imgate reload` on a real process, with their exit codes.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { loadConfig } from "../src/config/load.js";
import { planReload } from "../src/config/reload.js";
import { defaultConfig } from "../src/config/schema.js";
import { GetMaxSeqReqSchema } from "../src/gen/openim/sdkws/sdkws_pb.js";
import { startNode } from "../src/node.js";
import { createLogger } from "../src/observe/log.js";
import { signToken } from "../src/backend/embedded/jwt.js";
import { SECRET } from "./support/node.js";
import { connect, until } from "./support/client.js";
import { runCliAsync, serveProcess } from "./support/proc.js";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const freshDir = () => {
  const d = mkdtempSync(join(tmpdir(), "imgate-reload-"));
  dirs.push(d);
  return d;
};
const maxSeqReq = (u: string) => toBinary(GetMaxSeqReqSchema, create(GetMaxSeqReqSchema, { userID: u }));

test("the plan: live keys apply, keys bound at start are named with why", () => {
  const a = defaultConfig();
  const b = defaultConfig();
  b.log.level = "debug";
  b.ws.requestsPerSecond = 5;
  b.webhooks.url = "http://127.0.0.1:1/cb";
  b.ws.port = 10099;
  b.ws.tlsCert = "/x.pem";
  b.dataDir = "/elsewhere";
  const plan = planReload(a, b);
  expect(plan.live.sort()).toEqual(["log.level", "webhooks.url", "ws.requestsPerSecond"]);
  expect(plan.restart.map((r) => r.key).sort()).toEqual(["dataDir", "ws.port", "ws.tlsCert"]);
  expect(plan.restart.find((r) => r.key === "ws.tlsCert")!.why).toContain("oven-sh/bun#43815");
});

/** A node on a config file of its own (written with `yaml`), which its reload re-reads; logs are silent. */
async function nodeOnFile(yaml: string) {
  const dir = freshDir();
  const file = join(dir, "imgate.yml");
  writeFileSync(file, yaml);
  const flags = { "ws.host": "127.0.0.1", "ws.port": 0, "rpc.port": 0, "admin.port": 0, dataDir: dir, secret: SECRET };
  const silent = createLogger({ level: "error", format: "json", write: () => {} });
  const node = await startNode(loadConfig({ file, flags }), silent, SECRET, { reloadConfig: () => loadConfig({ file, flags }) });
  return { dir, file, node };
}

describe("a running node", () => {
  test("a reload changes the log level and a rate limit while clients stay connected; an invalid file changes nothing", async () => {
    const dir = freshDir();
    const file = join(dir, "imgate.yml");
    writeFileSync(file, "log:\n  level: info\n");
    const flags = { "ws.host": "127.0.0.1", "ws.port": 0, "rpc.port": 0, "admin.port": 0, dataDir: dir, secret: SECRET };
    const lines: string[] = [];
    const log = createLogger({ level: "info", format: "json", write: (l) => lines.push(l) });
    const node = await startNode(loadConfig({ file, flags }), log, SECRET, { reloadConfig: () => loadConfig({ file, flags }) });
    try {
      const c = await connect({ port: node.ports.ws, userID: "r1", platformID: 5, token: signToken(SECRET, "r1", 5, 3600), sdkType: "js" });
      const burst = async () => (await Promise.all(Array.from({ length: 12 }, () => c.request(1001, maxSeqReq("r1"))))).map((r) => r.errCode);
      expect((await burst()).every((code) => code === 0)).toBe(true);
      expect(lines.some((l) => l.includes('"level":"debug"'))).toBe(false);

      // Rate 3: a burst of 6, then 6 refusals answered (a client going on past those would be closed).
      writeFileSync(file, "log:\n  level: debug\nws:\n  requestsPerSecond: 3\npresence:\n  shards: 8\n");
      const r = await node.reload();
      expect(r.changed.sort()).toEqual(["log.level", "ws.requestsPerSecond"]);
      expect(r.needsRestart).toEqual([{ key: "presence.shards", why: "bound at start" }]);
      expect(lines.some((l) => l.includes('"msg":"config reloaded"') && l.includes("ws.requestsPerSecond"))).toBe(true);
      // The existing connection is limited now (answered 1650, not closed); a new one logs at debug.
      const codes = await burst();
      expect(codes.filter((x) => x === 1650).length).toBeGreaterThan(0);
      const c2 = await connect({ port: node.ports.ws, userID: "r2", platformID: 5, token: signToken(SECRET, "r2", 5, 3600), sdkType: "js" });
      await until(() => lines.some((l) => l.includes('"level":"debug"') && l.includes('"msg":"connected"')), 2000, "a debug line");

      writeFileSync(file, "log:\n  level: loud\nws:\n  requestsPerSecond: 1000\n");
      const refused = await node.reload().then(() => undefined, (e: Error) => e.message);
      expect(refused).toContain('"log.level"');
      expect(node.config.log.level).toBe("debug");
      expect(node.config.ws.requestsPerSecond).toBe(3);
      // Nobody was closed by any of it.
      expect([c.frames.some((f) => f.reqIdentifier === 2002), c2.frames.length >= 0]).toEqual([false, true]);
      expect(node.registry.connections).toBe(2);
      const metrics = await (await fetch(`http://127.0.0.1:${node.ports.admin}/metrics`)).text();
      expect(metrics).toContain('imgate_config_reloads_total{result="partial"} 1');
      expect(metrics).toContain('imgate_config_reloads_total{result="invalid"} 1');
      c.close();
      c2.close();
    } finally {
      await node.stop();
    }
  });

  test("a reload is checked whole before anything applies: TLS switched on is refused, the log level stays", async () => {
    const { dir, file, node } = await nodeOnFile("log:\n  level: info\n");
    try {
      const [cert, key] = [join(dir, "c.pem"), join(dir, "k.pem")];
      const made = Bun.spawnSync(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1",
        "-subj", "/CN=127.0.0.1"], { stdout: "ignore", stderr: "pipe" });
      expect(made.exitCode).toBe(0);
      writeFileSync(file, `log:\n  level: debug\nrpc:\n  tlsCert: ${cert}\n  tlsKey: ${key}\n`);
      const refused = await node.reload().then(() => undefined, (e: Error) => e.message);
      expect(refused).toContain("takes a restart");
      // Nothing of the refused file was applied (the log level came before the TLS key in the old order).
      expect(node.config.log.level).toBe("info");
      expect(node.config.rpc.tlsCert).toBe("");
    } finally {
      await node.stop();
    }
  });

  test("rpc.token, webhooks and the multi-login policy apply at once", async () => {
    const { dir, file, node } = await nodeOnFile("multiLogin:\n  policy: 1\n");
    const hits: string[] = [];
    const hook = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: async (req) => (hits.push(new URL(req.url).pathname), Response.json({ actionCode: 0 })) });
    try {
      const stats = (token?: string) =>
        fetch(`http://127.0.0.1:${node.ports.rpc}/imgate.admin.v1.Admin/Stats`, {
          method: "POST", headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: "{}",
        }).then((r) => r.status);
      // The generated admin token until rpc.token is set; then that one.
      const generated = readFileSync(join(dir, "admin-token"), "utf8").trim();
      expect([await stats(), await stats(generated)]).toEqual([401, 200]);
      writeFileSync(file, `multiLogin:\n  policy: 1\nrpc:\n  token: s3cret\nwebhooks:\n  url: http://127.0.0.1:${hook.port}/cb\n  afterUserOnline: { enable: true, timeout: 5 }\n`);
      await node.reload();
      expect([await stats(), await stats("s3cret")]).toEqual([401, 200]);
      const c = await connect({ port: node.ports.ws, userID: "r3", platformID: 5, token: signToken(SECRET, "r3", 5, 3600), sdkType: "js" });
      await until(() => hits.includes("/cb/callbackAfterUserOnlineCommand"), 4000, "the webhook named by the reload");
      c.close();
    } finally {
      hook.stop(true);
      await node.stop();
    }
  });
});

test("SIGHUP and `imgate reload` on a real process; an invalid file: exit 2 with config check's message", async () => {
  const dir = freshDir();
  const file = join(dir, "imgate.yml");
  writeFileSync(file, "log:\n  level: info\n");
  const s = await serveProcess(dir, ["--config", file]);
  try {
    const rpc = ["--rpc", `127.0.0.1:${s.rpc}`, "--data-dir", dir];
    writeFileSync(file, "log:\n  level: debug\n");
    s.proc.kill("SIGHUP");
    await until(() => s.output().includes('"msg":"config reloaded"'), 5000, "the SIGHUP reload");
    writeFileSync(file, "log:\n  level: warn\nws:\n  maxFrameBytes: 60000\n");
    const ok = await runCliAsync(["reload", ...rpc, "--config", file]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain("applied: log.level");
    expect(ok.stdout).toContain("needs a restart (kept as it was): ws.maxFrameBytes");
    writeFileSync(file, "log:\n  level: 7\n");
    // Refused by the gateway (the CLI is given only the address), and by the CLI itself when it reads the file too.
    const bad = await runCliAsync(["reload", ...rpc]);
    const local = await runCliAsync(["reload", ...rpc, "--config", file]);
    const check = await runCliAsync(["config", "check", file]);
    expect([bad.code, local.code, check.code]).toEqual([2, 2, 2]);
    expect(bad.stderr).toContain('key "log.level"');
    expect(bad.stderr).toContain("must be a string, got an integer");
    expect(bad.stderr).toContain("the running one stays");
    expect(check.stderr).toContain("must be a string, got an integer");
    expect(s.proc.exitCode).toBeNull();
  } finally {
    s.proc.kill("SIGTERM");
    await s.proc.exited;
  }
});
