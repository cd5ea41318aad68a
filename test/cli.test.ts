// The CLI as an operator uses it: exit codes, one-line errors, and commands against a live gateway.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { verifyToken } from "../src/backend/embedded/jwt.js";
import { VERSION } from "../src/version.js";
import { connect, until } from "./support/client.js";
import { freePort, runCli, serveProcess } from "./support/proc.js";

const dir = mkdtempSync(join(tmpdir(), "imgate-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("exit codes", () => {
  test("--version and version --json name the version, the commit and the build date", () => {
    const r = runCli(["--version"]);
    expect(r.code).toBe(0);
    // From source: no commit or date baked in (test/release.test.ts checks a built binary's).
    expect(r.stdout.trim()).toStartWith(`${VERSION} (commit source, bun `);
    const j = runCli(["version", "--json"]);
    expect(j.code).toBe(0);
    expect(JSON.parse(j.stdout)).toMatchObject({ version: VERSION, commit: "source", buildDate: "", platform: `${process.platform}-${process.arch}` });
  });

  test("--help everywhere", () => {
    for (const args of [["--help"], ["serve", "--help"], ["token", "--help"], ["kick", "--help"], ["config", "check", "--help"]]) {
      const r = runCli(args);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("Usage: imgate");
    }
  });

  test("usage errors exit 2", () => {
    expect(runCli(["frobnicate"]).code).toBe(2);
    expect(runCli(["token", "--platform", "1"]).code).toBe(2);
    const r = runCli(["token", "--user", "u", "--platform", "12", "--secret", "s"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('imgate: --platform must be 1..11, got "12"\n');
  });

  test("bad config exits 2 with one line naming the cause", () => {
    const f = join(dir, "bad.yml");
    writeFileSync(f, "ws:\n  port: 10001\n  bogus: true\n");
    const r = runCli(["config", "check", f]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n")).toEqual([`imgate: config: unknown key "ws.bogus" in ${f}`]);
    const s = runCli(["serve", "--config", f]);
    expect(s.code).toBe(2);
    expect(s.stderr.trim().split("\n").length).toBe(1);
  });

  test("the openim shape needs the addresses of OpenIM's services", () => {
    const r = runCli(["serve", "--shape", "openim", "--data-dir", join(dir, "oi")]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`imgate: config: shape "openim" needs openim.auth (host:port of OpenIM's auth service) or discovery.enable: etcd (discovery.yml enable: etcd)\n`);
  });

  test("config check and print", () => {
    const f = join(dir, "good.yml");
    writeFileSync(f, "secret: hush\nws:\n  port: 10005\n");
    expect(runCli(["config", "check", f])).toMatchObject({ code: 0, stdout: `${f}: ok\n` });
    const p = runCli(["config", "print", "--config", f]);
    expect(p.code).toBe(0);
    expect(p.stdout).toContain("port: 10005");
    expect(p.stdout).toContain('secret: "***"');
    expect(p.stdout).not.toContain("hush");
  });

  test("token prints a verifiable OpenIM token", () => {
    const r = runCli(["token", "--user", "alice", "--platform", "2", "--secret", "k", "--ttl-days", "1"]);
    expect(r.code).toBe(0);
    const claims = verifyToken("k", r.stdout.trim());
    expect(claims).toMatchObject({ UserID: "alice", PlatformID: 2 });
    expect(claims.exp - claims.iat).toBe(86400 + 5);
  });

  test("token without any secret is a runtime error", () => {
    const r = runCli(["token", "--user", "a", "--platform", "1", "--data-dir", join(dir, "empty")]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("no secret configured");
  });

  test("an unreachable gateway is one line and exit 1", async () => {
    const port = await freePort();
    for (const args of [["stats"], ["online"], ["kick", "--user", "u"], ["group", "show"]]) {
      const r = runCli([...args, "--rpc", `127.0.0.1:${port}`]);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`imgate: gateway not reachable at 127.0.0.1:${port} (is \`imgate serve\` running?)\n`);
    }
  });
});

describe("serve", () => {
  test("starts, serves sockets, answers the CLI, exits 0 on SIGTERM", async () => {
    const data = join(dir, "serve1");
    const s = await serveProcess(data, []);
    expect((await fetch(`http://127.0.0.1:${s.admin}/readyz`)).status).toBe(200);
    // `token` reads the secret `serve` generated in the data dir.
    const tok = runCli(["token", "--user", "u1", "--platform", "1", "--data-dir", data]).stdout.trim();
    const c = await connect({ port: s.ws, userID: "u1", platformID: 1, token: tok });
    const c2 = await connect({ port: s.ws, userID: "u1", platformID: 5, token: runCli(["token", "-u", "u1", "-p", "5", "--data-dir", data]).stdout.trim() });
    // The CLI finds the admin token in the data dir, as it finds the secret.
    const rpc = ["--rpc", `127.0.0.1:${s.rpc}`, "--data-dir", data];

    const stats = JSON.parse(runCli(["stats", "--json", ...rpc]).stdout);
    expect(stats.connections).toBe(2);
    expect(stats.users).toBe(1);
    expect(stats.platforms.find((p: any) => p.platformID === 1).connections).toBe(1);
    expect(runCli(["stats", ...rpc]).stdout).toMatch(/connections\s+2/);

    const online = JSON.parse(runCli(["online", "--json", ...rpc]).stdout);
    expect(online.map((x: any) => x.platformID).sort()).toEqual([1, 5]);
    expect(runCli(["online", ...rpc]).stdout).toContain("1 IOS");

    const k = runCli(["kick", "--user", "u1", "--platform", "5", ...rpc]);
    expect(k).toMatchObject({ code: 0, stdout: "kicked 1 connection(s) of u1\n" });
    const kicked = await c2.nextPush(2002);
    expect(kicked.reqIdentifier).toBe(2002);
    await c2.closed;

    expect(runCli(["group", "set", "g1", "u1", "u2", ...rpc]).code).toBe(0);
    expect(runCli(["group", "show", "g1", ...rpc]).stdout).toBe("g1: u1 u2\n");

    s.proc.kill("SIGTERM");
    expect(await s.proc.exited).toBe(0);
    // Clients are told to reconnect elsewhere.
    expect((await c.closed).code).toBe(1012);
  });

  test("imgate drain: clients get 1012 and the server exits 0", async () => {
    const data = join(dir, "drain");
    const s = await serveProcess(data);
    const c = await connect({ port: s.ws, userID: "dr", platformID: 2, token: runCli(["token", "-u", "dr", "-p", "2", "--data-dir", data]).stdout.trim() });
    const r = runCli(["drain", "--rpc", `127.0.0.1:${s.rpc}`, "--data-dir", data]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("draining 1 connection(s); the gateway exits when done");
    expect((await c.closed).code).toBe(1012);
    expect(await s.proc.exited).toBe(0);
  });

  test("a port in use exits 1 with one line", async () => {
    const data = join(dir, "serve2");
    const s = await serveProcess(data);
    const r = runCli(["serve", "--ws-port", String(s.ws), "--rpc-port", String(await freePort()), "--admin-port", String(await freePort()),
      "--host", "127.0.0.1", "--data-dir", join(dir, "serve3")]);
    s.proc.kill("SIGTERM");
    await s.proc.exited;
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split("\n");
    expect(lines.length).toBe(1);
    expect(lines[0]).toContain("address in use");
  });
});
