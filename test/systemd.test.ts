// Type=notify: the gateway tells systemd READY=1 once it listens and its backend is ready, RELOADING=1 / READY=1
// around a reload, STOPPING=1 when it drains, STATUS= lines, and WATCHDOG=1 from its event loop; all through the
// $NOTIFY_SOCKET datagram protocol, here received by a socket the test binds as systemd would.
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { until } from "./support/client.js";
import { bindNotifySocket } from "./support/notify-socket.js";
import { freePort, spawnImgate } from "./support/proc.js";

const dir = mkdtempSync(join(tmpdir(), "imgate-notify-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("READY=1 after the listeners, RELOADING=1/READY=1 around SIGHUP, WATCHDOG=1, STATUS=, STOPPING=1 on SIGTERM", async () => {
  const sock = bindNotifySocket(join(dir, "notify.sock"));
  const [ws, rpc, admin] = [await freePort(), await freePort(), await freePort()];
  const file = join(dir, "imgate.yml");
  writeFileSync(file, "log:\n  level: info\n");
  const p = spawnImgate(
    ["serve", "--config", file, "--host", "127.0.0.1", "--ws-port", String(ws), "--rpc-port", String(rpc), "--admin-port", String(admin),
      "--data-dir", join(dir, "data"), "--log-format", "json"],
    { NOTIFY_SOCKET: sock.path, WATCHDOG_USEC: "400000" },
  );
  try {
    await until(() => sock.lines().includes("READY=1"), 10_000, "READY=1");
    // By READY=1 the gateway answers: the admin port is up and ready.
    expect((await fetch(`http://127.0.0.1:${admin}/readyz`)).status).toBe(200);
    expect(sock.lines().some((l) => /^STATUS=serving 0 connections/.test(l))).toBe(true);
    expect(sock.lines()).toContain(`MAINPID=${p.proc.pid}`);
    await until(() => sock.lines().filter((l) => l === "WATCHDOG=1").length >= 2, 3000, "watchdog pings every WATCHDOG_USEC/2");

    writeFileSync(file, "log:\n  level: debug\n");
    const before = sock.messages.length;
    p.proc.kill("SIGHUP");
    await until(() => sock.messages.slice(before).some((m) => m.text.startsWith("READY=1")), 5000, "READY=1 after the reload");
    const reload = sock.messages.slice(before).map((m) => m.text).filter((t) => !t.startsWith("WATCHDOG") && !t.startsWith("STATUS"));
    expect(reload[0]).toMatch(/^RELOADING=1\nMONOTONIC_USEC=\d+$/);
    expect(reload[1]).toBe("READY=1");

    p.proc.kill("SIGTERM");
    expect(await p.proc.exited).toBe(0);
    await Bun.sleep(50);
    expect(sock.lines()).toContain("STOPPING=1");
  } finally {
    p.proc.kill("SIGKILL");
    sock.close();
  }
});

test("without NOTIFY_SOCKET nothing is sent and nothing fails", async () => {
  const p = spawnImgate(["serve", "--host", "127.0.0.1", "--ws-port", "0", "--rpc-port", "0", "--admin-port", "0", "--data-dir", join(dir, "data2"), "--log-format", "json"]);
  try {
    await p.waitFor(/imgate started/);
    p.proc.kill("SIGTERM");
    expect(await p.proc.exited).toBe(0);
    expect(p.output()).not.toContain("systemd notification failed");
  } finally {
    p.proc.kill("SIGKILL");
  }
});
