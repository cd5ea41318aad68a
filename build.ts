// Builds the single executable dist/imgate with `bun build --compile`. The flags that matter are in
// shared/bun-notes.md: --bytecode needs ESM; the two --no-compile-autoload flags stop the binary from reading
// .env and bunfig.toml from the operator's working directory.
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";

const target = process.argv.includes("--musl") ? ["--target=bun-linux-x64-musl"] : [];
const outIdx = process.argv.indexOf("--outfile");
const outfile = outIdx > 0 ? process.argv[outIdx + 1]! : "dist/imgate";
mkdirSync(dirname(outfile), { recursive: true });
const args = [
  "build", "--compile", "--minify", "--bytecode", "--format=esm", "--sourcemap",
  "--no-compile-autoload-dotenv", "--no-compile-autoload-bunfig",
  ...target,
  // The store worker is an entrypoint of its own: workers are not followed by the bundler (store-client.ts).
  "src/cli.ts", "src/backend/embedded/store-worker.ts", "--outfile", outfile,
];
const p = Bun.spawnSync([process.execPath, ...args], { stdout: "inherit", stderr: "inherit" });
if (p.exitCode !== 0) process.exit(p.exitCode ?? 1);
const v = Bun.spawnSync([outfile, "--version"]);
if (v.exitCode !== 0) {
  console.error(`${outfile} --version failed:`, v.stderr.toString());
  process.exit(1);
}
console.log(`built ${outfile} ${v.stdout.toString().trim()} (${(Bun.file(outfile).size / 1e6).toFixed(0)} MB)`);
