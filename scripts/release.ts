// npm run release [-- --targets linux-x64,linux-arm64 --out DIR]: the release set in dist/release/, one binary per
// target named imgate-<version>-<target>, built with the same flags as `npm run build` (build.ts), and SHA256SUMS in
// sha256sum's format (`sha256sum -c SHA256SUMS` verifies them). Bun fetches each target's runtime through the npm
// registry the first time.
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { compile, gitCommit } from "../build.js";
import { VERSION } from "../src/version.js";

export const TARGETS = ["linux-x64", "linux-x64-musl", "linux-arm64", "linux-arm64-musl"] as const;

export function releaseName(target: string): string {
  return `imgate-${VERSION}-${target}`;
}

export function release(o: { targets?: readonly string[]; out?: string } = {}): { files: string[]; sums: string } {
  const out = o.out ?? join(import.meta.dir, "..", "dist", "release");
  const targets = o.targets ?? TARGETS;
  for (const t of targets) if (!(TARGETS as readonly string[]).includes(t)) throw new Error(`unknown target ${t} (one of ${TARGETS.join(", ")})`);
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  // One commit and one date for the whole set.
  const info = { commit: gitCommit(), date: new Date().toISOString() };
  const files = targets.map((t) => {
    const file = join(out, releaseName(t));
    console.log(`[release] ${basename(file)}`);
    compile({ outfile: file, target: `bun-${t}` }, info);
    return file;
  });
  // The source maps bun writes beside the binaries are not part of the set (the binaries carry their own).
  for (const f of readdirSync(out)) if (f.endsWith(".map")) rmSync(join(out, f));
  const sums = files.map((f) => `${createHash("sha256").update(readFileSync(f)).digest("hex")}  ${basename(f)}`).join("\n") + "\n";
  writeFileSync(join(out, "SHA256SUMS"), sums);
  return { files, sums };
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const opt = (name: string) => (args.indexOf(name) >= 0 ? args[args.indexOf(name) + 1] : undefined);
  try {
    const r = release({ targets: opt("--targets")?.split(","), out: opt("--out") });
    process.stdout.write(r.sums);
  } catch (e) {
    console.error(`release: ${(e as Error).message}`);
    process.exit(1);
  }
}
