// Regenerates src/gen from proto/ into a scratch directory and fails if the committed code differs, so the
// generated code in git can never drift from the .proto files.
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { tmpdir } from "node:os";

const out = mkdtempSync(join(tmpdir(), "imgate-gen-"));
const template = JSON.stringify({
  version: "v2",
  plugins: [{ local: "node_modules/.bin/protoc-gen-es", out, opt: ["target=ts", "import_extension=js"] }],
});
const gen = Bun.spawnSync(["node_modules/.bin/buf", "generate", "--template", template], { stdout: "inherit", stderr: "inherit" });
if (gen.exitCode !== 0) process.exit(gen.exitCode ?? 1);

const files = (dir: string): string[] =>
  readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? files(join(dir, f)) : [join(dir, f)]));
const want = new Map(files(out).map((f) => [relative(out, f), readFileSync(f, "utf8")]));
const have = new Map(files("src/gen").map((f) => [relative("src/gen", f), readFileSync(f, "utf8")]));
const problems: string[] = [];
for (const [f, text] of want) if (have.get(f) !== text) problems.push(have.has(f) ? `stale: src/gen/${f}` : `missing: src/gen/${f}`);
for (const f of have.keys()) if (!want.has(f)) problems.push(`extra: src/gen/${f}`);
rmSync(out, { recursive: true, force: true });
if (problems.length) {
  console.error(`generated code is out of date (run \`npm run gen\`):\n  ${problems.join("\n  ")}`);
  process.exit(1);
}
console.log(`src/gen matches proto/ (${want.size} files)`);
