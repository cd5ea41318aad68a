// `serve --workers N`: N cluster nodes sharing the ports, supervised by the parent.
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { signToken } from "../src/backend/embedded/jwt.js";
import { connect, until } from "./support/client.js";
import { BUN, CLI, alive, childWith, descendants, freePort, freePortRun, killAll, runCli, waitHttp } from "./support/proc.js";
import { redisCli, startRedis } from "./support/redis.js";

const dir = mkdtempSync(join(tmpdir(), "imgate-workers-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("--workers above 1 without Redis is refused with the reason", () => {
  const r = runCli(["serve", "--workers", "2", "--data-dir", dir]);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain("--workers above 1 needs Redis");
});

test("two workers share the ports; a crashed or hung worker is replaced; SIGTERM drains them all", async () => {
  const redis = await startRedis();
  // admin and admin + 1 (worker 1's admin port) must both be free, and differ from ws and rpc.
  const admin = await freePortRun(2);
  let [ws, rpc] = [await freePort(), await freePort()];
  while ([admin, admin + 1].includes(ws)) ws = await freePort();
  while ([admin, admin + 1, ws].includes(rpc)) rpc = await freePort();
  const sup = Bun.spawn([BUN, CLI, "serve", "--workers", "2", "--redis", redis.url, "--node-id", "box", "--host", "127.0.0.1", "--ws-port", String(ws),
    "--rpc-port", String(rpc), "--admin-port", String(admin), "--secret", "w", "--log-level", "warn", "--log-format", "json"], {
    cwd: dir, env: { ...process.env, IMGATE_CONFIG: "" }, stdout: "ignore", stderr: "ignore",
  });
  let workers: number[] = [];
  try {
    await waitHttp(`http://127.0.0.1:${admin}/healthz`);
    await waitHttp(`http://127.0.0.1:${admin + 1}/healthz`);
    await until(() => redisCli(redis.port, "ZCARD", "imgate:nodes") === "2", 10_000, "two nodes registered");
    expect(redisCli(redis.port, "ZRANGE", "imgate:nodes", "0", "-1").split("\n").sort()).toEqual(["box-w0", "box-w1"]);
    // Many connections on the one public port land on both workers.
    const clients = await Promise.all(Array.from({ length: 24 }, (_, i) =>
      connect({ port: ws, userID: `wu${i}`, platformID: 5, token: signToken("w", `wu${i}`, 5, 3600), sdkType: "js" })));
    await until(() => Number(redisCli(redis.port, "SCARD", "imgate:nodeusers:box-w0")) + Number(redisCli(redis.port, "SCARD", "imgate:nodeusers:box-w1")) === 24, 5000, "routes");
    expect(Number(redisCli(redis.port, "SCARD", "imgate:nodeusers:box-w0"))).toBeGreaterThan(0);
    expect(Number(redisCli(redis.port, "SCARD", "imgate:nodeusers:box-w1"))).toBeGreaterThan(0);
    for (const c of clients) c.close();

    // Kill worker 1: the supervisor starts it again.
    const workerPid = childWith(sup.pid, "--node-id box-w1")!;
    expect(workerPid).toBeGreaterThan(0);
    process.kill(workerPid, "SIGKILL");
    await until(() => (childWith(sup.pid, "--node-id box-w1") ?? workerPid) !== workerPid, 10_000, "worker 1 restarted");
    await waitHttp(`http://127.0.0.1:${admin + 1}/healthz`);

    // Hang worker 0 (SIGSTOP: alive, answering nothing): without systemd too, the supervisor's /healthz watchdog
    // kills it after three missed probes and starts another.
    const hung = childWith(sup.pid, "--node-id box-w0")!;
    process.kill(hung, "SIGSTOP");
    await until(() => (childWith(sup.pid, "--node-id box-w0") ?? hung) !== hung, 30_000, "the hung worker replaced");
    await waitHttp(`http://127.0.0.1:${admin}/healthz`);

    workers = descendants(sup.pid);
    expect(workers.length).toBeGreaterThanOrEqual(2);
    sup.kill("SIGTERM");
    expect(await sup.exited).toBe(0);
    // The supervisor stops its workers: none of the ones it had is left.
    await until(() => workers.every((p) => !alive(p)), 5000, "the workers to exit");
  } finally {
    sup.kill("SIGKILL");
    killAll(workers);
    await redis.stop();
  }
}, 60_000);
