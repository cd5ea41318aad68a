// npm run image [-- --tag imgate:VERSION --binary FILE --engine podman|docker]: the OCI image of deploy/container/
// Containerfile, built FROM scratch with podman or docker (whichever is present). The context is assembled here:
// the linux-x64 release binary (built unless --binary names one), exactly the shared libraries `ldd` says it loads,
// the CA bundle, /etc/passwd and /etc/group with the user imgate (10001), an empty /data and /tmp.
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { compile } from "../build.js";
import { VERSION } from "../src/version.js";

const ROOT = join(import.meta.dir, "..");
const CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt";

/** podman or docker, whichever is on PATH (podman first: it builds without a daemon). */
export function containerEngine(prefer?: string): string | undefined {
  for (const e of prefer ? [prefer] : ["podman", "docker"]) if (Bun.which(e)) return e;
  return undefined;
}

/** The files the dynamic loader maps for `binary`: each library's path and the interpreter, from ldd. */
export function sharedLibraries(binary: string): string[] {
  const r = Bun.spawnSync(["ldd", binary]);
  if (r.exitCode !== 0) throw new Error(`ldd ${binary}: ${r.stderr.toString().trim()}`);
  const out: string[] = [];
  for (const line of r.stdout.toString().split("\n")) {
    const m = line.match(/=>\s+(\/\S+)/) ?? line.match(/^\s*(\/\S+)\s+\(/);
    if (m) out.push(m[1]!);
  }
  return out;
}

/** The build context: rootfs/ (binary, libraries, CA bundle, passwd), data/ and tmp/, and the Containerfile. */
export function assembleContext(binary: string): string {
  const ctx = mkdtempSync(join(tmpdir(), "imgate-image-"));
  const rootfs = join(ctx, "rootfs");
  const put = (src: string, dst: string, mode?: number) => {
    mkdirSync(join(rootfs, dirname(dst)), { recursive: true });
    copyFileSync(src, join(rootfs, dst)); // follows symlinks: the library's content under the name the loader asks for
    if (mode !== undefined) chmodSync(join(rootfs, dst), mode);
  };
  put(binary, "/usr/local/bin/imgate", 0o755);
  for (const lib of sharedLibraries(binary)) put(lib, lib);
  if (existsSync(CA_BUNDLE)) put(CA_BUNDLE, CA_BUNDLE, 0o644);
  mkdirSync(join(rootfs, "etc"), { recursive: true });
  writeFileSync(join(rootfs, "etc/passwd"), "root:x:0:0:root:/root:/sbin/nologin\nimgate:x:10001:10001:imgate:/data:/sbin/nologin\n");
  writeFileSync(join(rootfs, "etc/group"), "root:x:0:\nimgate:x:10001:\n");
  mkdirSync(join(ctx, "data"), { mode: 0o700 });
  mkdirSync(join(ctx, "tmp"));
  chmodSync(join(ctx, "tmp"), 0o1777);
  copyFileSync(join(ROOT, "deploy/container/Containerfile"), join(ctx, "Containerfile"));
  return ctx;
}

export function buildImage(o: { tag?: string; binary?: string; engine?: string; env?: Record<string, string> } = {}): { tag: string; engine: string; bytes: number } {
  const engine = containerEngine(o.engine);
  if (!engine) throw new Error("neither podman nor docker is installed (apt-get install podman)");
  const tag = o.tag ?? `imgate:${VERSION}`;
  let binary = o.binary;
  if (!binary) {
    binary = join(ROOT, "dist", "image", `imgate-${VERSION}-linux-x64`);
    compile({ outfile: binary, target: "bun-linux-x64" });
  }
  const ctx = assembleContext(binary);
  try {
    const r = Bun.spawnSync([engine, "build", "--tag", tag, "--file", join(ctx, "Containerfile"), ctx], {
      stdout: "inherit", stderr: "inherit", env: { ...process.env, ...o.env },
    });
    if (r.exitCode !== 0) throw new Error(`${engine} build failed (exit ${r.exitCode})`);
  } finally {
    rmSync(ctx, { recursive: true, force: true });
  }
  const size = Bun.spawnSync([engine, "image", "inspect", tag, "--format", "{{.Size}}"], { env: { ...process.env, ...o.env } });
  return { tag, engine, bytes: Number(size.stdout.toString().trim()) || 0 };
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const opt = (name: string) => (args.indexOf(name) >= 0 ? args[args.indexOf(name) + 1] : undefined);
  try {
    const r = buildImage({ tag: opt("--tag"), binary: opt("--binary"), engine: opt("--engine") });
    console.log(`built ${r.tag} with ${r.engine}: ${(r.bytes / 1e6).toFixed(0)} MB`);
  } catch (e) {
    console.error(`image: ${(e as Error).message}`);
    process.exit(1);
  }
}
