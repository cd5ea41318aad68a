// `npm run release` for the targets this machine can run: the arm64 binary under qemu-user (Debian's
// qemu-user-static, with libc6-arm64-cross's loader and libraries) answers /healthz and carries a 1003 round trip;
// the musl binary runs under Debian's musl loader; SHA256SUMS verifies with sha256sum; each binary names the version,
// the commit and the build date. What is not installed is skipped with a message (CI installs it).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { release, releaseName } from "../scripts/release.js";
import { VERSION } from "../src/version.js";
import { signToken } from "../src/backend/embedded/jwt.js";
import { connect } from "./support/client.js";
import { textMsg } from "./support/pb.js";
import { freePort, waitHttp } from "./support/proc.js";

const out = mkdtempSync(join(tmpdir(), "imgate-release-"));
const QEMU = Bun.which("qemu-aarch64-static") ?? Bun.which("qemu-aarch64");
const ARM64_SYSROOT = "/usr/aarch64-linux-gnu";
const MUSL_LOADER = "/lib/ld-musl-x86_64.so.1";
let built: { files: string[]; sums: string };
const commit = Bun.spawnSync(["git", "rev-parse", "--short=12", "HEAD"]).stdout.toString().trim();

beforeAll(() => {
  built = release({ targets: ["linux-arm64", "linux-x64-musl"], out });
}, 300_000);
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe("npm run release", () => {
  test("one binary per target, named by version and target, and SHA256SUMS that sha256sum verifies", () => {
    expect(built.files.map((f) => f.slice(out.length + 1))).toEqual([releaseName("linux-arm64"), releaseName("linux-x64-musl")]);
    expect(readdirSync(out).sort()).toEqual(["SHA256SUMS", releaseName("linux-arm64"), releaseName("linux-x64-musl")].sort());
    expect(releaseName("linux-arm64")).toBe(`imgate-${VERSION}-linux-arm64`);
    const check = Bun.spawnSync(["sha256sum", "-c", "SHA256SUMS"], { cwd: out });
    expect(check.exitCode).toBe(0);
    expect(check.stdout.toString()).toContain(`${releaseName("linux-arm64")}: OK`);
    // And it would catch a changed binary.
    const corrupt = built.sums.replace(/^[0-9a-f]/, (c) => (c === "0" ? "1" : "0"));
    const bad = Bun.spawnSync(["sha256sum", "-c", "-"], { cwd: out, stdin: new TextEncoder().encode(corrupt) });
    expect(bad.exitCode).not.toBe(0);
  });

  test("the musl binary runs under musl's loader and names the version, the commit and the build date", () => {
    if (!existsSync(MUSL_LOADER)) return void console.warn(`${MUSL_LOADER} missing (apt-get install musl): the musl binary was built, not run`);
    const bin = join(out, releaseName("linux-x64-musl"));
    // Bun's musl build links musl's libstdc++ and libgcc_s (Alpine's libstdc++ package); Debian ships musl's libc
    // alone. Where the loader cannot find them, the binary was built and linked as it should be, but cannot run here.
    const libs = Bun.spawnSync([MUSL_LOADER, "--list", bin]).stderr.toString();
    const missing = [...libs.matchAll(/Error loading shared library (\S+):/g)].map((m) => m[1]!);
    if (missing.length > 0) {
      expect(missing.every((l) => /^lib(stdc\+\+|gcc_s)\.so/.test(l))).toBe(true);
      return void console.warn(`musl's ${missing.join(" and ")} not installed (Alpine's libstdc++; Debian has none): the musl binary was built, not run`);
    }
    const v = Bun.spawnSync([bin, "--version"], { env: { PATH: "/usr/bin:/bin" } });
    expect(v.stderr.toString()).toBe("");
    expect(v.exitCode).toBe(0);
    expect(v.stdout.toString()).toStartWith(`${VERSION} (commit ${commit}`);
    const j = JSON.parse(Bun.spawnSync([bin, "version", "--json"]).stdout.toString());
    expect(j).toMatchObject({ version: VERSION, platform: "linux-x64" });
    expect(j.commit).toStartWith(commit);
    expect(Date.now() - Date.parse(j.buildDate)).toBeLessThan(3_600_000);
  });

  test("the arm64 binary starts under qemu, answers /healthz and carries a 1003 round trip", async () => {
    if (!QEMU || !existsSync(join(ARM64_SYSROOT, "lib/ld-linux-aarch64.so.1")))
      return void console.warn("qemu-user-static or libc6-arm64-cross missing: the arm64 binary was built, not run");
    const bin = join(out, releaseName("linux-arm64"));
    // The version, the commit and the build date baked in by the build.
    const v = Bun.spawnSync([QEMU, "-L", ARM64_SYSROOT, bin, "version", "--json"]);
    expect(v.exitCode).toBe(0);
    const j = JSON.parse(v.stdout.toString());
    expect(j).toMatchObject({ version: VERSION, platform: "linux-arm64" });
    expect(j.commit).toStartWith(commit);
    expect(Date.now() - Date.parse(j.buildDate)).toBeLessThan(3_600_000);
    expect(Bun.spawnSync([QEMU, "-L", ARM64_SYSROOT, bin, "--version"]).stdout.toString()).toStartWith(`${VERSION} (commit ${commit}`);
    const data = join(out, "arm64-data");
    const [ws, rpc, admin] = [await freePort(), await freePort(), await freePort()];
    const proc = Bun.spawn([QEMU, "-L", ARM64_SYSROOT, bin, "serve", "--host", "127.0.0.1", "--ws-port", String(ws), "--rpc-port", String(rpc),
      "--admin-port", String(admin), "--data-dir", data, "--secret", "arm64-secret", "--log-level", "warn"], {
      env: { PATH: "/usr/bin:/bin", IMGATE_CONFIG: "" }, stdout: "inherit", stderr: "inherit",
    });
    try {
      // Emulated, the first start takes a while (the JIT runs under qemu).
      await waitHttp(`http://127.0.0.1:${admin}/healthz`, 60_000);
      const c = await connect({ port: ws, userID: "arm", platformID: 5, token: signToken("arm64-secret", "arm", 5, 600), sdkType: "js", isMsgResp: true });
      const r = await c.request(1003, textMsg("arm", "arm", "from arm64"));
      expect(r.errCode).toBe(0);
      const echo = await c.nextPush(2001, 10_000);
      expect(echo.reqIdentifier).toBe(2001);
      c.close();
      proc.kill("SIGTERM");
      expect(await proc.exited).toBe(0);
    } finally {
      proc.kill("SIGKILL");
    }
  }, 180_000);
});
