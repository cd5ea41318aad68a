// Builds the single executable dist/imgate with `bun build --compile` (npm run build), and exports compile() for
// the release set (scripts/release.ts). The flags that matter are in shared/bun-notes.md: --bytecode needs ESM; the
// two --no-compile-autoload flags stop the binary from reading .env and bunfig.toml from the operator's working
// directory. The git commit and the build date are baked in (`imgate version`).
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";

export interface CompileOptions {
  outfile: string;
  /** A Bun target (bun-linux-arm64, bun-linux-x64-musl, …); default: this machine. */
  target?: string;
}

/** The commit of the checkout being built ("unknown" outside git), with "-dirty" when it has uncommitted changes. */
export function gitCommit(): string {
  const rev = Bun.spawnSync(["git", "rev-parse", "--short=12", "HEAD"], { stderr: "ignore" });
  if (rev.exitCode !== 0) return "unknown";
  const dirty = Bun.spawnSync(["git", "status", "--porcelain", "--untracked-files=no"], { stderr: "ignore" }).stdout.toString().trim() !== "";
  return rev.stdout.toString().trim() + (dirty ? "-dirty" : "");
}

export function compile(o: CompileOptions, info = { commit: gitCommit(), date: new Date().toISOString() }): void {
  mkdirSync(dirname(o.outfile), { recursive: true });
  const args = [
    "build", "--compile", "--minify", "--bytecode", "--format=esm", "--sourcemap",
    "--no-compile-autoload-dotenv", "--no-compile-autoload-bunfig",
    `--define=IMGATE_COMMIT=${JSON.stringify(info.commit)}`, `--define=IMGATE_BUILD_DATE=${JSON.stringify(info.date)}`,
    ...(o.target ? [`--target=${o.target}`] : []),
    // The store worker is an entrypoint of its own: workers are not followed by the bundler (store-client.ts).
    "src/cli.ts", "src/backend/embedded/store-worker.ts", "--outfile", o.outfile,
  ];
  const p = Bun.spawnSync([process.execPath, ...args], { cwd: import.meta.dir, stdout: "inherit", stderr: "inherit" });
  if (p.exitCode !== 0) throw new Error(`bun build --compile${o.target ? ` --target=${o.target}` : ""} failed (exit ${p.exitCode})`);
}

if (import.meta.main) {
  const target = process.argv.includes("--musl") ? "bun-linux-x64-musl" : undefined;
  const outIdx = process.argv.indexOf("--outfile");
  const outfile = outIdx > 0 ? process.argv[outIdx + 1]! : "dist/imgate";
  try {
    compile({ outfile, target });
  } catch (e) {
    console.error((e as Error).message);
    process.exit(1);
  }
  const v = Bun.spawnSync([outfile, "--version"]);
  if (v.exitCode !== 0) {
    console.error(`${outfile} --version failed:`, v.stderr.toString());
    process.exit(1);
  }
  console.log(`built ${outfile}: ${v.stdout.toString().trim()} (${(Bun.file(outfile).size / 1e6).toFixed(0)} MB)`);
}
