// The compiled single binary, copied alone into an empty directory, runs without bun or node_modules and
// ignores .env and bunfig.toml in its working directory.
import { afterAll, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, until } from "./support/client.js";
import { bindNotifySocket } from "./support/notify-socket.js";
import { textMsg } from "./support/pb.js";
import { freePort, serveProcess } from "./support/proc.js";

const dir = mkdtempSync(join(tmpdir(), "imgate-bin-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("build, copy alone, run --version, token and serve", async () => {
  const built = join(dir, "build", "imgate");
  const b = Bun.spawnSync([process.execPath, "build.ts", "--outfile", built], { cwd: new URL("..", import.meta.url).pathname, stdout: "pipe", stderr: "pipe" });
  // Each step's output goes into the failure, so a failure in CI says which step and why.
  expect({ exit: b.exitCode, stderr: b.exitCode ? b.stderr.toString() : "" }).toEqual({ exit: 0, stderr: "" });
  const run = join(dir, "run");
  mkdirSync(run);
  const bin = join(run, "imgate");
  copyFileSync(built, bin);
  Bun.spawnSync(["chmod", "+x", bin]);
  // Traps: if the binary read these, serve would try port 1 and tests would see bunfig's preload fail.
  writeFileSync(join(run, ".env"), "IMGATE_WS_PORT=1\nIMGATE_LOG_LEVEL=bogus\n");
  writeFileSync(join(run, "bunfig.toml"), 'preload = ["./missing.ts"]\n');
  const env = { PATH: "/usr/bin:/bin", HOME: run };

  const v = Bun.spawnSync([bin, "--version"], { cwd: run, env });
  expect({ exit: v.exitCode, stderr: v.exitCode ? v.stderr.toString() : "" }).toEqual({ exit: 0, stderr: "" });
  expect(v.stdout.toString().trim()).toMatch(/^\d+\.\d+\.\d+/);

  const t = Bun.spawnSync([bin, "token", "-u", "x", "-p", "3", "--secret", "k"], { cwd: run, env });
  expect({ exit: t.exitCode, stderr: t.exitCode ? t.stderr.toString() : "" }).toEqual({ exit: 0, stderr: "" });
  expect(t.stdout.toString().split(".").length).toBe(3);

  const s = await serveProcess(join(run, "data"), [], [bin], run);
  const issued = Bun.spawnSync([bin, "token", "-u", "u", "-p", "5", "--data-dir", join(run, "data")], { cwd: run, env });
  expect({ exit: issued.exitCode, stderr: issued.exitCode ? issued.stderr.toString() : "" }).toEqual({ exit: 0, stderr: "" });
  const tok = issued.stdout.toString().trim();
  const c = await connect({ port: s.ws, userID: "u", platformID: 5, token: tok, sdkType: "js", isMsgResp: true });
  expect((await c.request(1001)).errCode).toBe(0);
  // A send commits on the store worker, which travels inside the binary as its second entrypoint.
  expect((await c.request(1003, textMsg("u", "v", "from the binary"))).errCode).toBe(0);
  // The dashboard and metrics come from inside the binary: no files beside it.
  const adminToken = readFileSync(join(run, "data", "admin-token"), "utf8").trim();
  const page = await fetch(`http://127.0.0.1:${s.admin}/?token=${adminToken}`);
  expect(page.status).toBe(200);
  expect(await page.text()).toContain("<title>imgate dashboard</title>");
  const metrics = await (await fetch(`http://127.0.0.1:${s.admin}/metrics`)).text();
  expect(metrics).toContain("online_user_num 1");
  s.proc.kill("SIGTERM");
  const code = await s.proc.exited;
  expect({ exit: code, output: code ? s.output() : "" }).toEqual({ exit: 0, output: "" });

  // systemd's notify protocol goes through libc (bun:ffi) from inside the binary too.
  const sock = bindNotifySocket(join(dir, "notify.sock"));
  try {
    const [ws, rpc, admin] = [await freePort(), await freePort(), await freePort()];
    const p = Bun.spawn([bin, "serve", "--host", "127.0.0.1", "--ws-port", String(ws), "--rpc-port", String(rpc), "--admin-port", String(admin),
      "--data-dir", join(run, "data")], { cwd: run, env: { ...env, NOTIFY_SOCKET: sock.path }, stdout: "ignore", stderr: "pipe" });
    await until(() => sock.lines().includes("READY=1"), 10_000, "READY=1 from the binary");
    p.kill("SIGTERM");
    const stopped = await p.exited;
    expect({ exit: stopped, stderr: stopped ? await new Response(p.stderr).text() : "" }).toEqual({ exit: 0, stderr: "" });
    await until(() => sock.lines().includes("STOPPING=1"), 2000, "STOPPING=1 from the binary");
  } finally {
    sock.close();
  }
}, 60_000);
