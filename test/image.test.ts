// `npm run image` built and run with podman (skipped with a message where podman is absent; CI installs it): the
// image answers /healthz from the host, a client connects and sends, the process runs as uid 10001, /data holds the
// secret and the store, and `podman stop` drains it (the client gets 1012) and the container exits 0.
import { afterAll, describe, expect, test } from "bun:test";
import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildImage, containerEngine, sharedLibraries } from "../scripts/image.js";
import { compile } from "../build.js";
import { signToken } from "../src/backend/embedded/jwt.js";
import { connect } from "./support/client.js";
import { textMsg } from "./support/pb.js";
import { freePort, waitHttp } from "./support/proc.js";

const podman = containerEngine("podman");
const dir = mkdtempSync(join(tmpdir(), "imgate-image-test-"));
const name = `imgate-test-${process.pid}`;
const tag = `imgate-test:${process.pid}`;
// Rootful podman in a container without systemd or ulimit rights: runc, and no default ulimits.
const conf = join(dir, "containers.conf");
writeFileSync(conf, '[containers]\ndefault_ulimits = []\n\n[engine]\nruntime = "runc"\n');
const env = { ...process.env, CONTAINERS_CONF: conf } as Record<string, string>;
const run = (...args: string[]) => {
  const r = Bun.spawnSync([podman!, ...args], { env });
  return { code: r.exitCode, out: r.stdout.toString().trim(), err: r.stderr.toString().trim() };
};

afterAll(() => {
  if (podman) {
    run("rm", "-f", name);
    run("rmi", "-f", tag);
  }
  rmSync(dir, { recursive: true, force: true });
});

describe("the OCI image", () => {
  test("the context holds the binary's shared libraries as ldd lists them", () => {
    const libs = sharedLibraries(process.execPath);
    expect(libs.some((l) => /libc\.so/.test(l))).toBe(true);
    expect(libs.some((l) => /ld-linux/.test(l))).toBe(true);
  });

  test("runs from scratch as non-root, serves, stores in /data and drains on podman stop", async () => {
    if (!podman) return void console.warn("podman not installed (apt-get install podman runc): image not built");
    const binary = join(dir, "imgate");
    compile({ outfile: binary, target: "bun-linux-x64" });
    const built = buildImage({ tag, binary, engine: podman, env: { CONTAINERS_CONF: conf } });
    console.log(`[image] ${tag}: ${(built.bytes / 1e6).toFixed(0)} MB`);
    expect(built.bytes).toBeGreaterThan(0);
    // Nothing in it but what the Containerfile puts there: no shell, no package manager.
    expect(run("run", "--rm", "--entrypoint", "/bin/sh", tag, "-c", "true").code).not.toBe(0);

    const data = join(dir, "data");
    mkdirSync(data, { mode: 0o700 });
    chownSync(data, 10001, 10001);
    const [ws, rpc, admin] = [await freePort(), await freePort(), await freePort()];
    const started = run("run", "-d", "--name", name, "--network", "host", "-v", `${data}:/data`,
      "-e", `IMGATE_WS_PORT=${ws}`, "-e", `IMGATE_RPC_PORT=${rpc}`, "-e", `IMGATE_ADMIN_PORT=${admin}`, tag);
    expect(started.err).toBe("");
    expect(started.code).toBe(0);
    await waitHttp(`http://127.0.0.1:${admin}/healthz`, 20_000);

    const pid = Number(run("inspect", "--format", "{{.State.Pid}}", name).out);
    expect(readFileSync(`/proc/${pid}/status`, "utf8")).toMatch(/^Uid:\s+10001\s+10001/m);
    for (const f of ["secret", "admin-token", "imgate.db"]) expect(existsSync(join(data, f))).toBe(true);

    const secret = readFileSync(join(data, "secret"), "utf8").trim();
    const c = await connect({ port: ws, userID: "img", platformID: 5, token: signToken(secret, "img", 5, 600), sdkType: "js", isMsgResp: true });
    expect((await c.request(1003, textMsg("img", "box", "from the host"))).errCode).toBe(0);
    // The CLI inside the image works on the same data dir.
    expect(run("exec", name, "imgate", "token", "-u", "x", "-p", "5").out.split(".").length).toBe(3);

    const stop = run("stop", name);
    expect(stop.code).toBe(0);
    expect((await c.closed).code).toBe(1012);
    expect(run("inspect", "--format", "{{.State.ExitCode}}", name).out).toBe("0");
    expect(run("logs", name).err + run("logs", name).out).toContain('"msg":"stopped"');
  }, 240_000);
});
